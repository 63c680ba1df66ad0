import { useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useOutletContext, useParams } from 'react-router'
import { api, ApiError, unwrap, type Me } from '../api/client'
import { mayEdit } from '../session'
import { Failure, PRIMARY } from '../components/Form'

type Show = 'open' | 'resolved' | 'all'

const when = (ms: number) => new Date(ms).toLocaleString()

/** Every incident of the team, open first, filterable. */
export function Incidents() {
  const [show, setShow] = useState<Show>('open')
  const incidents = useQuery({
    queryKey: ['incidents', { show }],
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/incidents', { params: { query: show === 'all' ? { limit: 200 } : { open: show === 'open', limit: 200 } } })),
    refetchInterval: 30_000,
  })
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="mr-auto text-2xl font-semibold">Incidents</h1>
        {(['open', 'resolved', 'all'] as const).map((s) => (
          <button
            key={s}
            type="button"
            onClick={() => setShow(s)}
            className={`rounded px-3 py-1 text-sm ${show === s ? 'bg-teal-700 text-white' : 'border border-slate-300'}`}
          >
            {s[0]?.toUpperCase()}
            {s.slice(1)}
          </button>
        ))}
      </div>
      <Failure error={incidents.error} />
      {incidents.data?.length === 0 && <p className="text-slate-500">No {show === 'all' ? '' : `${show} `}incidents.</p>}
      <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white">
        {incidents.data?.map((incident) => (
          <li key={incident.id} data-testid="incident-row">
            <Link to={`/incidents/${incident.id}`} className="flex flex-wrap items-baseline gap-3 px-4 py-3 hover:bg-slate-50">
              <span className={incident.resolved_at_ms ? 'text-sm text-slate-500' : 'text-sm font-semibold text-red-700'}>
                {incident.resolved_at_ms ? 'Resolved' : 'Open'}
              </span>
              <span className="font-medium">{incident.monitor_name}</span>
              <span className="text-sm text-slate-600">{incident.cause}</span>
              <span className="ml-auto text-xs text-slate-500">
                {when(incident.started_at_ms)}
                {incident.resolved_at_ms ? ` – ${when(incident.resolved_at_ms)}` : ''} · {incident.affected_regions.join(', ')}
              </span>
            </Link>
          </li>
        ))}
      </ul>
    </div>
  )
}

const STATUSES = ['investigating', 'identified', 'monitoring', 'resolved'] as const

