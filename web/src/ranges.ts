// The latency graph's time ranges: each with a bucket size the API allows
// (at most 1,500 buckets per request).
export type RangeName = '1h' | '24h' | '7d' | '30d' | '90d'
export type Bucket = 'minute' | 'hour' | 'day'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

export const RANGES: { name: RangeName; span: number; bucket: Bucket }[] = [
  { name: '1h', span: HOUR, bucket: 'minute' },
  { name: '24h', span: DAY, bucket: 'minute' },
  { name: '7d', span: 7 * DAY, bucket: 'hour' },
  { name: '30d', span: 30 * DAY, bucket: 'hour' },
  { name: '90d', span: 90 * DAY, bucket: 'day' },
]

const SIZE: Record<Bucket, number> = { minute: MINUTE, hour: HOUR, day: DAY }

/** The request for a range ending at `now`: whole buckets, the current one included. */
export function rangeQuery(name: RangeName, now: number): { bucket: Bucket; from_ms: number; to_ms: number } {
  const range = RANGES.find((r) => r.name === name) ?? RANGES[1]!
  const size = SIZE[range.bucket]
  const to = Math.ceil((now + 1) / size) * size
  return { bucket: range.bucket, from_ms: to - range.span, to_ms: to }
}

/** Columns for uPlot: seconds, then p50, p95, p99 (null where no data). */
export function latencyColumns(
  points: { at_ms: number; p50_ms?: number | null; p95_ms?: number | null; p99_ms?: number | null }[],
): [number[], (number | null)[], (number | null)[], (number | null)[]] {
  const time: number[] = []
  const p50: (number | null)[] = []
  const p95: (number | null)[] = []
  const p99: (number | null)[] = []
  for (const point of points) {
    time.push(point.at_ms / 1000)
    p50.push(point.p50_ms ?? null)
    p95.push(point.p95_ms ?? null)
    p99.push(point.p99_ms ?? null)
  }
  return [time, p50, p95, p99]
}
