import { useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useOutletContext } from 'react-router'
import { api, ApiError, unwrap, type Me, type Role, type Schemas } from '../api/client'
import { Choice, Failure, Field, PRIMARY, Section } from '../components/Form'
import { mayAdminister } from '../session'
import { ago, curlExample, expiresInDays, expiry as expiryText, EXPIRY_CHOICES, grantable, type ExpiryChoice } from '../team'
import { CopyText } from '../components/CopyText'

/** The team's API tokens: for programs, each with a role and an expiry. */
export function Tokens() {
  const me = useOutletContext<Me>()
  const admin = mayAdminister(me.role)
  const client = useQueryClient()
  const tokens = useQuery({ queryKey: ['tokens'], queryFn: async () => unwrap(await api.GET('/api/v1/tokens')), enabled: admin })
  const revoke = useMutation({
    mutationFn: async (id: string) => {
      const answer = await api.DELETE('/api/v1/tokens/{id}', { params: { path: { id } } })
      if (!answer.response.ok) unwrap(answer)
    },
    onSettled: () => client.invalidateQueries({ queryKey: ['tokens'] }),
  })
  const now = Date.now()
  if (!admin) {
    return (
      <div className="max-w-4xl space-y-4">
        <h1 className="text-2xl font-semibold">API tokens</h1>
        <p className="rounded bg-slate-100 px-3 py-2 text-sm text-slate-700">Only owners and admins see and make the team's API tokens.</p>
      </div>
    )
  }
  return (
    <div className="max-w-4xl space-y-6">
      <h1 className="text-2xl font-semibold">API tokens</h1>
      <p className="text-sm text-slate-600">For programs calling the API: each acts with its role (never more than its creator's current one) until it expires or is revoked.</p>
      <NewToken role={me.role} />
      <Failure error={tokens.error ?? revoke.error} />
      {tokens.data?.length === 0 && <p className="text-sm text-slate-500">No tokens yet.</p>}
      <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white text-sm" aria-label="Tokens">
        {tokens.data?.map((token) => (
          <li key={token.id} className="flex items-center gap-3 px-4 py-3" data-testid="token-row">
            <div className="min-w-0 flex-1 space-y-1">
              <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
                <span className="font-medium">{token.name}</span>
                <span className="font-mono text-xs text-slate-500">{token.prefix}…</span>
                <span className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600">{token.role}</span>
              </div>
              <p className="text-slate-500">
                made {ago(token.created_at_ms, now)}
                {token.created_by_email ? ` by ${token.created_by_email}` : ''} · last used {ago(token.last_used_at_ms, now)} ·{' '}
                <span className={token.expires_at_ms !== null && token.expires_at_ms !== undefined && token.expires_at_ms <= now ? 'text-red-700' : ''}>
                  {expiryText(token.expires_at_ms, now)}
                </span>
              </p>
            </div>
            <button
              type="button"
              className="shrink-0 rounded border border-red-300 px-2 py-1 text-xs text-red-700 hover:bg-red-50"
              onClick={() => window.confirm(`Revoke the token ${token.name}? Programs using it stop at once.`) && revoke.mutate(token.id)}
            >
              Revoke
            </button>
          </li>
        ))}
      </ul>
    </div>
  )
}

function NewToken({ role: acting }: { role: Role }) {
  const client = useQueryClient()
  const [name, setName] = useState('')
  const [role, setRole] = useState<Role>('viewer')
  const [expiry, setExpiry] = useState<ExpiryChoice>('90 days')
  const [made, setMade] = useState<Schemas['Token'] | null>(null)
  const create = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST('/api/v1/tokens', { body: { name: name.trim(), role, expires_in_days: expiresInDays(expiry) } })),
    onMutate: () => setMade(null),
    onSuccess: async (token) => {
      setMade(token)
      setName('')
      await client.invalidateQueries({ queryKey: ['tokens'] })
    },
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    create.mutate()
  }
  const nameError = create.error instanceof ApiError && create.error.field === 'name' ? create.error.message : undefined
  return (
    <form onSubmit={submit} noValidate>
      <Section title="New token">
        <div className="grid items-end gap-4 sm:grid-cols-[1fr_auto_auto_auto]">
          <Field label="Name" value={name} onChange={setName} placeholder="CI deploy checks" error={nameError} />
          <Choice label="Role" value={role} options={grantable(acting)} onChange={setRole} />
          <Choice label="Expires after" value={expiry} options={EXPIRY_CHOICES} onChange={setExpiry} />
          <button type="submit" className={PRIMARY} disabled={create.isPending}>
            Create token
          </button>
        </div>
        {!nameError && <Failure error={create.error} />}
        {made?.token && (
          <div className="space-y-2 rounded bg-teal-50 px-3 py-3 text-sm" role="status">
            <p>The token {made.name}: copy it now, it is not shown again.</p>
            <CopyText label="New token" text={made.token} />
            <pre className="overflow-x-auto rounded bg-slate-900 p-2 text-xs text-slate-100">{curlExample(window.location.origin, made.token)}</pre>
          </div>
        )}
      </Section>
    </form>
  )
}