/** One incident: its regions' evidence, its timeline, and a form to post an update. */
export function IncidentDetail() {
  const { id = '' } = useParams()
  const me = useOutletContext<Me>()
  const client = useQueryClient()
  const incident = useQuery({
    queryKey: ['incident', id],
    queryFn: async () => unwrap(await api.GET('/api/v1/incidents/{id}', { params: { path: { id } } })),
    refetchInterval: 30_000,
  })
  const [status, setStatus] = useState<(typeof STATUSES)[number]>('investigating')
  const [message, setMessage] = useState('')
  const [notify, setNotify] = useState(true)
  const ack = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/incidents/{id}/ack', { params: { path: { id } } })),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ['incident', id] })
    },
  })
  const post = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST('/api/v1/incidents/{id}/updates', { params: { path: { id } }, body: { status, message, notify } })),
    // The answer is the timeline; the incident is read again with it.
    onSuccess: async () => {
      setMessage('')
      await client.invalidateQueries({ queryKey: ['incident', id] })
      await client.invalidateQueries({ queryKey: ['incidents'] })
    },
  })
  if (incident.isPending) return <p className="text-slate-500">Loading…</p>
  if (incident.isError) return <Failure error={incident.error} />
  const i = incident.data
  const submit = (event: FormEvent) => {
    event.preventDefault()
    post.mutate()
  }
  const fieldError = post.error instanceof ApiError && post.error.field === 'message' ? post.error.message : undefined
  return (
    <div className="max-w-4xl space-y-6">
      <Link to="/incidents" className="text-sm text-teal-700">
        ← Incidents
      </Link>
      <div>
        <h1 className="text-2xl font-semibold">
          <Link to={`/monitors/${i.monitor_id}`} className="hover:underline">
            {i.monitor_name}
          </Link>
          : {i.resolved_at_ms ? 'resolved' : 'down'}
        </h1>
        <p className="text-sm text-slate-600">
          {i.cause} · since {when(i.started_at_ms)}
          {i.resolved_at_ms ? `, resolved ${when(i.resolved_at_ms)}` : ''}
          {i.acknowledged_at_ms ? ` · acknowledged by ${i.acknowledged_by ?? 'a former member'} ${when(i.acknowledged_at_ms)}` : ''}
        </p>
        {mayEdit(me.role) && !i.resolved_at_ms && !i.acknowledged_at_ms && (
          <button type="button" className={`${PRIMARY} mt-2`} disabled={ack.isPending} onClick={() => ack.mutate()}>
            Acknowledge
          </button>
        )}
        <Failure error={ack.error} />
      </div>
      <section>
        <h2 className="mb-2 text-lg font-semibold">Regions</h2>
        <table className="w-full rounded-lg border border-slate-200 bg-white text-left text-sm" data-testid="region-evidence">
          <thead className="bg-slate-50 text-xs uppercase text-slate-500">
            <tr>
              <th className="px-3 py-2">Region</th>
              <th className="px-3 py-2">Outage</th>
              <th className="px-3 py-2 text-right">Failing checks</th>
              <th className="px-3 py-2">Last error</th>
            </tr>
          </thead>
          <tbody>
            {i.regions.map((r) => (
              <tr key={`${r.region}-${r.started_at_ms}`} className="border-t border-slate-100">
                <td className="px-3 py-2 font-medium">{r.region}</td>
                <td className="px-3 py-2">
                  {when(r.started_at_ms)} – {r.resolved_at_ms ? when(r.resolved_at_ms) : 'ongoing'}
                </td>
                <td className="px-3 py-2 text-right tabular-nums">{r.failing_strikes}</td>
                <td className="px-3 py-2 text-slate-600">{r.last_error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section>
        <h2 className="mb-2 text-lg font-semibold">Notifications</h2>
        {i.notifications.length === 0 ? (
          <p className="text-sm text-slate-500">No channel was notified.</p>
        ) : (
          <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white text-sm" data-testid="incident-notifications">
            {i.notifications.map((n) => (
              <li key={n.id} className="flex flex-wrap gap-3 px-3 py-2">
                <Link to={`/channels/${n.channel_id}`} className="font-medium text-teal-700">
                  {n.channel_name}
                </Link>
                <span className={n.status === 'delivered' ? 'text-emerald-700' : n.status === 'failed' ? 'text-red-700' : 'text-slate-600'}>
                  {n.status}
                </span>
                {n.event && <span className="text-slate-500">{n.event}</span>}
                {n.last_error && <span className="text-red-700">{n.last_error}</span>}
                {n.reason && <span className="text-slate-500">{n.reason}</span>}
                <span className="ml-auto text-xs text-slate-500">
                  {when(n.delivered_at_ms ?? n.created_at_ms)} · {n.attempts} attempt{n.attempts === 1 ? '' : 's'}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section>
        <h2 className="mb-2 text-lg font-semibold">Timeline</h2>
        <ol className="space-y-2 border-l-2 border-slate-200 pl-4">
          {i.updates.map((u, index) => (
            <li key={`${u.at_ms}-${index}`} className="text-sm" data-testid="incident-update">
              <span className="font-medium">{u.kind === 'acknowledged' ? 'acknowledged' : u.status}</span>{' '}
              <span className="text-slate-500">{when(u.at_ms)}</span>
              {!u.notify && <span className="ml-1 text-xs text-slate-400">(status pages only)</span>}
              {u.source !== 'evaluator' && <span className="ml-1 text-xs text-slate-400">({u.source})</span>}
              <p className="text-slate-700">{u.message}</p>
            </li>
          ))}
        </ol>
      </section>
      {mayEdit(me.role) && (
        <form onSubmit={submit} className="space-y-3 rounded-lg border border-slate-200 bg-white p-4">
          <h2 className="text-lg font-semibold">Post an update</h2>
          <label className="block text-sm">
            <span className="font-medium text-slate-700">Status</span>
            <select className="mt-1 block rounded border border-slate-300 bg-white px-2 py-2" value={status} onChange={(e) => setStatus(e.target.value as typeof status)}>
              {STATUSES.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
          <label className="block text-sm">
            <span className="font-medium text-slate-700">Message</span>
            <textarea
              className={`mt-1 block w-full rounded border px-3 py-2 ${fieldError ? 'border-red-500' : 'border-slate-300'}`}
              rows={3}
              value={message}
              onChange={(e) => setMessage(e.target.value)}
            />
            {fieldError && <span className="mt-1 block text-red-700">{fieldError}</span>}
          </label>
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" checked={notify} onChange={(e) => setNotify(e.target.checked)} />
            <span>Notify the monitor's channels and page subscribers (unticked: shown on public pages only)</span>
          </label>
          <Failure error={fieldError ? null : post.error} />
          <button type="submit" className={PRIMARY} disabled={post.isPending}>
            Post update
          </button>
        </form>
      )}
    </div>
  )
}
