import { useEffect, useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useOutletContext, useParams } from 'react-router'
import { api, ApiError, unwrap, type Me, type Schemas } from '../api/client'
import {
  CHANNEL_KINDS,
  channelToForm,
  emptyChannel,
  FIELDS,
  FormError,
  formToSettings,
  KIND_LABEL,
  isKind,
  relinks,
  remindOf,
  VERIFIABLE,
  type ChannelFormState,
  type ChannelKind,
  type SettingField,
} from '../channels'
import { mayAdminister } from '../session'
import { Check, Failure, Field, PRIMARY, Section } from '../components/Form'

const when = (ms: number) => new Date(ms).toLocaleString()

function useMonitors() {
  return useQuery({ queryKey: ['monitors'], queryFn: async () => unwrap(await api.GET('/api/v1/monitors')) })
}

/** The team's channels: where notifications go. */
export function Channels() {
  const me = useOutletContext<Me>()
  const channels = useQuery({ queryKey: ['channels'], queryFn: async () => unwrap(await api.GET('/api/v1/channels')) })
  const monitors = useMonitors()
  const linked = (id: string) => monitors.data?.filter((m) => m.channel_ids.includes(id)).length ?? 0
  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="mr-auto text-2xl font-semibold">Channels</h1>
        {mayAdminister(me.role) && (
          <Link to="/channels/new" className={PRIMARY}>
            Add channel
          </Link>
        )}
      </div>
      <p className="text-sm text-slate-600">Where incidents are announced: each monitor notifies the channels linked to it.</p>
      <Failure error={channels.error} />
      {channels.data?.length === 0 && <p className="text-slate-500">No channels yet.</p>}
      <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white">
        {channels.data?.map((channel) => (
          <li key={channel.id} data-testid="channel-row">
            <Link to={`/channels/${channel.id}`} className="flex flex-wrap items-baseline gap-3 px-4 py-3 hover:bg-slate-50">
              <span className="font-medium">{channel.name}</span>
              <span className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600">{isKind(channel.kind) ? KIND_LABEL[channel.kind] : channel.kind}</span>
              {!channel.enabled && <span className="text-xs font-semibold text-amber-700">disabled</span>}
              <span className="ml-auto text-xs text-slate-500">
                {linked(channel.id)} monitor{linked(channel.id) === 1 ? '' : 's'}
                {channel.remind_every_minutes ? ` · reminds every ${channel.remind_every_minutes} min` : ''}
              </span>
            </Link>
          </li>
        ))}
      </ul>
    </div>
  )
}

type TestResult = Schemas['TestResult']

