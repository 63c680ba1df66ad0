// Maintenance windows as pure functions (Vitest): the form's strings to and
// from the API's `Window`, a one-off window's `datetime-local` values in the
// browser's time zone, and whether a window is upcoming, in progress or
// over. Weekly windows are read in their own time zone, on the wall clock,
// as the notifier reads them (notifier/src/store.rs, `maintenance`).
import type { Schemas } from './api/client'
import { FormError } from './monitorForm'

export { FormError }

export type Window = Schemas['Window']
export type Schedule = Schemas['Schedule']
export type Weekly = Extract<Schedule, { kind: 'weekly' }>

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
/** The longest weekly window the API takes: 7 days. */
const MAX_MINUTES = 7 * 24 * 60

/** ISO weekdays (1 = Monday) and their short names. */
export const WEEKDAYS: readonly [number, string][] = [
  [1, 'Mon'],
  [2, 'Tue'],
  [3, 'Wed'],
  [4, 'Thu'],
  [5, 'Fri'],
  [6, 'Sat'],
  [7, 'Sun'],
]

const pad = (n: number, width = 2) => String(n).padStart(width, '0')

/**
 * A `datetime-local` value (`YYYY-MM-DDTHH:MM`, seconds optional) read in
 * the browser's time zone, as Unix ms; `null` when it is not one. A time
 * that the clock skips (a DST gap) is moved forward by the gap, as the
 * browser does.
 */
