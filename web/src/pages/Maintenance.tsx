import { useEffect, useState, type FormEvent, type ReactNode } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useOutletContext, useParams } from 'react-router'
import { api, ApiError, unwrap, type Me } from '../api/client'
import {
  browserTimeZone,
  byState,
  describeWeekly,
  emptyWindow,
  FormError,
  formToWindow,
  WEEKDAYS,
  windowState,
  windowToForm,
  type Window,
  type WindowForm,
  type WindowState,
} from '../maintenance'
import { mayEdit } from '../session'
import { Check, Failure, Field, PRIMARY, Section } from '../components/Form'

const LIST_KEY = ['maintenance'] as const

function useMonitors() {
  return useQuery({ queryKey: ['monitors'], queryFn: async () => unwrap(await api.GET('/api/v1/monitors')) })
}

/** The time, again every `every` ms: a window's state changes while the page is open. */
function useNow(every = 30_000): number {
  const [now, setNow] = useState(Date.now)
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), every)
    return () => window.clearInterval(timer)
  }, [every])
  return now
}

const DATE_TIME: Intl.DateTimeFormatOptions = { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' }
const TIME: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit' }

/** `Tue, 6 May 2025, 10:00 – 12:00`, in the browser's time zone; the end's date only when it is another day. */
function span(starts: number, ends: number): string {
  const sameDay = new Date(starts).toDateString() === new Date(ends).toDateString()
  return `${new Date(starts).toLocaleString(undefined, DATE_TIME)} – ${new Date(ends).toLocaleString(undefined, sameDay ? TIME : DATE_TIME)}`
}

const STATE_STYLE: Record<WindowState['state'], string> = {
  'in progress': 'bg-amber-100 text-amber-800',
  upcoming: 'bg-sky-100 text-sky-800',
  over: 'bg-slate-100 text-slate-500',
}

/** The team's maintenance windows: while one covers a monitor, its incidents notify nobody. */
export function Maintenance() {
  const me = useOutletContext<Me>()
  const windows = useQuery({ queryKey: LIST_KEY, queryFn: async () => unwrap(await api.GET('/api/v1/maintenance')) })
  const monitors = useMonitors()
  const now = useNow()
  const nameOf = (id: string) => monitors.data?.find((m) => m.id === id)?.name
  const sorted = byState(windows.data ?? [], (w) => windowState(w.schedule, now))
  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="mr-auto text-2xl font-semibold">Maintenance</h1>
        {mayEdit(me.role) && (
          <Link to="/maintenance/new" className={PRIMARY}>
            Add window
          </Link>
        )}
      </div>
      <p className="text-sm text-slate-600">
        While a window covers a monitor, its checks go on but nobody is notified of its incidents. Times are in your time zone ({browserTimeZone()}).
      </p>
      <Failure error={windows.error} />
      {windows.data?.length === 0 && <p className="text-slate-500">No maintenance windows yet.</p>}
      {sorted.length > 0 && (
        <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white" aria-label="Maintenance windows">
          {sorted.map((w) => (
            <WindowRow key={w.id} item={w} now={now} monitorName={w.monitor_id ? (nameOf(w.monitor_id) ?? 'a monitor') : null} />
          ))}
        </ul>
      )}
    </div>
  )
}

