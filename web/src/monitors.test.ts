import { describe, expect, it } from 'vitest'
import type { CheckResult, Monitor } from './api/client'
import { applyFilter, byAttention, countByStatus, formatPercent, NO_FILTER, recordResult, sparkline, statusOf, targetOf } from './monitors'

function monitor(name: string, over: Partial<Monitor> = {}): Monitor {
  return {
    id: `id-${name}`,
    team_id: 'team',
    name,
    spec: { kind: 'http', url: `https://${name}.example/health` },
    interval_ms: 60000,
    timeout_ms: 10000,
    regions: ['eu-west'],
    confirmations: 2,
    recoveries: 1,
    quorum: 1,
    paused: false,
    updated_at_ms: 0,
    status: 'up',
    secrets_set: [],
    channel_ids: [],
    created_at_ms: 0,
    ...over,
  } as Monitor
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

describe('targetOf', () => {
  it('names what each kind watches', () => {
    expect(targetOf({ kind: 'tcp', host: 'db.internal', port: 5432 })).toBe('db.internal:5432')
    expect(targetOf({ kind: 'tls', host: 'shop.example' })).toBe('shop.example:443')
    expect(targetOf({ kind: 'dns', name: 'shop.example', record_type: 'MX' })).toBe('shop.example MX')
    expect(targetOf({ kind: 'heartbeat', grace_ms: 1000, cron: '30 2 * * *' })).toBe('cron 30 2 * * *')
    expect(targetOf({ kind: 'heartbeat', grace_ms: 1000, period_ms: 300000 })).toBe('every 300 s')
  })
})

describe('the overview list', () => {
  const monitors = [
    monitor('shop'),
    monitor('api', { status: 'down' }),
    monitor('backup', { spec: { kind: 'heartbeat', grace_ms: 1, period_ms: 1000 }, status: null }),
    monitor('legacy', { paused: true, regions: ['us-east'] }),
  ]

  it('counts every status', () => {
    expect(countByStatus(monitors)).toEqual({ up: 1, down: 1, degraded: 0, paused: 1, unknown: 1 })
    // A monitor that never failed is up once it has results.
    expect(countByStatus(monitors, (id) => id === 'id-backup')).toEqual({ up: 2, down: 1, degraded: 0, paused: 1, unknown: 0 })
  })

  it('filters by search, status, kind and region', () => {
    const names = (filter: Partial<typeof NO_FILTER>) => applyFilter(monitors, { ...NO_FILTER, ...filter }).map((m) => m.name)
    expect(names({})).toEqual(['shop', 'api', 'backup', 'legacy'])
    expect(names({ search: 'API.example' })).toEqual(['api'])
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