/** Create (`/channels/new`) or edit (`/channels/:id`) a channel, try it before saving, link it to monitors. */
export function ChannelForm() {
  const { id } = useParams()
  const me = useOutletContext<Me>()
  const admin = mayAdminister(me.role)
  const client = useQueryClient()
  const navigate = useNavigate()
  const existing = useQuery({
    queryKey: ['channel', id],
    enabled: id !== undefined,
    queryFn: async () => unwrap(await api.GET('/api/v1/channels/{id}', { params: { path: { id: id ?? '' } } })),
  })
  const monitors = useMonitors()
  const [form, setForm] = useState<ChannelFormState>(emptyChannel())
  const [chosen, setChosen] = useState<Set<string> | null>(null)
  const [local, setLocal] = useState<FormError | null>(null)
  const [tested, setTested] = useState<TestResult | null>(null)
  useEffect(() => {
    if (existing.data) setForm(channelToForm(existing.data))
  }, [existing.data])
  // The monitors linked now, until the person changes the choice.
  const linkedNow = new Set(monitors.data?.filter((m) => id !== undefined && m.channel_ids.includes(id)).map((m) => m.id))
  const picked = chosen ?? linkedNow

  const editing = id !== undefined
  const body = () => {
    const settings = formToSettings(form, editing)
    const remind = remindOf(form)
    if (!form.name.trim()) throw new FormError('name', 'a name is needed')
    return { settings, remind }
  }

  const test = useMutation({
    mutationFn: async (settings: Record<string, unknown>) =>
      unwrap(
        await api.POST('/api/v1/integrations/test', {
          body: editing ? { channel_id: id, kind: form.kind, settings } : { kind: form.kind, settings },
        }),
      ),
    onMutate: () => setTested(null),
    onSuccess: setTested,
  })

  const save = useMutation({
    mutationFn: async ({ settings, remind, verify }: { settings: Record<string, unknown>; remind: number | null; verify: boolean }) => {
      const input = {
        name: form.name.trim(),
        kind: form.kind,
        settings,
        enabled: form.enabled,
        remind_every_minutes: remind,
        verify: verify && VERIFIABLE.has(form.kind),
      }
      const channel = unwrap(
        id === undefined
          ? await api.POST('/api/v1/channels', { body: input })
          : await api.PUT('/api/v1/channels/{id}', { params: { path: { id } }, body: input }),
      )
      for (const change of relinks(channel.id, monitors.data ?? [], picked)) {
        unwrap(await api.PUT('/api/v1/monitors/{id}/channels', { params: { path: { id: change.id } }, body: { channel_ids: change.channel_ids } }))
      }
      return channel
    },
    onSuccess: async (channel) => {
      // Every monitor's page shows its channels: ['monitor', id] for all ids.
      await Promise.all(['channels', 'monitors', 'monitor'].map((key) => client.invalidateQueries({ queryKey: [key] })))
      client.setQueryData(['channel', channel.id], channel)
      navigate('/channels')
    },
  })

  const remove = useMutation({
    mutationFn: async () => {
      const answer = await api.DELETE('/api/v1/channels/{id}', { params: { path: { id: id ?? '' } } })
      if (!answer.response.ok) unwrap(answer)
    },
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ['channels'] })
      navigate('/channels')
    },
  })

  if (editing && existing.isPending) return <p className="text-slate-500">Loading…</p>
  if (existing.isError) return <Failure error={existing.error} />

  const error = local ?? save.error ?? test.error
  const named = error instanceof FormError || error instanceof ApiError ? error.field : null
  const fieldError = (field: string) => (named === field || named?.startsWith(`${field}.`) ? error?.message : undefined)
  const attempt = (run: (parts: ReturnType<typeof body>) => void) => {
    try {
      const parts = body()
      setLocal(null)
      run(parts)
    } catch (problem) {
      if (problem instanceof FormError) setLocal(problem)
      else throw problem
    }
  }
  const submit = (event: FormEvent) => {
    event.preventDefault()
    attempt((parts) => save.mutate({ ...parts, verify: true }))
  }
  // The provider could not be asked (an outage, or a machine that cannot
  // reach it): the person may save anyway.
  const unasked = save.error instanceof ApiError && save.error.field?.startsWith('settings.') && save.error.message.includes('could not be asked')
  const secretsSet = new Set(existing.data?.secrets_set ?? [])
  const setValue = (name: string) => (value: string) => setForm((f) => ({ ...f, values: { ...f.values, [name]: value } }))

  return (
    <form onSubmit={submit} className="max-w-3xl space-y-6" noValidate>
      <div className="flex items-center gap-3">
        <h1 className="text-2xl font-semibold">{editing ? existing.data?.name : 'New channel'}</h1>
        <Link to="/channels" className="ml-auto text-sm text-teal-700">
          {admin ? 'Cancel' : 'Back'}
        </Link>
      </div>
      {!admin && <p className="rounded bg-slate-100 px-3 py-2 text-sm text-slate-700">Only owners and admins change channels; you can see them.</p>}
      <fieldset disabled={!admin} className="space-y-6">
        <Section title="Channel">
          <Field label="Name" value={form.name} onChange={(name) => setForm((f) => ({ ...f, name }))} error={fieldError('name')} />
          <label className="block text-sm">
            <span className="font-medium text-slate-700">Kind</span>
            <select
              className="mt-1 block rounded border border-slate-300 bg-white px-2 py-2"
              value={form.kind}
              disabled={editing}
              onChange={(event) => {
                setTested(null)
                setForm((f) => ({ ...f, kind: event.target.value as ChannelKind, values: {} }))
              }}
            >
              {CHANNEL_KINDS.map((kind) => (
                <option key={kind} value={kind}>
                  {KIND_LABEL[kind]}
                </option>
              ))}
            </select>
            {editing && <span className="mt-1 block text-xs text-slate-500">A channel’s kind cannot change; add another channel instead.</span>}
          </label>
          {FIELDS[form.kind].map((field) => (
            <SettingInput
              key={`${form.kind}.${field.name}`}
              field={field}
              value={form.values[field.name] ?? ''}
              stored={editing ? secretsSet.has(field.name) : null}
              onChange={setValue(field.name)}
              error={fieldError(`settings.${field.name}`)}
            />
          ))}
          <Check label="Enabled" checked={form.enabled} onChange={(enabled) => setForm((f) => ({ ...f, enabled }))} />
          <Field
            label="Remind every (minutes, while an incident is open)"
            value={form.remind}
            onChange={(remind) => setForm((f) => ({ ...f, remind }))}
            placeholder="never"
            error={fieldError('remind_every_minutes')}
          />
        </Section>

        <Section title="Try it">
          <p className="text-sm text-slate-600">
            Sends one test notification with what is in the form now, saved or not
            {editing ? ' (secrets left empty are taken from the saved channel)' : ''}.
          </p>
          <div className="flex flex-wrap items-center gap-3">
            <button
              type="button"
              className="rounded border border-slate-300 bg-white px-4 py-2 hover:bg-slate-100 disabled:opacity-60"
              disabled={test.isPending}
              onClick={() => attempt(({ settings }) => test.mutate(settings))}
            >
              {test.isPending ? 'Sending…' : 'Send test'}
            </button>
            {tested && (
              <p role="status" className={`text-sm ${tested.delivered ? 'text-emerald-700' : 'text-red-700'}`}>
                {tested.delivered ? 'Delivered' : 'Not delivered'}
                {tested.http_status ? ` (HTTP ${tested.http_status})` : ''}
                {tested.error ? `: ${tested.error}` : ''}
              </p>
            )}
          </div>
        </Section>

        <Section title="Monitors that notify it">
          {monitors.data?.length === 0 && <p className="text-sm text-slate-500">The team has no monitors yet.</p>}
          <div className="grid max-h-72 gap-1 overflow-y-auto sm:grid-cols-2">
            {monitors.data?.map((monitor) => (
              <Check
                key={monitor.id}
                label={monitor.name}
                checked={picked.has(monitor.id)}
                onChange={(on) => {
                  const next = new Set(picked)
                  if (on) next.add(monitor.id)
                  else next.delete(monitor.id)
                  setChosen(next)
                }}
              />
            ))}
          </div>
        </Section>
      </fieldset>

      {error && !named && <Failure error={error} />}
      {named && <p className="text-sm text-red-700">Check the field marked above.</p>}
      {admin && (
        <div className="flex items-center gap-3">
          <button type="submit" className={PRIMARY} disabled={save.isPending}>
            {editing ? 'Save' : 'Create channel'}
          </button>
          {unasked ? (
            <button type="button" className="rounded border border-slate-300 px-3 py-2 text-sm hover:bg-slate-100" disabled={save.isPending} onClick={() => attempt((parts) => save.mutate({ ...parts, verify: false }))}>
              Save without asking
            </button>
          ) : (
            VERIFIABLE.has(form.kind) && <span className="text-xs text-slate-500">{KIND_LABEL[form.kind]} is asked first whether the webhook exists.</span>
          )}
          {editing && (
            <button
              type="button"
              className="ml-auto rounded border border-red-300 px-3 py-2 text-sm text-red-700 hover:bg-red-50"
              onClick={() => window.confirm(`Delete the channel ${form.name}?`) && remove.mutate()}
            >
              Delete
            </button>
          )}
        </div>
      )}
      <Failure error={remove.error} />
      {editing && id && <Deliveries id={id} />}
    </form>
  )
}