export function fromLocalInput(text: string): number | null {
  const match = /^(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(text.trim())
  if (!match) return null
  const [year, month, day, hour, minute] = match.slice(1, 6).map(Number)
  const second = Number(match[6] ?? 0)
  const fraction = Number((match[7] ?? '').padEnd(3, '0'))
  if (year === undefined || month === undefined || day === undefined || hour === undefined || minute === undefined) return null
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null
  // setFullYear, not the constructor: that reads years below 100 as 19xx.
  const date = new Date(2000, 0, 1)
  date.setFullYear(year, month - 1, day)
  date.setHours(hour, minute, second, fraction)
  // 31 February rolls over into March: not a date.
  if (date.getFullYear() !== year || date.getMonth() !== month - 1 || date.getDate() !== day) return null
  return date.getTime()
}

/**
 * Unix ms as a `datetime-local` value in the browser's time zone, to the
 * minute (the form keeps the exact instant while the text is unchanged:
 * see `WindowForm.shown`).
 */
export function toLocalInput(ms: number): string {
  const date = new Date(ms)
  return `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}

/** The browser's IANA time zone. */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone
}

/** Whether the browser knows `zone` as a time zone. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return zone.trim() !== ''
  } catch {
    return false
  }
}

/** What the form holds: strings as typed. */
export interface WindowForm {
  title: string
  /** The monitor it covers; `''`: every monitor of the team. */
  monitorId: string
  kind: Schedule['kind']
  /** One-off: `datetime-local` values. */
  starts: string
  ends: string
  /**
   * The instants `starts` and `ends` were shown from, kept while their text
   * is unchanged: the text is to the minute, and in the hour a DST change
   * repeats it names two instants; saving must not move a window nobody
   * touched.
   */
  shown: { starts: Shown | null; ends: Shown | null }
  /** Weekly: ISO weekdays, `HH:MM`, minutes, an IANA zone. */
  weekdays: number[]
  startTime: string
  duration: string
  timezone: string
}

interface Shown {
  text: string
  ms: number
}

/** A new window: once, from the next full hour for an hour; weekly defaults in the browser's zone. */
export function emptyWindow(now: number, timezone = browserTimeZone()): WindowForm {
  const next = new Date(now)
  next.setMinutes(60, 0, 0)
  return {
    title: '',
    monitorId: '',
    kind: 'one_off',
    starts: toLocalInput(next.getTime()),
    ends: toLocalInput(next.getTime() + 60 * MINUTE),
    shown: { starts: null, ends: null },
    weekdays: [],
    startTime: '02:00',
    duration: '60',
    timezone,
  }
}

/** A window as the form shows it. */
export function windowToForm(window: Window, now: number): WindowForm {
  const base = { ...emptyWindow(now), title: window.title, monitorId: window.monitor_id ?? '' }
  const schedule = window.schedule
  if (schedule.kind === 'one_off') {
    const starts = toLocalInput(schedule.starts_at_ms)
    const ends = toLocalInput(schedule.ends_at_ms)
    return {
      ...base,
      kind: 'one_off',
      starts,
      ends,
      shown: { starts: { text: starts, ms: schedule.starts_at_ms }, ends: { text: ends, ms: schedule.ends_at_ms } },
    }
  }
  return {
    ...base,
    kind: 'weekly',
    weekdays: [...schedule.weekdays].sort((a, b) => a - b),
    startTime: schedule.start_time,
    duration: String(schedule.duration_minutes),
    timezone: schedule.timezone,
  }
}

function instant(text: string, shown: Shown | null, field: string): number {
  if (shown && shown.text === text) return shown.ms
  const ms = fromLocalInput(text)
  if (ms === null) throw new FormError(field, 'a date and a time')
  return ms
}

/** The request body; a FormError names the field (as the API names it) that cannot be sent. */
export function formToWindow(form: WindowForm): Window {
  const title = form.title.trim()
  if (!title) throw new FormError('title', 'a title is needed')
  if ([...title].length > 200) throw new FormError('title', 'at most 200 characters')
  const base = { title, monitor_id: form.monitorId || null }
  if (form.kind === 'one_off') {
    const starts_at_ms = instant(form.starts, form.shown.starts, 'starts_at_ms')
    const ends_at_ms = instant(form.ends, form.shown.ends, 'ends_at_ms')
    if (ends_at_ms <= starts_at_ms) throw new FormError('ends_at_ms', 'the end must be after the start')
    return { ...base, schedule: { kind: 'one_off', starts_at_ms, ends_at_ms } }
  }
  if (form.weekdays.length === 0) throw new FormError('weekdays', 'pick at least one day')
  const time = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(form.startTime.trim())
  if (!time) throw new FormError('start_time', 'a time of day, 00:00 to 23:59')
  const duration = Number(form.duration.trim())
  if (!Number.isInteger(duration) || duration < 1 || duration > MAX_MINUTES) {
    throw new FormError('duration_minutes', `whole minutes, 1 to ${MAX_MINUTES} (7 days)`)
  }
  const timezone = form.timezone.trim()
  if (!isTimeZone(timezone)) throw new FormError('timezone', 'an IANA time zone, e.g. Europe/Berlin')
  return {
    ...base,
    schedule: {
      kind: 'weekly',
      weekdays: [...new Set(form.weekdays)].sort((a, b) => a - b),
      start_time: time[0],
      duration_minutes: duration,
      timezone,
    },
  }
}

/** Where a window stands at a moment, and the instant of its next change. */
export type WindowState =
  | { state: 'upcoming'; starts: number; ends: number }
  | { state: 'in progress'; starts: number; ends: number }
  | { state: 'over'; starts: number; ends: number }

/**
 * Whether `schedule` is upcoming, in progress or over at `now`, with the
 * occurrence meant: a one-off window's own times; for a weekly one the
 * occurrence in progress, else the next (a weekly window is never over).
 * The start is inclusive and the end exclusive, as the notifier reads them.
 * `null`: the zone is unknown to the browser.
 */
export function windowState(schedule: Schedule, now: number): WindowState | null {
  if (schedule.kind === 'one_off') {
    const { starts_at_ms: starts, ends_at_ms: ends } = schedule
    return { state: now < starts ? 'upcoming' : now < ends ? 'in progress' : 'over', starts, ends }
  }
  if (!isTimeZone(schedule.timezone)) return null
  const time = /^(\d{2}):(\d{2})$/.exec(schedule.start_time)
  if (!time) return null
  const offset = (Number(time[1]) * 60 + Number(time[2])) * MINUTE
  const length = schedule.duration_minutes * MINUTE
  // The wall clock in the window's zone, as if it were UTC: days and
  // weekdays are then plain arithmetic.
  const wall = wallClock(now, schedule.timezone)
  const today = wall - (((wall % DAY) + DAY) % DAY)
  let current: { starts: number; ends: number } | null = null
  let next: { starts: number; ends: number } | null = null
  // Seven days back catches a window of up to seven days that started then.
  for (let days = -7; days <= 7; days++) {
    const day = today + days * DAY
    const isoDay = ((new Date(day).getUTCDay() + 6) % 7) + 1
    if (!schedule.weekdays.includes(isoDay)) continue
    const starts = day + offset
    const ends = starts + length
    if (starts <= wall && wall < ends) {
      if (!current || ends > current.ends) current = { starts, ends }
    } else if (starts > wall && !next) {
      next = { starts, ends }
    }
  }
  const real = (span: { starts: number; ends: number }) => ({
    starts: fromWallClock(span.starts, schedule.timezone),
    ends: fromWallClock(span.ends, schedule.timezone),
  })
  if (current) return { state: 'in progress', ...real(current) }
  if (next) return { state: 'upcoming', ...real(next) }
  return null
}

const clocks = new Map<string, Intl.DateTimeFormat>()

/** The wall-clock time in `zone` at `ms`, as the Unix ms of that same wall-clock time in UTC (to the second). */
function wallClock(ms: number, zone: string): number {
  let clock = clocks.get(zone)
  if (!clock) {
    clock = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    clocks.set(zone, clock)
  }
  const part = Object.fromEntries(clock.formatToParts(ms).map((p) => [p.type, Number(p.value)]))
  const date = new Date(0)
  date.setUTCFullYear(part.year ?? 1970, (part.month ?? 1) - 1, part.day ?? 1)
  date.setUTCHours(part.hour ?? 0, part.minute ?? 0, part.second ?? 0, 0)
  return date.getTime()
}

/** The instant the wall clock in `zone` shows `wall` (from [`wallClock`]); in a DST gap, the instant after the gap's length. */
function fromWallClock(wall: number, zone: string): number {
  const guess = wall - (wallClock(wall, zone) - wall)
  const offset = wallClock(guess, zone) - guess
  return wall - offset
}

/** `Every Mon, Wed at 02:00 for 1 h 30 min (Europe/Berlin)`. */
export function describeWeekly(schedule: Weekly): string {
  const names = [...schedule.weekdays]
    .sort((a, b) => a - b)
    .map((day) => WEEKDAYS.find(([iso]) => iso === day)?.[1] ?? `day ${day}`)
  const days = names.length === 7 ? 'day' : names.join(', ')
  return `Every ${days} at ${schedule.start_time} for ${describeMinutes(schedule.duration_minutes)} (${schedule.timezone})`
}

/** `45 min`, `2 h`, `1 h 30 min`, `3 d 2 h`. */
export function describeMinutes(minutes: number): string {
  const d = Math.floor(minutes / 1440)
  const h = Math.floor((minutes % 1440) / 60)
  const m = minutes % 60
  return [d && `${d} d`, h && `${h} h`, m && `${m} min`].filter(Boolean).join(' ') || '0 min'
}

const ORDER: Record<WindowState['state'], number> = { 'in progress': 0, upcoming: 1, over: 2 }

/** In progress first (ending soonest), then upcoming (starting soonest), then over (ended last first); unknown ones last. */
export function byState<T>(items: T[], stateOf: (item: T) => WindowState | null): T[] {
  const keyed = items.map((item) => ({ item, state: stateOf(item) }))
  const rank = (s: WindowState | null) => (s ? ORDER[s.state] : 3)
  const when = (s: WindowState | null) => (!s ? 0 : s.state === 'in progress' ? s.ends : s.state === 'upcoming' ? s.starts : -s.ends)
  return keyed.sort((a, b) => rank(a.state) - rank(b.state) || when(a.state) - when(b.state)).map(({ item }) => item)
}
