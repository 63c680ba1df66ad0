import { describe, expect, it } from 'vitest'
import type { CheckResult, MonitorSummary } from './api/client'
import { applyFilter, byAttention, countByStatus, formatPercent, NO_FILTER, recordResult, sparkline, statusOf, withLast } from './monitors'

function monitor(name: string, over: Partial<MonitorSummary> = {}): MonitorSummary {
  return {
    monitor_id: `id-${name}`,
    name,
    kind: 'http',
    target: `https://${name}.example/health`,
    regions: ['eu-west'],
    paused: false,
    status: 'up',
    last: null,
    checks: 0,
    availability: null,
    latency_ms: [],
    ...over,
  }
}

describe('statusOf', () => {
  it('puts paused first and tells monitors without data apart', () => {
    expect(statusOf({ paused: true, status: 'down' })).toBe('paused')
    expect(statusOf({ paused: false, status: 'degraded' })).toBe('degraded')
    expect(statusOf({ paused: false, status: null })).toBe('unknown')
    expect(statusOf({ paused: false, status: null }, true)).toBe('up')
    expect(statusOf({ paused: false, status: 'something new' })).toBe('unknown')
  })
})

describe('the overview list', () => {
  const monitors = [
    monitor('shop'),
    monitor('api', { status: 'down' }),
    monitor('backup', { kind: 'heartbeat', target: 'every 1 s', status: null }),
    monitor('legacy', { paused: true, regions: ['us-east'] }),
  ]

  it('counts every status', () => {
    expect(countByStatus(monitors)).toEqual({ up: 1, down: 1, degraded: 0, paused: 1, unknown: 1 })
    // A monitor that never failed is up once it has results.
    expect(countByStatus(monitors, (id) => id === 'id-backup')).toEqual({ up: 2, down: 1, degraded: 0, paused: 1, unknown: 0 })
    const last = { at_ms: 1, status: 'up', total_ms: 5, region: 'eu-west', message: '' }
    const answered = monitors.map((m) => (m.name === 'backup' ? { ...m, last } : m))
    expect(countByStatus(answered, withLast(answered)).unknown).toBe(0)
  })

  it('filters by search, status, kind and region', () => {
    const names = (filter: Partial<typeof NO_FILTER>) => applyFilter(monitors, { ...NO_FILTER, ...filter }).map((m) => m.name)
    expect(names({})).toEqual(['shop', 'api', 'backup', 'legacy'])
    expect(names({ search: 'API.example' })).toEqual(['api'])
    expect(names({ search: 'every 1' })).toEqual(['backup'])
    expect(names({ status: 'down' })).toEqual(['api'])
    expect(names({ kind: 'heartbeat' })).toEqual(['backup'])
    expect(names({ region: 'us-east' })).toEqual(['legacy'])
  })

  it('sorts what needs attention first', () => {
    expect([...monitors].sort(byAttention()).map((m) => m.name)).toEqual(['api', 'shop', 'legacy', 'backup'])
  })
})

describe('recordResult', () => {
  const result = (at: number, total: number) =>
    ({ monitor_id: 'm', started_at_ms: at, timings: { total_ms: total }, status: 'up' }) as CheckResult

  it('keeps the newest result of each monitor, whatever order they arrive in', () => {
    let latest = recordResult(new Map(), result(2000, 20))
    latest = recordResult(latest, result(1000, 10))
    expect(latest.get('m')?.timings.total_ms).toBe(20)
    latest = recordResult(latest, result(3000, 30))
    expect(latest.get('m')?.timings.total_ms).toBe(30)
  })
})

describe('sparkline', () => {
  it('scales into the box and breaks at hours without data', () => {
    expect(sparkline([null, null], 100, 20)).toEqual([])
    expect(sparkline([10, 20, null, 20], 30, 22)).toEqual(['0.0,21.0 10.0,1.0', '30.0,1.0'])
  })
})

describe('formatPercent', () => {
  it('never rounds up to a perfect score', () => {
    expect(formatPercent(100)).toBe('100')
    expect(formatPercent(99.999)).toBe('99.99')
    expect(formatPercent(75)).toBe('75.00')
  })
})