/** One setting; `stored` says whether a saved channel has this secret (`null`: a new channel). */
function SettingInput(props: { field: SettingField; value: string; stored: boolean | null; onChange: (v: string) => void; error?: string | undefined }) {
  const { field } = props
  const label = `${field.label}${field.required ? '' : ' (optional)'}`
  if (typeof field.type === 'object') {
    return (
      <label className="block text-sm">
        <span className="font-medium text-slate-700">{label}</span>
        <select className="mt-1 block rounded border border-slate-300 bg-white px-2 py-2" value={props.value} onChange={(e) => props.onChange(e.target.value)}>
          <option value="">default</option>
          {field.type.options.map((option) => (
            <option key={option} value={option}>
              {option}
            </option>
          ))}
        </select>
        {props.error && <span className="mt-1 block text-red-700">{props.error}</span>}
      </label>
    )
  }
  const placeholder = field.secret && props.stored ? 'set: leave empty to keep it' : field.placeholder
  return (
    <div>
      <Field
        label={field.secret ? `${label} · secret${props.stored === null ? '' : props.stored ? ', set' : ', not set'}` : label}
        value={props.value}
        onChange={props.onChange}
        multiline={field.type === 'list' || field.type === 'headers'}
        type={field.secret && field.type !== 'headers' ? 'password' : 'text'}
        autoComplete="off"
        {...(placeholder === undefined ? {} : { placeholder })}
        error={props.error}
      />
      {field.help && <span className="mt-1 block text-xs text-slate-500">{field.help}</span>}
    </div>
  )
}

