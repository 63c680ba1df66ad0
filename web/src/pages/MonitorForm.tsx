import { useEffect, useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useOutletContext, useParams } from 'react-router'
import { api, ApiError, unwrap, type Me } from '../api/client'
import { EMPTY, FormError, fromMonitor, toInput, type AssertionRow, type AssertionType, type FormState } from '../monitorForm'
import { KINDS } from '../monitors'
import { monitorsChanged } from '../overview'
import { mayEdit } from '../session'
import { Check, Choice, Failure, Field, PRIMARY, Section } from '../components/Form'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
const RECORDS = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'NS', 'SOA', 'SRV'] as const
const ASSERTIONS: { type: AssertionType; label: string; key?: string }[] = [
  { type: 'body_contains', label: 'Body contains' },
  { type: 'body_not_contains', label: 'Body does not contain' },
  { type: 'json_pointer_equals', label: 'JSON pointer equals', key: 'pointer, e.g. /status' },
  { type: 'header_equals', label: 'Header equals', key: 'header name' },
  { type: 'header_contains', label: 'Header contains', key: 'header name' },
  { type: 'response_time_below', label: 'Response time below (ms)' },
]

/** Create (`/monitors/new`) or edit (`/monitors/:id/edit`) a monitor of any kind. */
export function MonitorForm() {
  const { id } = useParams()
  const me = useOutletContext<Me>()
  const existing = useQuery({
    queryKey: ['monitor', id],
    enabled: id !== undefined,
    queryFn: async () => unwrap(await api.GET('/api/v1/monitors/{id}', { params: { path: { id: id ?? '' } } })),
  })
  const [form, setForm] = useState<FormState>(EMPTY)
  const [local, setLocal] = useState<FormError | null>(null)
  useEffect(() => {
    if (existing.data) setForm(fromMonitor(existing.data))
  }, [existing.data])
  const client = useQueryClient()
  const navigate = useNavigate()
  const save = useMutation({
    mutationFn: async (body: ReturnType<typeof toInput>) =>
      unwrap(
        id === undefined
          ? await api.POST('/api/v1/monitors', { body })
          : await api.PUT('/api/v1/monitors/{id}', { params: { path: { id } }, body }),
      ),
    onSuccess: async (monitor) => {
      await monitorsChanged(client)
      client.setQueryData(['monitor', monitor.id], monitor)
      navigate(`/monitors/${monitor.id}`)
    },
  })
  if (!mayEdit(me.role)) return <p className="text-slate-600">Viewers cannot create or change monitors.</p>
  if (id !== undefined && existing.isPending) return <p className="text-slate-500">Loading…</p>
  const set = <K extends keyof FormState>(key: K) => (value: FormState[K]) => setForm((f) => ({ ...f, [key]: value }))
  const error = local ?? save.error
  const fieldError = (field: string) => {
    const named = error instanceof FormError || error instanceof ApiError ? error.field : null
    return named && (named === field || named.startsWith(`${field}.`) || named.startsWith(`${field}[`)) ? error?.message : undefined
  }
  const submit = (event: FormEvent) => {
    event.preventDefault()
    try {
      const body = toInput(form)
      setLocal(null)
      save.mutate(body)
    } catch (problem) {
      if (problem instanceof FormError) setLocal(problem)
      else throw problem
    }
  }
  const unnamed = error && !((error instanceof FormError || error instanceof ApiError) && error.field) ? error : null
  const f = form
  return (
    <form onSubmit={submit} className="max-w-3xl space-y-6" noValidate>
      <div className="flex items-center gap-3">
        <h1 className="text-2xl font-semibold">{id === undefined ? 'New monitor' : `Edit ${existing.data?.name ?? ''}`}</h1>
        <Link to={id === undefined ? '/' : `/monitors/${id}`} className="ml-auto text-sm text-teal-700">
          Cancel
        </Link>
      </div>
      <Section title="What to watch">
        <Field label="Name" value={f.name} onChange={set('name')} error={fieldError('name')} />
        <Choice label="Kind" value={f.kind} options={KINDS} onChange={set('kind')} disabled={id !== undefined} />
        {f.kind === 'http' && (
          <>
            <Field label="URL" value={f.url} onChange={set('url')} error={fieldError('spec.url')} placeholder="https://example.com/health" />
            <Choice label="Method" value={f.method} options={METHODS} onChange={set('method')} />
            <Headers form={f} setForm={setForm} error={fieldError('spec.headers')} />
            <Field
              label={f.bodyStored ? 'Body (set; leave empty to keep it)' : 'Body'}
              value={f.body}
              onChange={set('body')}
              error={fieldError('spec.body')}
              multiline
            />
            <Field label="Expected status (empty: 200-399)" value={f.expected_status} onChange={set('expected_status')} error={fieldError('spec.expected_status')} placeholder="200-299, 301" />
            <Field label="Redirects to follow" value={f.follow_redirects} onChange={set('follow_redirects')} error={fieldError('spec.follow_redirects')} />
            <Check label="Verify the TLS certificate" checked={f.verify_tls} onChange={set('verify_tls')} />
            <Field label="Fail when the certificate expires within (days)" value={f.cert_expiry_days} onChange={set('cert_expiry_days')} error={fieldError('spec.cert_expiry_days')} />
            <Assertions form={f} setForm={setForm} error={fieldError('spec.assertions')} />
          </>
        )}
        {(f.kind === 'tcp' || f.kind === 'icmp' || f.kind === 'tls') && (
          <Field label="Host" value={f.host} onChange={set('host')} error={fieldError('spec.host')} />
        )}
        {(f.kind === 'tcp' || f.kind === 'tls') && (
          <Field label={f.kind === 'tls' ? 'Port (default 443)' : 'Port'} value={f.port} onChange={set('port')} error={fieldError('spec.port')} />
        )}
        {f.kind === 'tcp' && (
          <>
            <Field label={f.sendStored ? 'Send (set; leave empty to keep it)' : 'Send'} value={f.send} onChange={set('send')} error={fieldError('spec.send')} />
            <Field label="Expect in the answer" value={f.expect} onChange={set('expect')} error={fieldError('spec.expect')} />
          </>
        )}
        {f.kind === 'icmp' && (
          <>
            <Field label="Pings per check" value={f.count} onChange={set('count')} error={fieldError('spec.count')} />
            <Field label="Loss allowed (%)" value={f.max_loss_percent} onChange={set('max_loss_percent')} error={fieldError('spec.max_loss_percent')} />
          </>
        )}
        {f.kind === 'dns' && (
          <>
            <Field label="Name" value={f.dns_name} onChange={set('dns_name')} error={fieldError('spec.name')} />
            <Choice label="Record type" value={f.record_type} options={RECORDS} onChange={set('record_type')} />
            <Field label="Expected answers (comma separated)" value={f.expected} onChange={set('expected')} error={fieldError('spec.expected')} />
            <Field label="Resolver (empty: public resolvers)" value={f.resolver} onChange={set('resolver')} error={fieldError('spec.resolver')} />
            <Choice label="Expected response code" value={f.expected_rcode} options={['', 'NOERROR', 'NXDOMAIN', 'SERVFAIL', 'REFUSED'] as const} onChange={set('expected_rcode')} />
          </>
        )}
        {f.kind === 'tls' && (
          <>
            <Field label="Fail when the certificate expires within (days)" value={f.expiry_days} onChange={set('expiry_days')} error={fieldError('spec.expiry_days')} />
            <Check label="Verify the host name" checked={f.verify_hostname} onChange={set('verify_hostname')} />
          </>
        )}
        {f.kind === 'heartbeat' && (
          <>
            <Choice label="Schedule" value={f.schedule} options={['period', 'cron'] as const} onChange={set('schedule')} />
            {f.schedule === 'period' ? (
              <Field label="A ping every (s)" value={f.period_s} onChange={set('period_s')} error={fieldError('spec.period_ms')} />
            ) : (
              <>
                <Field label="Cron expression" value={f.cron} onChange={set('cron')} error={fieldError('spec.cron')} placeholder="30 2 * * *" />
                <Field label="Time zone" value={f.timezone} onChange={set('timezone')} error={fieldError('spec.timezone')} />
              </>
            )}
            <Field label="Grace (s)" value={f.grace_s} onChange={set('grace_s')} error={fieldError('spec.grace_ms')} />
          </>
        )}
      </Section>
      {f.kind !== 'heartbeat' && (
        <Section title="How often, from where, and when to alert">
          <Field label="Every (s)" value={f.interval_s} onChange={set('interval_s')} error={fieldError('interval_ms')} />
          <Field label="Timeout (s)" value={f.timeout_s} onChange={set('timeout_s')} error={fieldError('timeout_ms')} />
          <Field
            label="Regions (comma separated; empty: every region)"
            value={f.regions.join(', ')}
            onChange={(text) => setForm((s) => ({ ...s, regions: text.split(',').map((r) => r.trim()).filter(Boolean) }))}
            error={fieldError('regions')}
          />
          <Field label="Failures in a row before a region is down" value={f.confirmations} onChange={set('confirmations')} error={fieldError('confirmations')} />
          <Field label="Successes in a row before it is up again" value={f.recoveries} onChange={set('recoveries')} error={fieldError('recoveries')} />
          <Field label="Regions down before an incident opens (empty: a majority)" value={f.quorum} onChange={set('quorum')} error={fieldError('quorum')} />
        </Section>
      )}
      <Failure error={unnamed} />
      <button type="submit" className={PRIMARY} disabled={save.isPending}>
        {id === undefined ? 'Create monitor' : 'Save'}
      </button>
    </form>
  )
}

