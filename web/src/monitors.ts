// What the overview shows of a monitor, as pure functions (tested with
// Vitest): its status as people read it, its target, counts and filters.
import type { CheckResult, Monitor, MonitorSummary } from './api/client'

export type Status = 'up' | 'down' | 'degraded' | 'paused' | 'unknown'

export const STATUSES: Status[] = ['down', 'degraded', 'up', 'paused', 'unknown']

export const STATUS_LABEL: Record<Status, string> = {
  up: 'Up',
  down: 'Down',
  degraded: 'Degraded',
  paused: 'Paused',
  unknown: 'No data yet',
}

/** The colour of each status's dot (Tailwind classes). */
export const STATUS_DOT: Record<Status, string> = {
  up: 'bg-emerald-500',
  down: 'bg-red-600',
  degraded: 'bg-amber-500',
  paused: 'bg-slate-400',
  unknown: 'bg-slate-300',
}

/** A percentage to two places, never rounded up to a perfect 100. */
export function formatPercent(value: number): string {
  return value >= 100 ? '100' : (Math.floor(value * 100) / 100).toFixed(2)
}

export type Kind = MonitorSummary['kind']
export const KINDS: Kind[] = ['http', 'tcp', 'icmp', 'dns', 'tls', 'heartbeat']

/**
 * The status people see: paused wins, then the status the evaluator
 * confirmed. A monitor that never failed has none confirmed: it is up once
 * it has results (`hasData`), and has no data yet before.
 */
export function statusOf(monitor: Pick<Monitor, 'paused' | 'status'>, hasData = false): Status {
  if (monitor.paused) return 'paused'
  switch (monitor.status) {
    case 'up':
    case 'down':
    case 'degraded':
      return monitor.status
    default:
      return hasData ? 'up' : 'unknown'
  }
}

/** Which monitors have results: an id is in it once one is known. */
export type WithData = (id: string) => boolean

/** The overview's own answer: a monitor has data once it has a last result. */
export function withLast(monitors: MonitorSummary[]): WithData {
  const known = new Set(monitors.filter((m) => m.last).map((m) => m.monitor_id))
  return (id) => known.has(id)
}

const NONE: WithData = () => false

/** How many monitors are in each status. */
export function countByStatus(monitors: MonitorSummary[], hasData: WithData = NONE): Record<Status, number> {
  const counts: Record<Status, number> = { up: 0, down: 0, degraded: 0, paused: 0, unknown: 0 }
  for (const monitor of monitors) counts[statusOf(monitor, hasData(monitor.monitor_id))] += 1
  return counts
}

export interface Filter {
  search: string
  status: Status | 'all'
  kind: Kind | 'all'
  region: string | 'all'
}

export const NO_FILTER: Filter = { search: '', status: 'all', kind: 'all', region: 'all' }

/** The monitors a filter keeps, in the order given. */
export function applyFilter(monitors: MonitorSummary[], filter: Filter, hasData: WithData = NONE): MonitorSummary[] {
  const needle = filter.search.trim().toLowerCase()
  return monitors.filter((monitor) => {
    if (filter.status !== 'all' && statusOf(monitor, hasData(monitor.monitor_id)) !== filter.status) return false
    if (filter.kind !== 'all' && monitor.kind !== filter.kind) return false
    if (filter.region !== 'all' && !monitor.regions.includes(filter.region)) return false
    if (!needle) return true
    return monitor.name.toLowerCase().includes(needle) || monitor.target.toLowerCase().includes(needle)
  })
}

/** Worst first, then by name: what needs attention comes first. */
export function byAttention(hasData: WithData = NONE): (a: MonitorSummary, b: MonitorSummary) => number {
  const rank = (m: MonitorSummary) => STATUSES.indexOf(statusOf(m, hasData(m.monitor_id)))
  return (a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name)
}

/** The points of a sparkline of `values` (null: a gap) in a box of `width` × `height`. */
export function sparkline(values: (number | null | undefined)[], width: number, height: number): string[] {
  const known = values.filter((v): v is number => typeof v === 'number')
  if (known.length === 0) return []
  const max = Math.max(...known)
  const min = Math.min(...known)
  const span = max - min || 1
  const step = values.length > 1 ? width / (values.length - 1) : 0
  const runs: string[] = []
  let run: string[] = []
  values.forEach((value, index) => {
    if (typeof value !== 'number') {
      if (run.length) runs.push(run.join(' '))
      run = []
      return
    }
    const x = index * step
    const y = height - ((value - min) / span) * (height - 2) - 1
    run.push(`${x.toFixed(1)},${y.toFixed(1)}`)
  })
  if (run.length) runs.push(run.join(' '))
  return runs
}

/** The latest live result of each monitor, as the feed delivers them. */
export type Latest = Map<string, CheckResult>

/** Records a result unless an older one arrives after a newer one. */
export function recordResult(latest: Latest, result: CheckResult): Latest {
  const known = latest.get(result.monitor_id)
  if (known && known.started_at_ms > result.started_at_ms) return latest
  const next = new Map(latest)
  next.set(result.monitor_id, result)
  return next
}
