import { useMemo, useState } from 'react'
import { useInfiniteQuery, useMutation, useQuery, useQueryClient, type UseQueryResult } from '@tanstack/react-query'
import { Link, useNavigate, useOutletContext, useParams } from 'react-router'
import { api, unwrap, type Me, type Monitor, type Schemas } from '../api/client'
import { CopyText } from '../components/CopyText'
import { LatencyChart } from '../components/LatencyChart'
import { formatPercent, STATUS_DOT, STATUS_LABEL, statusOf } from '../monitors'
import { monitorsChanged } from '../overview'
import { latencyColumns, RANGES, rangeQuery, type RangeName } from '../ranges'
import { mayEdit } from '../session'
import { Check, Failure } from '../components/Form'
import { KIND_LABEL, isKind } from '../channels'

export function MonitorDetail() {
  const { id = '' } = useParams()
  const me = useOutletContext<Me>()
  const path = { params: { path: { id } } }
  const monitor = useQuery({
    queryKey: ['monitor', id],
    queryFn: async () => unwrap(await api.GET('/api/v1/monitors/{id}', path)),
  })
  const uptime = useQuery({
    queryKey: ['uptime', id],
    queryFn: async () => unwrap(await api.GET('/api/v1/monitors/{id}/uptime', { params: { path: { id } } })),
  })
  const incidents = useQuery({
    queryKey: ['incidents', { monitor: id }],
    queryFn: async () => unwrap(await api.GET('/api/v1/incidents', { params: { query: { monitor_id: id, limit: 20 } } })),
  })
  if (monitor.isPending) return <p className="text-slate-500">Loading…</p>
  if (monitor.isError) return <Failure error={monitor.error} />
  const m = monitor.data
  const open = incidents.data?.find((incident) => !incident.resolved_at_ms)
  return (
    <div className="space-y-6">
      <Header
        monitor={m}
        editable={mayEdit(me.role)}
        hasData={(uptime.data?.windows ?? []).some((w) => w.checks.total > 0)}
      />
      {open && (
        <div className="rounded-lg border border-red-200 bg-red-50 p-4 text-sm" data-testid="current-incident">
          <Link to={`/incidents/${open.id}`} className="font-semibold text-red-800 underline">
            Incident open
          </Link>{' '}
          since {new Date(open.started_at_ms).toLocaleString()}: {open.cause}
        </div>
      )}
      <UptimeWindows uptime={uptime} />
      {m.spec.kind === 'heartbeat' ? <RunDurations id={id} /> : <Latency id={id} regions={m.regions} />}
      <DailyBars id={id} />
      {m.spec.kind === 'heartbeat' && <Heartbeat monitor={m} editable={mayEdit(me.role)} />}
      <Results id={id} />
      <Notifications monitor={m} editable={mayEdit(me.role)} />
      <section>
        <h2 className="mb-2 text-lg font-semibold">Incidents</h2>
        <Failure error={incidents.error} />
        {incidents.data?.length === 0 && <p className="text-sm text-slate-500">None so far.</p>}
        <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white text-sm">
          {incidents.data?.map((incident) => (
            <li key={incident.id}>
              <Link to={`/incidents/${incident.id}`} className="flex flex-wrap gap-3 px-4 py-2 hover:bg-slate-50">
              <span className={incident.resolved_at_ms ? 'text-slate-500' : 'font-medium text-red-700'}>
                {incident.resolved_at_ms ? 'Resolved' : 'Open'}
              </span>
              <span>{new Date(incident.started_at_ms).toLocaleString()}</span>
              <span className="text-slate-600">{incident.cause}</span>
              <span className="text-slate-400">{incident.affected_regions.join(', ')}</span>
              </Link>
            </li>
          ))}
        </ul>
      </section>
    </div>
  )
}

