import { useMemo, useRef, useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useOutletContext } from 'react-router'
import { api, ApiError, unwrap, type CheckResult, type Me, type MonitorSummary } from '../api/client'
import { useLiveResults } from '../live'
import {
  applyFilter,
  byAttention,
  countByStatus,
  KINDS,
  NO_FILTER,
  sparkline,
  STATUSES,
  STATUS_DOT,
  STATUS_LABEL,
  formatPercent,
  statusOf,
  type Filter,
  withLast,
  type Status,
  type WithData,
} from '../monitors'
import { monitorsChanged, OVERVIEW_KEY, overviewQuery } from '../overview'
import { mayEdit } from '../session'
import { Failure, Field, PRIMARY } from '../components/Form'

/** Rows per page: the list stays light with any number of monitors. */
const PAGE = 50


export function Overview() {
  const me = useOutletContext<Me>()
  const client = useQueryClient()
  const overview = useQuery({ ...overviewQuery, refetchInterval: 60_000 })
  // A result that disagrees with the status shown may mean the evaluator
  // has confirmed a change, and a monitor's first result starts its 24
  // hours: ask again, at most every few seconds.
  const refresh = useRef<number | null>(null)
  const shown = useRef(new Map<string, Status>())
  const summarized = useRef<WithData>(() => false)
  const onResult = (result: CheckResult) => {
    const status = shown.current.get(result.monitor_id)
    const news =
      status !== undefined &&
      ((status !== 'paused' && status !== result.status) || !summarized.current(result.monitor_id))
    if (news && refresh.current === null) {
      refresh.current = window.setTimeout(() => {
        refresh.current = null
        void client.invalidateQueries({ queryKey: OVERVIEW_KEY })
      }, 2000)
    }
  }
  const live = useLiveResults(onResult)
  const [filter, setFilter] = useState<Filter>(NO_FILTER)
  const [page, setPage] = useState(0)
  const monitors = overview.data?.monitors
  const measured = useMemo(() => withLast(monitors ?? []), [monitors])
  summarized.current = measured
  const hasData = (id: string) => measured(id) || live.latest.has(id)
  const all = useMemo(
    () => [...(monitors ?? [])].sort(byAttention(hasData)),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [monitors, measured, live.latest.size],
  )
  shown.current = new Map(all.map((m) => [m.monitor_id, statusOf(m, hasData(m.monitor_id))]))
  const counts = countByStatus(all, hasData)
  const regions = useMemo(() => [...new Set(all.flatMap((m) => m.regions))].sort(), [all])
  const visible = applyFilter(all, filter, hasData)
  const pages = Math.max(1, Math.ceil(visible.length / PAGE))
  const current = Math.min(page, pages - 1)
  const update = (change: Partial<Filter>) => {
    setFilter((f) => ({ ...f, ...change }))
    setPage(0)
  }

  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-2xl font-semibold">Monitors</h1>
        <span
          className={`text-xs ${live.connected ? 'text-emerald-700' : 'text-slate-400'}`}
          title="Results arrive as they happen"
        >
          {live.connected ? '● live' : '○ connecting…'}
        </span>
      </div>

      <div className="flex flex-wrap gap-2" aria-label="Monitors per status">
        {STATUSES.map((status) => (
          <button
            key={status}
            type="button"
            onClick={() => update({ status: filter.status === status ? 'all' : status })}
            className={`flex items-center gap-2 rounded border px-3 py-1.5 text-sm ${
              filter.status === status ? 'border-teal-700 bg-teal-50' : 'border-slate-200 bg-white'
            }`}
          >
            <span className={`h-2.5 w-2.5 rounded-full ${STATUS_DOT[status]}`} />
            {STATUS_LABEL[status]} <strong data-testid={`count-${status}`}>{counts[status]}</strong>
          </button>
        ))}
      </div>

      {mayEdit(me.role) && <NewMonitor />}
      {mayEdit(me.role) && (
        <p className="-mt-3 text-sm">
          <Link to="/monitors/new" className="text-teal-700 underline">
            Another kind, or every setting
          </Link>{' '}
          (TCP, ICMP, DNS, TLS, heartbeat; headers, assertions, regions, confirmations)
        </p>
      )}

      <div className="flex flex-wrap gap-3">
        <input
          type="search"
          placeholder="Search by name or target"
          aria-label="Search"
          className="min-w-64 flex-1 rounded border border-slate-300 px-3 py-2 text-sm"
          value={filter.search}
          onChange={(event) => update({ search: event.target.value })}
        />
        <select
          aria-label="Kind"
          className="rounded border border-slate-300 bg-white px-2 py-2 text-sm"
          value={filter.kind}
          onChange={(event) => update({ kind: event.target.value as Filter['kind'] })}
        >
          <option value="all">Every kind</option>
          {KINDS.map((kind) => (
            <option key={kind} value={kind}>
              {kind}
            </option>
          ))}
        </select>
        <select
          aria-label="Region"
          className="rounded border border-slate-300 bg-white px-2 py-2 text-sm"
          value={filter.region}
          onChange={(event) => update({ region: event.target.value })}
        >
          <option value="all">Every region</option>
          {regions.map((region) => (
            <option key={region} value={region}>
              {region}
            </option>
          ))}
        </select>
      </div>

      {overview.isPending && <p className="text-slate-500">Loading monitors…</p>}
      <Failure error={overview.error} />
      {monitors && monitors.length === 0 && (
        <p className="rounded border border-dashed border-slate-300 p-8 text-center text-slate-500">
          No monitors yet{mayEdit(me.role) ? ': add the first one above.' : '.'}
        </p>
      )}
      {visible.length > 0 && (
        <div className="overflow-hidden rounded-lg border border-slate-200 bg-white">
          <table className="w-full text-left text-sm">
            <thead className="bg-slate-50 text-xs uppercase text-slate-500">
              <tr>
                <th className="px-4 py-2">Status</th>
                <th className="px-4 py-2">Monitor</th>
                <th className="px-4 py-2">Kind</th>
                <th className="px-4 py-2">Regions</th>
                <th className="px-4 py-2 text-right">24 h uptime</th>
                <th className="px-4 py-2">Latency, 24 h</th>
                <th className="px-4 py-2 text-right">Last check</th>
              </tr>
            </thead>
            <tbody>
              {visible.slice(current * PAGE, (current + 1) * PAGE).map((monitor) => (
                <Row key={monitor.monitor_id} monitor={monitor} result={live.latest.get(monitor.monitor_id)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {pages > 1 && (
        <div className="flex items-center gap-3 text-sm">
          <button type="button" disabled={current === 0} onClick={() => setPage(current - 1)} className="rounded border px-2 py-1 disabled:opacity-40">
            Previous
          </button>
          <span>
            Page {current + 1} of {pages} ({visible.length} monitors)
          </span>
          <button
            type="button"
            disabled={current >= pages - 1}
            onClick={() => setPage(current + 1)}
            className="rounded border px-2 py-1 disabled:opacity-40"
          >
            Next
          </button>
        </div>
      )}
    </div>
  )
}

function Row({ monitor, result }: { monitor: MonitorSummary; result: CheckResult | undefined }) {
  const status = statusOf(monitor, result !== undefined || monitor.last !== null)
  // The live result when newer than the overview's.
  const last =
    result && (!monitor.last || result.started_at_ms >= monitor.last.at_ms)
      ? { status: result.status, total_ms: result.timings.total_ms, message: result.message ?? '' }
      : monitor.last
  return (
    <tr className="border-t border-slate-100" data-testid="monitor-row">
      <td className="px-4 py-3">
        <span className="flex items-center gap-2">
          <span className={`h-2.5 w-2.5 rounded-full ${STATUS_DOT[status]}`} />
          <span data-testid="monitor-status">{STATUS_LABEL[status]}</span>
        </span>
      </td>
      <td className="px-4 py-3">
        <Link to={`/monitors/${monitor.monitor_id}`} className="font-medium text-slate-900 hover:text-teal-700 hover:underline">
          {monitor.name}
        </Link>
        <div className="max-w-md truncate text-xs text-slate-500">{monitor.target}</div>
      </td>
      <td className="px-4 py-3 text-slate-600">{monitor.kind}</td>
      <td className="px-4 py-3 text-slate-600">{monitor.regions.join(', ')}</td>
      <td className="px-4 py-3 text-right tabular-nums" data-testid="monitor-uptime">
        {typeof monitor.availability === 'number' ? `${formatPercent(monitor.availability)} %` : '—'}
      </td>
      <td className="px-4 py-3">
        <Sparkline values={monitor.latency_ms} />
      </td>
      <td className="px-4 py-3 text-right tabular-nums" data-testid="monitor-last">
        {last ? (
          <span title={last.message || undefined}>
            {last.status} · {last.total_ms} ms
          </span>
        ) : (
          <span className="text-slate-400">waiting for a result</span>
        )}
      </td>
    </tr>
  )
}

/** A quick HTTP(S) monitor; every other kind and setting comes with the monitor form. */
function NewMonitor() {
  const client = useQueryClient()
  const [name, setName] = useState('')
  const [url, setUrl] = useState('')
  const [interval, setInterval] = useState('60')
  const create = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/api/v1/monitors', {
          body: {
            name,
            spec: { kind: 'http', url },
            interval_ms: Math.round(Number(interval) * 1000),
          },
        }),
      ),
    onSuccess: () => {
      setName('')
      setUrl('')
      return monitorsChanged(client)
    },
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    create.mutate()
  }
  const fieldError = (field: string) =>
    create.error instanceof ApiError && create.error.field?.startsWith(field) ? create.error.message : undefined
  return (
    <form onSubmit={submit} className="grid gap-3 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-[1fr_2fr_8rem_auto] sm:items-end">
      <Field label="Name" value={name} onChange={setName} error={fieldError('name')} placeholder="Checkout API" />
      <Field label="URL" value={url} onChange={setUrl} error={fieldError('spec')} placeholder="https://example.com/health" />
      <Field label="Every (s)" value={interval} onChange={setInterval} error={fieldError('interval_ms')} />
      <button type="submit" disabled={create.isPending} className={PRIMARY}>
        Add monitor
      </button>
      <div className="sm:col-span-4">
        <Failure error={create.error instanceof ApiError && create.error.field ? null : create.error} />
      </div>
    </form>
  )
}


/** Hourly mean latency: one SVG path, however many monitors there are. */
function Sparkline({ values }: { values: (number | null | undefined)[] }) {
  const runs = sparkline(values, 96, 24)
  if (runs.length === 0) return <span className="text-slate-300">—</span>
  const known = values.filter((v): v is number => typeof v === 'number')
  const label = `mean latency per hour, ${Math.round(Math.min(...known))}–${Math.round(Math.max(...known))} ms`
  return (
    <svg width="96" height="24" viewBox="0 0 96 24" role="img" aria-label={label}>
      <title>{label}</title>
      {runs.map((points) => {
        if (points.includes(' ')) {
          return <polyline key={points} points={points} fill="none" stroke="#0f766e" strokeWidth="1.5" />
        }
        const [x, y] = points.split(',').map(Number)
        return <circle key={points} cx={x} cy={y} r="1.5" fill="#0f766e" />
      })}
    </svg>
  )
}