type Setter = (update: (f: FormState) => FormState) => void

function Headers({ form, setForm, error }: { form: FormState; setForm: Setter; error?: string | undefined }) {
  const change = (index: number, key: 'name' | 'value', value: string) =>
    setForm((f) => ({ ...f, headers: f.headers.map((h, i) => (i === index ? { ...h, [key]: value } : h)) }))
  return (
    <div className="space-y-2 text-sm">
      <span className="font-medium text-slate-700">Headers (values are write-only)</span>
      {form.headers.map((header, index) => (
        <div key={index} className="flex gap-2">
          <input aria-label={`Header ${index + 1} name`} className="w-1/3 rounded border border-slate-300 px-2 py-1" value={header.name} onChange={(e) => change(index, 'name', e.target.value)} />
          <input
            aria-label={`Header ${index + 1} value`}
            className="flex-1 rounded border border-slate-300 px-2 py-1"
            placeholder={header.stored ? 'set: leave empty to keep it' : 'value'}
            value={header.value}
            onChange={(e) => change(index, 'value', e.target.value)}
          />
          <button type="button" className="text-red-700" onClick={() => setForm((f) => ({ ...f, headers: f.headers.filter((_, i) => i !== index) }))}>
            Remove
          </button>
        </div>
      ))}
      <button type="button" className="rounded border border-slate-300 px-2 py-1" onClick={() => setForm((f) => ({ ...f, headers: [...f.headers, { name: '', value: '', stored: false }] }))}>
        Add header
      </button>
      {error && <span className="block text-red-700">{error}</span>}
    </div>
  )
}

