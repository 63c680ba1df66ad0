import { describe, expect, it } from 'vitest'
import { latencyColumns, rangeQuery, RANGES } from './ranges'

describe('rangeQuery', () => {
  const now = Date.UTC(2026, 11, 2, 15, 42, 17)

  it('asks for whole buckets up to and including the current one, never more than the API allows', () => {
    expect(rangeQuery('1h', now)).toEqual({ bucket: 'minute', from_ms: Date.UTC(2026, 11, 2, 14, 43), to_ms: Date.UTC(2026, 11, 2, 15, 43) })
    expect(rangeQuery('90d', now).bucket).toBe('day')
    for (const range of RANGES) {
      const query = rangeQuery(range.name, now)
      const size = { minute: 60_000, hour: 3_600_000, day: 86_400_000 }[query.bucket]
      expect((query.to_ms - query.from_ms) / size).toBeLessThanOrEqual(1500)
      expect(query.to_ms).toBeGreaterThan(now)
    }
  })
})

describe('latencyColumns', () => {
  it('gives uPlot seconds and leaves gaps as null', () => {
    expect(latencyColumns([{ at_ms: 60_000, p50_ms: 5, p95_ms: 9, p99_ms: 12 }, { at_ms: 120_000 }])).toEqual([
      [60, 120],
      [5, null],
      [9, null],
      [12, null],
    ])
  })
})