function WindowRow({ item: w, now, monitorName }: { item: Window; now: number; monitorName: string | null }) {
  const state = windowState(w.schedule, now)
  const schedule = w.schedule
  let when: string
  if (schedule.kind === 'one_off') when = span(schedule.starts_at_ms, schedule.ends_at_ms)
  else if (!state) when = describeWeekly(schedule)
  else if (state.state === 'in progress') when = `${describeWeekly(schedule)} · now until ${new Date(state.ends).toLocaleString(undefined, DATE_TIME)}`
  else when = `${describeWeekly(schedule)} · next ${span(state.starts, state.ends)}`
  return (
    <li className="flex flex-wrap items-baseline gap-x-3 gap-y-1 px-4 py-3">
      <Link to={`/maintenance/${w.id}`} className="font-medium text-teal-800 hover:underline">
        {w.title}
      </Link>
      {state && <span className={`rounded px-2 py-0.5 text-xs font-medium ${STATE_STYLE[state.state]}`}>{state.state}</span>}
      {schedule.kind === 'weekly' && <span className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600">weekly</span>}
      <span className="ml-auto text-sm text-slate-600">
        {w.monitor_id ? (
          <Link to={`/monitors/${w.monitor_id}`} className="text-teal-700 hover:underline">
            {monitorName}
          </Link>
        ) : (
          'Every monitor'
        )}
      </span>
      <span className="basis-full text-sm text-slate-600">{when}</span>
    </li>
  )
}

/** The fields the form shows an error at, by the API's names for them. */
const FIELDS = new Set(['title', 'monitor_id', 'starts_at_ms', 'ends_at_ms', 'weekdays', 'start_time', 'duration_minutes', 'timezone'])

/** Create (`/maintenance/new`) or edit (`/maintenance/:id`) a window. */
export function MaintenanceForm() {
  const { id } = useParams()
  const me = useOutletContext<Me>()
  const may = mayEdit(me.role)
  const editing = id !== undefined
  const client = useQueryClient()
  const navigate = useNavigate()
  const existing = useQuery({
    queryKey: ['maintenance-window', id],
    enabled: editing,
    queryFn: async () => unwrap(await api.GET('/api/v1/maintenance/{id}', { params: { path: { id: id ?? '' } } })),
  })
  const monitors = useMonitors()
  const [form, setForm] = useState<WindowForm>(() => emptyWindow(Date.now()))
  const [local, setLocal] = useState<FormError | null>(null)
  useEffect(() => {
    if (existing.data) setForm(windowToForm(existing.data, Date.now()))
  }, [existing.data])

  // The list is not on screen while the form is: it is fetched again
  // before going back to it, so it never shows what was just changed.
  const save = useMutation({
    mutationFn: async (body: Window) =>
      unwrap(
        id === undefined
          ? await api.POST('/api/v1/maintenance', { body })
          : await api.PUT('/api/v1/maintenance/{id}', { params: { path: { id } }, body }),
      ),
    onSuccess: async (saved) => {
      await client.invalidateQueries({ queryKey: LIST_KEY, refetchType: 'all' })
      client.setQueryData(['maintenance-window', saved.id], saved)
      navigate('/maintenance')
    },
  })
  const remove = useMutation({
    mutationFn: async () => {
      const answer = await api.DELETE('/api/v1/maintenance/{id}', { params: { path: { id: id ?? '' } } })
      if (!answer.response.ok) unwrap(answer)
    },
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: LIST_KEY, refetchType: 'all' })
      navigate('/maintenance')
      client.removeQueries({ queryKey: ['maintenance-window', id] })
    },
  })

  if (!editing && !may) return <p className="text-slate-600">Viewers cannot add maintenance windows.</p>
  if (editing && existing.isPending) return <p className="text-slate-500">Loading…</p>
  if (existing.isError) return <Failure error={existing.error} />

  const set = <K extends keyof WindowForm>(key: K) => (value: WindowForm[K]) => setForm((f) => ({ ...f, [key]: value }))
  const error = local ?? save.error
  const named = error instanceof FormError || error instanceof ApiError ? error.field : null
  const fieldError = (field: string) => (named === field ? error?.message : undefined)
  const submit = (event: FormEvent) => {
    event.preventDefault()
    try {
      const body = formToWindow(form)
      setLocal(null)
      save.mutate(body)
    } catch (problem) {
      if (problem instanceof FormError) setLocal(problem)
      else throw problem
    }
  }
  const toggleDay = (day: number, on: boolean) =>
    setForm((f) => ({ ...f, weekdays: on ? [...f.weekdays.filter((d) => d !== day), day] : f.weekdays.filter((d) => d !== day) }))

  return (
    <form onSubmit={submit} className="max-w-3xl space-y-6" noValidate>
      <div className="flex items-center gap-3">
        <h1 className="text-2xl font-semibold">{editing ? `${may ? 'Edit ' : ''}${existing.data?.title ?? ''}` : 'New maintenance window'}</h1>
        <Link to="/maintenance" className="ml-auto text-sm text-teal-700">
          {may ? 'Cancel' : 'Back'}
        </Link>
      </div>
      {!may && <p className="rounded bg-slate-100 px-3 py-2 text-sm text-slate-700">Viewers cannot change maintenance windows; you can see this one.</p>}
      <fieldset disabled={!may} className="space-y-6">
        <Section title="When">
          <Field label="Title" value={form.title} onChange={set('title')} error={fieldError('title')} placeholder="Database upgrade" />
          <Group legend="Repeats">
            <Radio name="kind" label="Once" checked={form.kind === 'one_off'} onChange={() => set('kind')('one_off')} />
            <Radio name="kind" label="Every week" checked={form.kind === 'weekly'} onChange={() => set('kind')('weekly')} />
          </Group>
          {form.kind === 'one_off' ? (
            <>
              <div className="grid gap-4 sm:grid-cols-2">
                <Field label="Starts" type="datetime-local" value={form.starts} onChange={set('starts')} error={fieldError('starts_at_ms')} />
                <Field label="Ends" type="datetime-local" value={form.ends} onChange={set('ends')} error={fieldError('ends_at_ms')} />
              </div>
              <p className="text-xs text-slate-500">In your time zone, {browserTimeZone()}.</p>
            </>
          ) : (
            <>
              <Group legend="On" error={fieldError('weekdays')}>
                {WEEKDAYS.map(([day, name]) => (
                  <Check key={day} label={name} checked={form.weekdays.includes(day)} onChange={(on) => toggleDay(day, on)} />
                ))}
              </Group>
              <div className="grid gap-4 sm:grid-cols-3">
                <Field label="At" type="time" value={form.startTime} onChange={set('startTime')} error={fieldError('start_time')} />
                <Field label="For (minutes)" value={form.duration} onChange={set('duration')} error={fieldError('duration_minutes')} />
                <TimeZone value={form.timezone} onChange={set('timezone')} error={fieldError('timezone')} />
              </div>
              <p className="text-xs text-slate-500">On the clock of that time zone, summer time included.</p>
            </>
          )}
        </Section>

        <Section title="Covers">
          <Radio name="monitor" label="Every monitor of the team" checked={form.monitorId === ''} onChange={() => set('monitorId')('')} />
          <div className="grid max-h-72 gap-1 overflow-y-auto sm:grid-cols-2">
            {monitors.data?.map((monitor) => (
              <Radio key={monitor.id} name="monitor" label={monitor.name} checked={form.monitorId === monitor.id} onChange={() => set('monitorId')(monitor.id)} />
            ))}
          </div>
          {fieldError('monitor_id') && <p className="text-sm text-red-700">{fieldError('monitor_id')}</p>}
          <Failure error={monitors.error} />
        </Section>
      </fieldset>

      {error && !(named && FIELDS.has(named)) && <Failure error={error} />}
      {named && FIELDS.has(named) && <p className="text-sm text-red-700">Check the field marked above.</p>}
      {may && (
        <div className="flex items-center gap-3">
          <button type="submit" className={PRIMARY} disabled={save.isPending}>
            {editing ? 'Save' : 'Create window'}
          </button>
          {editing && (
            <button
              type="button"
              className="ml-auto rounded border border-red-300 px-3 py-2 text-sm text-red-700 hover:bg-red-50"
              disabled={remove.isPending}
              onClick={() => window.confirm(`Delete the maintenance window ${form.title}?`) && remove.mutate()}
            >
              Delete
            </button>
          )}
        </div>
      )}
      <Failure error={remove.error} />
    </form>
  )
}

