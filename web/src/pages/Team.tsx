import { useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useOutletContext } from 'react-router'
import { api, ApiError, unwrap, type Me, type Role, type Schemas } from '../api/client'
import { CopyText } from '../components/CopyText'
import { Choice, Failure, Field, PRIMARY, Section } from '../components/Form'
import { mayAdminister } from '../session'
import { ago, expiry, grantable, mayChangeRole, ROLE_HELP, soleOwner } from '../team'

/** The team's people: members and their roles, and open invitations. */
export function Team() {
  const me = useOutletContext<Me>()
  const admin = mayAdminister(me.role)
  const client = useQueryClient()
  const members = useQuery({ queryKey: ['members'], queryFn: async () => unwrap(await api.GET('/api/v1/members')) })
  const invitations = useQuery({
    queryKey: ['invitations'],
    queryFn: async () => unwrap(await api.GET('/api/v1/invitations')),
    enabled: admin,
  })
  const changeRole = useMutation({
    mutationFn: async ({ id, role }: { id: string; role: Role }) =>
      unwrap(await api.PUT('/api/v1/members/{id}', { params: { path: { id } }, body: { role } })),
    onSettled: () => client.invalidateQueries({ queryKey: ['members'] }),
  })
  const remove = useMutation({
    mutationFn: async (id: string) => {
      const answer = await api.DELETE('/api/v1/members/{id}', { params: { path: { id } } })
      if (!answer.response.ok) unwrap(answer)
    },
    onSettled: () => client.invalidateQueries({ queryKey: ['members'] }),
  })
  const revoke = useMutation({
    mutationFn: async (id: string) => {
      const answer = await api.DELETE('/api/v1/invitations/{id}', { params: { path: { id } } })
      if (!answer.response.ok) unwrap(answer)
    },
    onSettled: () => client.invalidateQueries({ queryKey: ['invitations'] }),
  })
  const now = Date.now()

  return (
    <div className="max-w-4xl space-y-6">
      <h1 className="text-2xl font-semibold">Team {me.team.name}</h1>
      {!admin && <p className="rounded bg-slate-100 px-3 py-2 text-sm text-slate-700">Only owners and admins invite people and change roles.</p>}
      <Failure error={members.error ?? changeRole.error ?? remove.error} />
      <section aria-labelledby="members">
        <h2 id="members" className="mb-2 text-lg font-semibold">
          Members
        </h2>
        <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white text-sm" aria-label="Members">
          {members.data?.map((member, _, all) => {
            const you = member.user_id === me.user_id
            const only = soleOwner(all, member)
            const editable = admin && mayChangeRole(me.role, member.role) && !only
            return (
              <li key={member.user_id} className="flex flex-wrap items-center gap-3 px-4 py-3" data-testid="member-row">
                <span className="font-medium">{member.name || member.email}</span>
                {member.name && <span className="text-slate-500">{member.email}</span>}
                {you && <span className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600">you</span>}
                <span className="ml-auto" />
                {editable ? (
                  <label className="flex items-center gap-2">
                    <span className="sr-only">Role of {member.email}</span>
                    <select
                      aria-label={`Role of ${member.email}`}
                      className="rounded border border-slate-300 bg-white px-2 py-1"
                      value={changeRole.isPending && changeRole.variables.id === member.user_id ? changeRole.variables.role : member.role}
                      disabled={changeRole.isPending}
                      onChange={(event) => changeRole.mutate({ id: member.user_id, role: event.target.value as Role })}
                    >
                      {grantable(me.role).concat(grantable(me.role).includes(member.role) ? [] : [member.role]).map((role) => (
                        <option key={role} value={role}>
                          {role}
                        </option>
                      ))}
                    </select>
                  </label>
                ) : (
                  <span
                    className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600"
                    data-testid="member-role"
                    title={only ? 'The only owner: make someone else an owner before changing this one' : undefined}
                  >
                    {member.role}
                    {only ? ' (the only one)' : ''}
                  </span>
                )}
                {editable && !you && (
                  <button
                    type="button"
                    className="rounded border border-red-300 px-2 py-1 text-xs text-red-700 hover:bg-red-50"
                    onClick={() => window.confirm(`Remove ${member.email} from the team? Their API tokens stop working.`) && remove.mutate(member.user_id)}
                  >
                    Remove
                  </button>
                )}
              </li>
            )
          })}
        </ul>
      </section>

      {admin && (
        <>
          <Invite role={me.role} />
          <section aria-labelledby="invitations">
            <h2 id="invitations" className="mb-2 text-lg font-semibold">
              Invitations
            </h2>
            <Failure error={invitations.error ?? revoke.error} />
            {invitations.data?.length === 0 && <p className="text-sm text-slate-500">No open invitations.</p>}
            <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white text-sm" aria-label="Invitations">
              {invitations.data?.map((invitation) => (
                <li key={invitation.id} className="flex items-center gap-3 px-4 py-3" data-testid="invitation-row">
                  <div className="flex min-w-0 flex-1 flex-wrap items-center gap-x-3 gap-y-1">
                    <span className="font-medium">{invitation.email}</span>
                    <span className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600">{invitation.role}</span>
                    <span className="text-slate-500">
                      {invitation.invited_by_email ? `by ${invitation.invited_by_email}, ` : ''}
                      {ago(invitation.created_at_ms, now)}
                    </span>
                    <span className={`text-xs ${invitation.expired ? 'text-red-700' : 'text-slate-500'}`}>{expiry(invitation.expires_at_ms, now)}</span>
                  </div>
                  <button
                    type="button"
                    className="shrink-0 rounded border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100"
                    onClick={() => window.confirm(`Revoke the invitation of ${invitation.email}?`) && revoke.mutate(invitation.id)}
                  >
                    Revoke
                  </button>
                </li>
              ))}
            </ul>
          </section>
        </>
      )}
    </div>
  )
}

/** The invite form; the one-time link is shown once, to pass on. */
function Invite({ role: acting }: { role: Role }) {
  const client = useQueryClient()
  const roles = grantable(acting)
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<Role>('member')
  const [made, setMade] = useState<Schemas['Invitation'] | null>(null)
  const invite = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/invitations', { body: { email: email.trim(), role } })),
    onMutate: () => setMade(null),
    onSuccess: async (invitation) => {
      setMade(invitation)
      setEmail('')
      await client.invalidateQueries({ queryKey: ['invitations'] })
    },
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    invite.mutate()
  }
  const fieldError = invite.error instanceof ApiError && invite.error.field === 'email' ? invite.error.message : undefined
  return (
    <form onSubmit={submit} noValidate>
      <Section title="Invite someone">
        <div className="grid items-end gap-4 sm:grid-cols-[1fr_auto_auto]">
          <Field label="E-mail" type="email" value={email} onChange={setEmail} error={fieldError} />
          <Choice label="Role" value={role} options={roles} onChange={setRole} />
          <button type="submit" className={PRIMARY} disabled={invite.isPending}>
            Invite
          </button>
        </div>
        <p className="text-xs text-slate-500">
          {role}: {ROLE_HELP[role]}.
        </p>
        {!fieldError && <Failure error={invite.error} />}
        {made?.link && (
          <div className="space-y-2 rounded bg-teal-50 px-3 py-3 text-sm" role="status">
            <p>
              {made.emailed ? `Mailed to ${made.email}. ` : ''}Pass this link on to {made.email}; it is shown only now, and works once, for 7 days:
            </p>
            <CopyText label="Invitation link" text={made.link} />
          </div>
        )}
      </Section>
    </form>
  )
}
