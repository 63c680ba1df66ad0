import { afterEach, describe, expect, it } from 'vitest'
import {
  byState,
  describeMinutes,
  describeWeekly,
  emptyWindow,
  FormError,
  formToWindow,
  fromLocalInput,
  toLocalInput,
  windowState,
  windowToForm,
  type Schedule,
  type Window,
  type WindowForm,
} from './maintenance'

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham', 'Australia/Lord_Howe', 'America/St_Johns']
const original = process.env.TZ

/** Runs `body` with the process (the "browser") in `zone`. */
function inZone(zone: string, body: () => void) {
  process.env.TZ = zone
  try {
    body()
  } finally {
    process.env.TZ = original
  }
}

afterEach(() => {
  process.env.TZ = original
})

/** The FormError `run` throws. */
function formError(run: () => unknown): FormError {
  try {
    run()
  } catch (error) {
    if (error instanceof FormError) return error
    throw error
  }
  throw new Error('no FormError')
}

describe('datetime-local values', () => {
  it('are read in the browser’s time zone', () => {
    inZone('Asia/Kolkata', () => expect(fromLocalInput('2025-01-15T12:00')).toBe(Date.UTC(2025, 0, 15, 6, 30)))
    inZone('America/New_York', () => expect(fromLocalInput('2025-01-15T12:00')).toBe(Date.UTC(2025, 0, 15, 17, 0)))
    inZone('America/New_York', () => expect(fromLocalInput('2025-07-15T12:00')).toBe(Date.UTC(2025, 6, 15, 16, 0)))
    inZone('UTC', () => expect(fromLocalInput('2025-01-15T12:00:30.5')).toBe(Date.UTC(2025, 0, 15, 12, 0, 30, 500)))
  })

  it('are written in the browser’s time zone', () => {
    const instant = Date.UTC(2025, 0, 15, 6, 30)
    inZone('Asia/Kolkata', () => expect(toLocalInput(instant)).toBe('2025-01-15T12:00'))
    inZone('UTC', () => expect(toLocalInput(instant)).toBe('2025-01-15T06:30'))
    inZone('Pacific/Chatham', () => expect(toLocalInput(instant)).toBe('2025-01-15T20:15'))
    inZone('UTC', () => expect(toLocalInput(instant + 59_999)).toBe('2025-01-15T06:30'))
  })

  it('round-trip in every zone, across the year', () => {
    const instants = [
      Date.UTC(2025, 0, 1, 0, 0),
      Date.UTC(2025, 2, 30, 0, 59),
      Date.UTC(2025, 5, 21, 23, 45),
      Date.UTC(2025, 11, 31, 23, 59),
      Date.UTC(1970, 0, 1, 12, 0),
      Date.UTC(9999, 11, 31, 0, 0),
    ]
    for (const zone of ZONES) {
      inZone(zone, () => {
        for (const ms of instants) expect(fromLocalInput(toLocalInput(ms)), `${zone} ${new Date(ms).toISOString()}`).toBe(ms)
        for (const text of ['2025-01-15T00:00', '2025-07-04T13:37', '0099-03-01T08:00']) expect(toLocalInput(fromLocalInput(text) ?? NaN), zone).toBe(text)
      })
    }
  })

  it('refuse what is not a date and a time', () => {
    for (const text of ['', '2025-01-15', '2025-02-30T10:00', '2025-13-01T10:00', '2025-01-15T24:00', '2025-01-15T10:60', 'tomorrow']) {
      expect(fromLocalInput(text), text).toBeNull()
    }
  })

  it('move a time the clock skips forward, as the browser does', () => {
    // Berlin went from 02:00 to 03:00 on 30 March 2025.
    inZone('Europe/Berlin', () => expect(toLocalInput(fromLocalInput('2025-03-30T02:30') ?? NaN)).toBe('2025-03-30T03:30'))
  })
})

const oneOff = (starts: number, ends: number): Schedule => ({ kind: 'one_off', starts_at_ms: starts, ends_at_ms: ends })

