import { useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, ApiError, unwrap } from '../api/client'
import { Failure, Field, PRIMARY, Section } from '../components/Form'

const when = (ms: number) => new Date(ms).toLocaleString()

/**
 * A status page's subscribers, for admins and owners: who is told of its
 * incidents and maintenance (visitors subscribe on the public page), added
 * here confirmed at once, and removed.
 */
export function Subscribers({ pageId }: { pageId: string }) {
  const client = useQueryClient()
  const key = ['status-page-subscribers', pageId]
  const path = { params: { path: { id: pageId } } }
  const list = useQuery({ queryKey: key, queryFn: async () => unwrap(await api.GET('/api/v1/status-pages/{id}/subscribers', path)) })
  const [kind, setKind] = useState<'email' | 'webhook'>('email')
  const [address, setAddress] = useState('')
  const [secret, setSecret] = useState<string | null>(null)
  const add = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST('/api/v1/status-pages/{id}/subscribers', { ...path, body: { kind, address, section_ids: [] } })),
    onSuccess: async (added) => {
      setAddress('')
      setSecret(added.signing_secret ?? null)
      await client.invalidateQueries({ queryKey: key })
    },
  })
  const remove = useMutation({
    mutationFn: async (subscriber: string) => {
      const answer = await api.DELETE('/api/v1/status-pages/{id}/subscribers/{subscriber_id}', {
        params: { path: { id: pageId, subscriber_id: subscriber } },
      })
      if (!answer.response.ok) unwrap(answer)
    },
    onSuccess: async () => client.invalidateQueries({ queryKey: key }),
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    setSecret(null)
    add.mutate()
  }
  const fieldError = add.error instanceof ApiError && add.error.field === 'address' ? add.error.message : undefined
  const subscribers = list.data ?? []
  return (
    <div className="max-w-3xl" data-testid="subscribers">
      <Section title="Subscribers">
        <p className="text-sm text-slate-600">
          Told by e-mail or webhook of this page’s incidents, people’s updates, resolutions and scheduled maintenance. Visitors subscribe on the public page (e-mail
          after confirming); those added here are confirmed at once.
        </p>
        {list.isPending && <p className="text-sm text-slate-500">Loading…</p>}
        <Failure error={list.error} />
        {list.isSuccess && subscribers.length === 0 && <p className="text-sm text-slate-500">Nobody subscribed yet.</p>}
        {subscribers.length > 0 && (
          <ul className="divide-y divide-slate-100 text-sm">
            {subscribers.map((s) => (
              <li key={s.id} className="flex flex-wrap items-center gap-3 py-2" data-testid="subscriber">
                <span className="font-medium break-all">{s.address}</span>
                <span className="text-slate-500">{s.kind}</span>
                <span className={s.confirmed ? 'text-emerald-700' : 'text-amber-700'}>{s.confirmed ? 'confirmed' : 'waiting for confirmation'}</span>
                {s.section_ids && <span className="text-slate-500">{s.section_ids.length === 1 ? '1 section' : `${s.section_ids.length} sections`}</span>}
                <span className="ml-auto text-xs text-slate-500">
                  {s.added_by === 'admin' ? 'added' : 'subscribed'} {when(s.created_at_ms)}
                </span>
                <button
                  type="button"
                  className="rounded border border-red-300 px-2 py-1 text-xs text-red-700 hover:bg-red-50"
                  disabled={remove.isPending}
                  onClick={() => window.confirm(`Remove ${s.address}? Nothing more is sent to it.`) && remove.mutate(s.id)}
                >
                  Remove
                </button>
              </li>
            ))}
          </ul>
        )}
        <Failure error={remove.error} />
        <form onSubmit={submit} className="flex flex-wrap items-end gap-3" noValidate>
          <label className="block text-sm">
            <span className="font-medium text-slate-700">Kind</span>
            <select className="mt-1 block rounded border border-slate-300 bg-white px-2 py-2" value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
              <option value="email">e-mail</option>
              <option value="webhook">webhook</option>
            </select>
          </label>
          <div className="min-w-64 flex-1">
            <Field label={kind === 'email' ? 'E-mail address' : 'Webhook URL'} value={address} onChange={setAddress} error={fieldError} />
          </div>
          <button type="submit" className={PRIMARY} disabled={add.isPending}>
            Add subscriber
          </button>
        </form>
        {!fieldError && <Failure error={add.error} />}
        {secret && (
          <p className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900" data-testid="subscriber-secret">
            The webhook’s signing secret, shown once: <code className="break-all">{secret}</code>
          </p>
        )}
      </Section>
    </div>
  )
}