function Header({ monitor, editable, hasData }: { monitor: Monitor; editable: boolean; hasData: boolean }) {
  const client = useQueryClient()
  const navigate = useNavigate()
  const path = { params: { path: { id: monitor.id } } }
  const toggle = useMutation({
    mutationFn: async () =>
      unwrap(monitor.paused ? await api.POST('/api/v1/monitors/{id}/resume', path) : await api.POST('/api/v1/monitors/{id}/pause', path)),
    onSuccess: () => Promise.all([client.invalidateQueries({ queryKey: ['monitor', monitor.id] }), monitorsChanged(client)]),
  })
  const remove = useMutation({
    mutationFn: async () => {
      const answer = await api.DELETE('/api/v1/monitors/{id}', path)
      if (!answer.response.ok) unwrap(answer)
    },
    onSuccess: async () => {
      await monitorsChanged(client)
      navigate('/')
    },
  })
  const status = statusOf(monitor, hasData)
  return (
    <div className="space-y-2">
      <Link to="/" className="text-sm text-teal-700">
        ← Monitors
      </Link>
      <div className="flex flex-wrap items-center gap-3">
        <span className={`h-3 w-3 rounded-full ${STATUS_DOT[status]}`} />
        <h1 className="text-2xl font-semibold">{monitor.name}</h1>
        <span className="text-sm text-slate-600" data-testid="detail-status">
          {STATUS_LABEL[status]}
        </span>
        {editable && (
          <div className="ml-auto flex gap-2">
            <Link to={`/monitors/${monitor.id}/edit`} className="rounded border border-slate-300 px-3 py-1.5 text-sm">
              Edit
            </Link>
            <button type="button" className="rounded border border-slate-300 px-3 py-1.5 text-sm" onClick={() => toggle.mutate()}>
              {monitor.paused ? 'Resume' : 'Pause'}
            </button>
            <button
              type="button"
              className="rounded border border-red-300 px-3 py-1.5 text-sm text-red-700"
              onClick={() => window.confirm(`Delete ${monitor.name}? Its results stay in the history.`) && remove.mutate()}
            >
              Delete
            </button>
          </div>
        )}
      </div>
      <p className="text-sm text-slate-600">
        {monitor.spec.kind === 'heartbeat'
          ? `heartbeat · ${monitor.target} · ${Math.round(monitor.spec.grace_ms / 1000)} s of grace`
          : `${monitor.spec.kind} · ${monitor.target} · every ${monitor.interval_ms / 1000} s from ${monitor.regions.join(', ')}`}
      </p>
      <Failure error={toggle.error ?? remove.error} />
    </div>
  )
}

function UptimeWindows({ uptime }: { uptime: UseQueryResult<Schemas['Uptime']> }) {
  return (
    <section className="grid grid-cols-2 gap-3 sm:grid-cols-4" aria-label="Uptime">
      <Failure error={uptime.error} />
      {uptime.data?.windows.map((w) => (
        <div key={w.window} className="rounded-lg border border-slate-200 bg-white p-4">
          <div className="text-xs uppercase text-slate-500">Uptime {w.window}</div>
          <div className="text-2xl font-semibold tabular-nums">{typeof w.uptime === 'number' ? `${formatPercent(w.uptime)} %` : '—'}</div>
          <div className="text-xs text-slate-500">
            {w.checks.total} {w.checks.total === 1 ? 'check' : 'checks'}{typeof w.checks.availability === 'number' ? `, ${formatPercent(w.checks.availability)} % good` : ''}
          </div>
        </div>
      ))}
    </section>
  )
}