describe('the form', () => {
  const now = Date.UTC(2025, 4, 6, 9, 20)

  it('builds a one-off window for one monitor from local times', () => {
    inZone('Europe/Berlin', () => {
      const form: WindowForm = { ...emptyWindow(now), title: ' Database upgrade ', monitorId: 'm-1', starts: '2025-05-06T22:00', ends: '2025-05-07T01:30' }
      expect(formToWindow(form)).toEqual({
        title: 'Database upgrade',
        monitor_id: 'm-1',
        schedule: { kind: 'one_off', starts_at_ms: Date.UTC(2025, 4, 6, 20, 0), ends_at_ms: Date.UTC(2025, 4, 6, 23, 30) },
      })
    })
  })

  it('starts a new window at the next full hour, for an hour', () => {
    inZone('Asia/Kolkata', () => {
      const form = emptyWindow(Date.UTC(2025, 4, 6, 9, 20))
      expect([form.starts, form.ends]).toEqual(['2025-05-06T15:00', '2025-05-06T16:00'])
      expect(form.monitorId).toBe('')
    })
  })

  it('covers every monitor when none is chosen', () => {
    expect(formToWindow({ ...emptyWindow(now), title: 'All of it' }).monitor_id).toBeNull()
  })

  it('refuses an end before the start, at the end', () => {
    inZone('America/New_York', () => {
      const error = formError(() => formToWindow({ ...emptyWindow(now), title: 'Backwards', starts: '2025-05-06T10:00', ends: '2025-05-06T09:00' }))
      expect([error.field, error.message]).toEqual(['ends_at_ms', 'the end must be after the start'])
      const same = formError(() => formToWindow({ ...emptyWindow(now), title: 'Empty', starts: '2025-05-06T10:00', ends: '2025-05-06T10:00' }))
      expect(same.field).toBe('ends_at_ms')
    })
  })

  it('names the field of what is missing', () => {
    expect(formError(() => formToWindow({ ...emptyWindow(now), title: '  ' })).field).toBe('title')
    expect(formError(() => formToWindow({ ...emptyWindow(now), title: 'x', starts: '' })).field).toBe('starts_at_ms')
    expect(formError(() => formToWindow({ ...emptyWindow(now), title: 'x', ends: 'soon' })).field).toBe('ends_at_ms')
    const weekly: WindowForm = { ...emptyWindow(now), title: 'Nightly', kind: 'weekly', weekdays: [2], timezone: 'Europe/Berlin' }
    expect(formError(() => formToWindow({ ...weekly, weekdays: [] })).field).toBe('weekdays')
    expect(formError(() => formToWindow({ ...weekly, startTime: '24:00' })).field).toBe('start_time')
    expect(formError(() => formToWindow({ ...weekly, duration: '0' })).field).toBe('duration_minutes')
    expect(formError(() => formToWindow({ ...weekly, duration: '10081' })).field).toBe('duration_minutes')
    expect(formError(() => formToWindow({ ...weekly, duration: '1.5' })).field).toBe('duration_minutes')
    expect(formError(() => formToWindow({ ...weekly, timezone: 'Mars/Olympus' })).field).toBe('timezone')
  })

  it('builds a weekly window with its days in order', () => {
    const form: WindowForm = { ...emptyWindow(now), title: 'Backups', kind: 'weekly', weekdays: [7, 3, 3], startTime: '01:30', duration: '90', timezone: 'Europe/Berlin' }
    expect(formToWindow(form).schedule).toEqual({ kind: 'weekly', weekdays: [3, 7], start_time: '01:30', duration_minutes: 90, timezone: 'Europe/Berlin' })
  })

  it('writes back what it read, in any zone, to the millisecond', () => {
    const weekly: Window = { title: 'Backups', monitor_id: null, schedule: { kind: 'weekly', weekdays: [1, 5], start_time: '23:15', duration_minutes: 45, timezone: 'Asia/Tokyo' } }
    const once: Window = { title: 'Move', monitor_id: 'm-2', schedule: oneOff(Date.UTC(2025, 9, 26, 0, 15, 5, 250), Date.UTC(2025, 9, 26, 3, 0)) }
    for (const zone of ZONES) {
      inZone(zone, () => {
        expect(formToWindow(windowToForm({ ...weekly, id: 'w-1' }, now)), zone).toEqual(weekly)
        expect(formToWindow(windowToForm({ ...once, id: 'w-2' }, now)), zone).toEqual(once)
      })
    }
  })

  it('keeps an untouched instant in the hour a DST change repeats', () => {
    inZone('Europe/Berlin', () => {
      // 01:30 UTC on 26 October 2025 is the second 02:30 in Berlin.
      const second = Date.UTC(2025, 9, 26, 1, 30)
      const form = windowToForm({ title: 'Clock change', schedule: oneOff(second, second + 3_600_000) }, now)
      expect(form.starts).toBe('2025-10-26T02:30')
      expect(formToWindow(form).schedule).toEqual(oneOff(second, second + 3_600_000))
      // Typed again, the value is read afresh.
      expect(formToWindow({ ...form, starts: '2025-10-26T02:00' }).schedule).toMatchObject({ starts_at_ms: Date.UTC(2025, 9, 26, 0, 0) })
    })
  })
})