/** A channel's recent deliveries: what was sent, and what the provider said. */
function Deliveries({ id }: { id: string }) {
  const deliveries = useQuery({
    queryKey: ['channel', id, 'deliveries'],
    queryFn: async () => unwrap(await api.GET('/api/v1/channels/{id}/deliveries', { params: { path: { id }, query: { limit: 50 } } })),
    refetchInterval: 30_000,
  })
  return (
    <Section title="Recent notifications">
      <Failure error={deliveries.error} />
      {deliveries.data?.length === 0 && <p className="text-sm text-slate-500">Nothing sent yet.</p>}
      <ul className="divide-y divide-slate-100 text-sm">
        {deliveries.data?.map((delivery) => (
          <li key={delivery.id} className="flex flex-wrap gap-3 py-2" data-testid="delivery-row">
            <span className={delivery.status === 'delivered' ? 'font-medium text-emerald-700' : delivery.status === 'failed' ? 'font-medium text-red-700' : 'text-slate-600'}>
              {delivery.status}
            </span>
            {delivery.incident_id ? (
              <Link to={`/incidents/${delivery.incident_id}`} className="text-teal-700">
                {delivery.monitor_name ?? 'incident'}
              </Link>
            ) : (
              <span>{delivery.monitor_name}</span>
            )}
            {delivery.event && <span className="text-slate-500">{delivery.event}</span>}
            {delivery.last_error && <span className="text-red-700">{delivery.last_error}</span>}
            {delivery.reason && <span className="text-slate-500">{delivery.reason}</span>}
            <span className="ml-auto text-xs text-slate-500">
              {when(delivery.created_at_ms)} · {delivery.attempts} attempt{delivery.attempts === 1 ? '' : 's'}
            </span>
          </li>
        ))}
      </ul>
    </Section>
  )
}