function Assertions({ form, setForm, error }: { form: FormState; setForm: Setter; error?: string | undefined }) {
  const change = (index: number, row: Partial<AssertionRow>) =>
    setForm((f) => ({ ...f, assertions: f.assertions.map((a, i) => (i === index ? { ...a, ...row } : a)) }))
  return (
    <div className="space-y-2 text-sm">
      <span className="font-medium text-slate-700">Assertions</span>
      {form.assertions.map((row, index) => {
        const kind = ASSERTIONS.find((a) => a.type === row.type)
        return (
          <div key={index} className="flex flex-wrap gap-2">
            <select aria-label={`Assertion ${index + 1}`} className="rounded border border-slate-300 bg-white px-2 py-1" value={row.type} onChange={(e) => change(index, { type: e.target.value as AssertionType })}>
              {ASSERTIONS.map((a) => (
                <option key={a.type} value={a.type}>
                  {a.label}
                </option>
              ))}
            </select>
            {kind?.key && <input className="rounded border border-slate-300 px-2 py-1" placeholder={kind.key} value={row.key} onChange={(e) => change(index, { key: e.target.value })} />}
            <input className="flex-1 rounded border border-slate-300 px-2 py-1" placeholder="value" value={row.value} onChange={(e) => change(index, { value: e.target.value })} />
            <button type="button" className="text-red-700" onClick={() => setForm((f) => ({ ...f, assertions: f.assertions.filter((_, i) => i !== index) }))}>
              Remove
            </button>
          </div>
        )
      })}
      <button type="button" className="rounded border border-slate-300 px-2 py-1" onClick={() => setForm((f) => ({ ...f, assertions: [...f.assertions, { type: 'body_contains', key: '', value: '' }] }))}>
        Add assertion
      </button>
      {error && <span className="block text-red-700">{error}</span>}
    </div>
  )
}