function Latency({ id, regions }: { id: string; regions: string[] }) {
  const [range, setRange] = useState<RangeName>('24h')
  const [region, setRegion] = useState('all')
  const latency = useQuery({
    queryKey: ['latency', id, range, region],
    queryFn: async () => {
      const query = { ...rangeQuery(range, Date.now()), ...(region === 'all' ? {} : { region }) }
      return unwrap(await api.GET('/api/v1/monitors/{id}/latency', { params: { path: { id }, query } }))
    },
    refetchInterval: 60_000,
  })
  const data = useMemo(() => latencyColumns(latency.data?.points ?? []), [latency.data])
  const query = rangeQuery(range, Date.now())
  const span: [number, number] = [query.from_ms / 1000, query.to_ms / 1000]
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4">
      <div className="mb-3 flex flex-wrap items-center gap-2">
        <h2 className="mr-auto text-lg font-semibold">Response time</h2>
        {RANGES.map((r) => (
          <button
            key={r.name}
            type="button"
            onClick={() => setRange(r.name)}
            className={`rounded px-2 py-1 text-sm ${range === r.name ? 'bg-teal-700 text-white' : 'border border-slate-300'}`}
          >
            {r.name}
          </button>
        ))}
        <select aria-label="Latency region" value={region} onChange={(e) => setRegion(e.target.value)} className="rounded border border-slate-300 px-2 py-1 text-sm">
          <option value="all">All regions</option>
          {regions.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
      </div>
      <Failure error={latency.error} />
      <LatencyChart data={data} span={span} />
    </section>
  )
}

/** A heartbeat job's timed runs (a start, then its finish) per UTC day, newest first. */
function RunDurations({ id }: { id: string }) {
  const runs = useQuery({
    queryKey: ['runs', id],
    queryFn: async () => unwrap(await api.GET('/api/v1/monitors/{id}/runs', { params: { path: { id }, query: { days: 30 } } })),
    refetchInterval: 60_000,
  })
  const seconds = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`)
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="run-durations">
      <h2 id="run-durations" className="mb-2 text-lg font-semibold">
        Run durations, 30 days
      </h2>
      <Failure error={runs.error} />
      {runs.data?.length === 0 && (
        <p className="text-sm text-slate-500">No timed runs yet: ping …/start when the job starts, and its finish when it ends.</p>
      )}
      {runs.data && runs.data.length > 0 && (
        <table className="w-full text-left text-sm">
          <thead className="text-xs uppercase text-slate-500">
            <tr>
              <th className="py-1">Day (UTC)</th>
              <th className="py-1 text-right">Runs</th>
              <th className="py-1 text-right">Median</th>
              <th className="py-1 text-right">p95</th>
              <th className="py-1 text-right">Longest</th>
            </tr>
          </thead>
          <tbody className="tabular-nums">
            {[...runs.data].reverse().map((day) => (
              <tr key={day.day_ms} className="border-t border-slate-100" data-testid="run-day">
                <td className="py-1">{new Date(day.day_ms).toISOString().slice(0, 10)}</td>
                <td className="py-1 text-right">{day.runs}</td>
                <td className="py-1 text-right">{seconds(day.p50_ms)}</td>
                <td className="py-1 text-right">{seconds(day.p95_ms)}</td>
                <td className="py-1 text-right">{seconds(day.max_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

function DailyBars({ id }: { id: string }) {
  const days = useQuery({
    queryKey: ['days', id],
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/monitors/{id}/latency', { params: { path: { id }, query: rangeQuery('90d', Date.now()) } })),
  })
  const byDay = new Map((days.data?.points ?? []).map((p) => [p.at_ms, p.checks]))
  const { from_ms } = rangeQuery('90d', Date.now())
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4">
      <h2 className="mb-2 text-sm font-semibold text-slate-700">Last 90 days</h2>
      <div className="flex h-8 gap-px" aria-label="Availability per day">
        {Array.from({ length: 90 }, (_, i) => {
          const day = from_ms + i * 86_400_000
          const checks = byDay.get(day)
          const availability = checks?.availability
          const colour =
            typeof availability !== 'number' ? 'bg-slate-200' : availability >= 99.9 ? 'bg-emerald-500' : availability >= 95 ? 'bg-amber-500' : 'bg-red-600'
          const label = `${new Date(day).toISOString().slice(0, 10)}: ${typeof availability === 'number' ? `${formatPercent(availability)} % of ${checks?.total} checks` : 'no data'}`
          return <span key={day} title={label} className={`flex-1 rounded-sm ${colour}`} />
        })}
      </div>
    </section>
  )
}

type StoredResult = Schemas['StoredResult']

function Results({ id }: { id: string }) {
  const results = useInfiniteQuery({
    queryKey: ['results', id],
    initialPageParam: undefined as string | undefined,
    queryFn: async ({ pageParam }) =>
      unwrap(
        await api.GET('/api/v1/monitors/{id}/results', {
          params: { path: { id }, query: { limit: 25, ...(pageParam ? { cursor: pageParam } : {}) } },
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchInterval: 30_000,
  })
  const rows: StoredResult[] = results.data?.pages.flatMap((page) => page.results) ?? []
  const ms = (value: number | null | undefined) => (typeof value === 'number' ? `${value}` : '—')
  return (
    <section>
      <h2 className="mb-2 text-lg font-semibold">Recent results</h2>
      <Failure error={results.error} />
      <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="w-full text-left text-sm tabular-nums">
          <thead className="bg-slate-50 text-xs uppercase text-slate-500">
            <tr>
              <th className="px-3 py-2">Time</th>
              <th className="px-3 py-2">Region</th>
              <th className="px-3 py-2">Status</th>
              <th className="px-3 py-2 text-right">DNS</th>
              <th className="px-3 py-2 text-right">Connect</th>
              <th className="px-3 py-2 text-right">TLS</th>
              <th className="px-3 py-2 text-right">TTFB</th>
              <th className="px-3 py-2 text-right">Total (ms)</th>
              <th className="px-3 py-2">HTTP</th>
              <th className="px-3 py-2">Message</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.at_ms}-${r.region}-${r.slot_ms}-${r.attempt}`} className="border-t border-slate-100" data-testid="result-row">
                <td className="px-3 py-1.5 whitespace-nowrap">{new Date(r.at_ms).toLocaleString()}</td>
                <td className="px-3 py-1.5">{r.region}</td>
                <td className={`px-3 py-1.5 ${r.status === 'down' ? 'text-red-700' : r.status === 'degraded' ? 'text-amber-700' : ''}`}>{r.status}</td>
                <td className="px-3 py-1.5 text-right">{ms(r.dns_ms)}</td>
                <td className="px-3 py-1.5 text-right">{ms(r.connect_ms)}</td>
                <td className="px-3 py-1.5 text-right">{ms(r.tls_ms)}</td>
                <td className="px-3 py-1.5 text-right">{ms(r.ttfb_ms)}</td>
                <td className="px-3 py-1.5 text-right">{r.total_ms}</td>
                <td className="px-3 py-1.5">{r.http_status || ''}</td>
                <td className="max-w-xs truncate px-3 py-1.5 text-slate-600" title={r.message}>
                  {r.message}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && !results.isPending && <p className="p-4 text-sm text-slate-500">No results in the last 24 hours yet.</p>}
      </div>
      {results.hasNextPage && (
        <button type="button" className="mt-2 rounded border border-slate-300 px-3 py-1 text-sm" onClick={() => results.fetchNextPage()}>
          Older results
        </button>
      )}
    </section>
  )
}