describe('windowState', () => {
  const starts = Date.UTC(2025, 4, 6, 10, 0)
  const ends = Date.UTC(2025, 4, 6, 12, 0)

  it('reads a one-off window from its times: start inclusive, end exclusive', () => {
    expect(windowState(oneOff(starts, ends), starts - 1)?.state).toBe('upcoming')
    expect(windowState(oneOff(starts, ends), starts)?.state).toBe('in progress')
    expect(windowState(oneOff(starts, ends), ends - 1)?.state).toBe('in progress')
    expect(windowState(oneOff(starts, ends), ends)?.state).toBe('over')
  })

  const weekly = (weekdays: number[], start_time: string, duration_minutes: number, timezone: string): Schedule => ({
    kind: 'weekly',
    weekdays,
    start_time,
    duration_minutes,
    timezone,
  })

  it('reads a weekly window on the wall clock of its own zone, whatever the browser’s', () => {
    // Tuesday 6 May 2025, 22:30 in Berlin (CEST, UTC+2) is 20:30 UTC.
    const tuesdayNight = Date.UTC(2025, 4, 6, 20, 30)
    const nightly = weekly([2], '22:00', 60, 'Europe/Berlin')
    for (const zone of ['UTC', 'America/Los_Angeles', 'Asia/Kolkata']) {
      inZone(zone, () => {
        expect(windowState(nightly, tuesdayNight)).toEqual({ state: 'in progress', starts: Date.UTC(2025, 4, 6, 20, 0), ends: Date.UTC(2025, 4, 6, 21, 0) })
        expect(windowState(nightly, Date.UTC(2025, 4, 6, 21, 0))).toEqual({
          state: 'upcoming',
          starts: Date.UTC(2025, 4, 13, 20, 0),
          ends: Date.UTC(2025, 4, 13, 21, 0),
        })
      })
    }
  })

  it('finds a window that started days ago and one past midnight', () => {
    // Saturday 02:00 UTC for three days: in progress on Monday 10 March 2025.
    expect(windowState(weekly([6], '02:00', 3 * 24 * 60, 'UTC'), Date.UTC(2025, 2, 10, 1, 0))).toMatchObject({
      state: 'in progress',
      starts: Date.UTC(2025, 2, 8, 2, 0),
    })
    // Sunday 23:30 for an hour covers Monday 00:15.
    expect(windowState(weekly([7], '23:30', 60, 'UTC'), Date.UTC(2025, 2, 10, 0, 15))?.state).toBe('in progress')
  })

  it('gives the real instants across a DST change', () => {
    // Sunday 30 March 2025: Berlin changes from UTC+1 to UTC+2 at 02:00.
    const sundayMorning = weekly([7], '04:00', 60, 'Europe/Berlin')
    expect(windowState(sundayMorning, Date.UTC(2025, 2, 29, 12, 0))).toEqual({
      state: 'upcoming',
      starts: Date.UTC(2025, 2, 30, 2, 0),
      ends: Date.UTC(2025, 2, 30, 3, 0),
    })
  })

  it('is unknown for a zone the browser does not know', () => {
    expect(windowState(weekly([1], '02:00', 60, 'Mars/Olympus'), starts)).toBeNull()
  })
})

describe('descriptions and order', () => {
  it('says how a weekly window repeats', () => {
    expect(describeWeekly({ kind: 'weekly', weekdays: [5, 1, 3], start_time: '02:00', duration_minutes: 90, timezone: 'Europe/Berlin' })).toBe(
      'Every Mon, Wed, Fri at 02:00 for 1 h 30 min (Europe/Berlin)',
    )
    expect(describeWeekly({ kind: 'weekly', weekdays: [1, 2, 3, 4, 5, 6, 7], start_time: '23:00', duration_minutes: 60, timezone: 'UTC' })).toBe(
      'Every day at 23:00 for 1 h (UTC)',
    )
    expect(describeMinutes(45)).toBe('45 min')
    expect(describeMinutes(7 * 24 * 60)).toBe('7 d')
    expect(describeMinutes(26 * 60 + 5)).toBe('1 d 2 h 5 min')
  })

  it('lists windows in progress, then upcoming, then over', () => {
    const now = Date.UTC(2025, 4, 6, 12, 0)
    const hour = 3_600_000
    const windows = [
      { name: 'long over', schedule: oneOff(now - 10 * hour, now - 9 * hour) },
      { name: 'later', schedule: oneOff(now + 5 * hour, now + 6 * hour) },
      { name: 'ending late', schedule: oneOff(now - hour, now + 4 * hour) },
      { name: 'just over', schedule: oneOff(now - 2 * hour, now - hour) },
      { name: 'soon', schedule: oneOff(now + hour, now + 2 * hour) },
      { name: 'ending soon', schedule: oneOff(now - hour, now + hour) },
    ]
    expect(byState(windows, (w) => windowState(w.schedule, now)).map((w) => w.name)).toEqual([
      'ending soon',
      'ending late',
      'soon',
      'later',
      'just over',
      'long over',
    ])
  })
})