/** A group of choices under a legend, with its error. */
function Group({ legend, error, children }: { legend: string; error?: string | undefined; children: ReactNode }) {
  return (
    <fieldset className="text-sm">
      <legend className="font-medium text-slate-700">{legend}</legend>
      <div className="mt-1 flex flex-wrap gap-x-4 gap-y-1">{children}</div>
      {error && <span className="mt-1 block text-red-700">{error}</span>}
    </fieldset>
  )
}

function Radio(props: { name: string; label: string; checked: boolean; onChange: () => void }) {
  return (
    <label className="flex items-center gap-2 text-sm">
      <input type="radio" name={props.name} checked={props.checked} onChange={props.onChange} />
      {props.label}
    </label>
  )
}

/** The zones the browser knows, and the window's own if it is not one of them. */
function TimeZone(props: { value: string; onChange: (zone: string) => void; error?: string | undefined }) {
  const zones = Intl.supportedValuesOf('timeZone')
  const options = [...new Set(['UTC', props.value, ...zones])].filter(Boolean)
  return (
    <label className="block text-sm">
      <span className="font-medium text-slate-700">Time zone</span>
      <select
        className={`mt-1 block w-full rounded border bg-white px-2 py-2 ${props.error ? 'border-red-500' : 'border-slate-300'}`}
        value={props.value}
        onChange={(event) => props.onChange(event.target.value)}
        aria-invalid={props.error ? true : undefined}
      >
        {options.map((zone) => (
          <option key={zone} value={zone}>
            {zone}
          </option>
        ))}
      </select>
      {props.error && <span className="mt-1 block text-red-700">{props.error}</span>}
    </label>
  )
}