function Heartbeat({ monitor, editable }: { monitor: Monitor; editable: boolean }) {
  const [token, setToken] = useState<string | null>(monitor.ping_token ?? null)
  const rotate = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST('/api/v1/monitors/{id}/ping-token', { params: { path: { id: monitor.id } } })),
    onSuccess: (answer) => setToken(answer.ping_token ?? null),
  })
  const pings = useQuery({
    queryKey: ['pings', monitor.id],
    queryFn: async () => unwrap(await api.GET('/api/v1/monitors/{id}/pings', { params: { path: { id: monitor.id } } })),
    refetchInterval: 30_000,
  })
  const url = `${window.location.origin}/ping/${token ?? '<token>'}`
  return (
    <section className="space-y-3 rounded-lg border border-slate-200 bg-white p-4">
      <h2 className="text-lg font-semibold">Ping URL</h2>
      <div className="flex flex-wrap items-center gap-2">
        {token ? (
          <div className="min-w-80 flex-1">
            <CopyText label="Ping URL" text={url} />
          </div>
        ) : (
          <code className="rounded bg-slate-100 px-2 py-1 text-sm">{url}</code>
        )}
        {editable && (
          <button type="button" className="rounded border border-slate-300 px-2 py-1 text-sm" onClick={() => rotate.mutate()}>
            {token ? 'New token' : 'Show a new token'}
          </button>
        )}
      </div>
      <p className="text-xs text-slate-500">
        The token is shown once (it is stored hashed); a new one replaces the old. In the job:
      </p>
      <pre className="overflow-x-auto rounded bg-slate-900 p-3 text-xs text-slate-100">{`curl -fsS -m 10 ${url}/start
your-job.sh; curl -fsS -m 10 --data-binary @job.log ${url}/$?`}</pre>
      <Failure error={rotate.error ?? pings.error} />
      <h3 className="text-sm font-semibold">Recent pings</h3>
      <ul className="divide-y divide-slate-100 text-sm">
        {pings.data?.map((ping) => (
          <li key={`${ping.at_ms}-${ping.kind}`} className="flex flex-wrap gap-3 py-1.5">
            <span>{new Date(ping.at_ms).toLocaleString()}</span>
            <span className="font-medium">{ping.kind}</span>
            {typeof ping.exit_code === 'number' && <span>exit {ping.exit_code}</span>}
            {typeof ping.duration_ms === 'number' && <span>{Math.round(ping.duration_ms / 1000)} s</span>}
            {ping.body && <code className="max-w-md truncate text-xs text-slate-500">{ping.body}</code>}
          </li>
        ))}
        {pings.data?.length === 0 && <li className="py-1.5 text-slate-500">No pings yet.</li>}
      </ul>
    </section>
  )
}

/** The channels this monitor notifies, chosen here or on a channel's page. */
function Notifications({ monitor, editable }: { monitor: Monitor; editable: boolean }) {
  const client = useQueryClient()
  const channels = useQuery({ queryKey: ['channels'], queryFn: async () => unwrap(await api.GET('/api/v1/channels')) })
  const [chosen, setChosen] = useState<string[] | null>(null)
  const picked = chosen ?? monitor.channel_ids
  const save = useMutation({
    mutationFn: async (channel_ids: string[]) =>
      unwrap(await api.PUT('/api/v1/monitors/{id}/channels', { params: { path: { id: monitor.id } }, body: { channel_ids } })),
    onSuccess: async () => {
      setChosen(null)
      await Promise.all([client.invalidateQueries({ queryKey: ['monitor', monitor.id] }), monitorsChanged(client)])
    },
  })
  const changed = chosen !== null && (chosen.length !== monitor.channel_ids.length || chosen.some((c) => !monitor.channel_ids.includes(c)))
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="notifications">
      <h2 id="notifications" className="mb-2 text-lg font-semibold">
        Notifications
      </h2>
      <Failure error={channels.error ?? save.error} />
      {channels.data?.length === 0 && (
        <p className="text-sm text-slate-500">
          The team has no channels yet: <Link to="/channels/new" className="text-teal-700">add one</Link>.
        </p>
      )}
      <fieldset disabled={!editable} className="grid gap-1 sm:grid-cols-2">
        <legend className="sr-only">Channels notified about this monitor</legend>
        {channels.data?.map((channel) => (
          <Check
            key={channel.id}
            label={`${channel.name} (${isKind(channel.kind) ? KIND_LABEL[channel.kind] : channel.kind})`}
            checked={picked.includes(channel.id)}
            onChange={(on) => setChosen(on ? [...picked, channel.id] : picked.filter((c) => c !== channel.id))}
          />
        ))}
      </fieldset>
      {editable && changed && (
        <button type="button" className="mt-3 rounded bg-teal-700 px-3 py-1.5 text-sm font-medium text-white" disabled={save.isPending} onClick={() => save.mutate(picked)}>
          Save notifications
        </button>
      )}
    </section>
  )
}
