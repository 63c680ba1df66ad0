// The monitor form's state (strings, as inputs hold them) and its
// conversion to and from the API's MonitorInput, as pure functions (Vitest).
import type { Monitor, MonitorSpec, Schemas } from './api/client'
import type { Kind } from './monitors'

type Input = Schemas['MonitorInput']
type Assertion = Schemas['Assertion']
export type AssertionType = Assertion['type']

export interface HeaderRow {
  name: string
  /** Empty on an edit: the stored value is kept. */
  value: string
  /** Whether a value is stored (edit only). */
  stored: boolean
}

export interface AssertionRow {
  type: AssertionType
  /** Header name, or JSON pointer. */
  key: string
  value: string
}

export interface FormState {
  name: string
  kind: Kind
  interval_s: string
  timeout_s: string
  regions: string[]
  confirmations: string
  recoveries: string
  quorum: string
  url: string
  method: Schemas['HttpMethod']
  headers: HeaderRow[]
  body: string
  bodyStored: boolean
  expected_status: string
  follow_redirects: string
  verify_tls: boolean
  cert_expiry_days: string
  assertions: AssertionRow[]
  host: string
  port: string
  send: string
  sendStored: boolean
  expect: string
  count: string
  max_loss_percent: string
  dns_name: string
  record_type: Schemas['DnsRecordType']
  expected: string
  resolver: string
  expected_rcode: Schemas['DnsResponseCode'] | ''
  expiry_days: string
  verify_hostname: boolean
  schedule: 'period' | 'cron'
  period_s: string
  cron: string
  timezone: string
  grace_s: string
}

export const EMPTY: FormState = {
  name: '',
  kind: 'http',
  interval_s: '60',
  timeout_s: '10',
  regions: [],
  confirmations: '2',
  recoveries: '1',
  quorum: '',
  url: '',
  method: 'GET',
  headers: [],
  body: '',
  bodyStored: false,
  expected_status: '',
  follow_redirects: '3',
  verify_tls: true,
  cert_expiry_days: '',
  assertions: [],
  host: '',
  port: '',
  send: '',
  sendStored: false,
  expect: '',
  count: '3',
  max_loss_percent: '0',
  dns_name: '',
  record_type: 'A',
  expected: '',
  resolver: '',
  expected_rcode: '',
  expiry_days: '14',
  verify_hostname: true,
  schedule: 'period',
  period_s: '3600',
  cron: '',
  timezone: 'UTC',
  grace_s: '300',
}

/** A value the form cannot send, named by the API field it would fill. */
export class FormError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message)
  }
}

function int(text: string, field: string, scale = 1): number {
  const value = Number(text.trim())
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) throw new FormError(field, 'a number, 0 or more')
  return Math.round(value * scale)
}

function optionalInt(text: string, field: string): number | undefined {
  return text.trim() === '' ? undefined : int(text, field)
}

/** `200-299, 301` as status ranges. */
export function parseStatuses(text: string): Schemas['StatusRange'][] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [low, high = low] = part.split('-').map((n) => n.trim())
      const min = Number(low)
      const max = Number(high)
      if (!Number.isInteger(min) || !Number.isInteger(max) || min < 100 || max > 599 || min > max) {
        throw new FormError('spec.expected_status', `"${part}" is not a status or a range like 200-299`)
      }
      return { min, max }
    })
}

export function formatStatuses(ranges: Schemas['StatusRange'][] | undefined): string {
  return (ranges ?? []).map((r) => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`)).join(', ')
}

function assertion(row: AssertionRow, index: number): Assertion {
  const field = `spec.assertions[${index}]`
  switch (row.type) {
    case 'body_contains':
    case 'body_not_contains':
      return { type: row.type, value: row.value }
    case 'header_equals':
    case 'header_contains':
      return { type: row.type, name: row.key, value: row.value }
    case 'json_pointer_equals': {
      let value: unknown = row.value
      try {
        value = JSON.parse(row.value)
      } catch {
        // Not JSON: compared as the string it is.
      }
      return { type: row.type, pointer: row.key, value }
    }
    case 'response_time_below':
      return { type: row.type, max_ms: int(row.value, field) }
  }
}

function spec(form: FormState): MonitorSpec {
  switch (form.kind) {
    case 'http':
      return {
        kind: 'http',
        url: form.url.trim(),
        method: form.method,
        // An empty value on an edit keeps the stored one (left out).
        headers: form.headers
          .filter((h) => h.name.trim())
          .map((h) => (h.value === '' && h.stored ? { name: h.name.trim() } : { name: h.name.trim(), value: h.value })),
        ...(form.body !== '' ? { body: form.body } : {}),
        expected_status: parseStatuses(form.expected_status),
        follow_redirects: int(form.follow_redirects, 'spec.follow_redirects'),
        verify_tls: form.verify_tls,
        cert_expiry_days: optionalInt(form.cert_expiry_days, 'spec.cert_expiry_days') ?? null,
        assertions: form.assertions.map(assertion),
      }
    case 'tcp':
      return {
        kind: 'tcp',
        host: form.host.trim(),
        port: int(form.port, 'spec.port'),
        ...(form.send !== '' ? { send: form.send } : {}),
        expect: form.expect === '' ? null : form.expect,
      }
    case 'icmp':
      return {
        kind: 'icmp',
        host: form.host.trim(),
        count: int(form.count, 'spec.count'),
        max_loss_percent: int(form.max_loss_percent, 'spec.max_loss_percent'),
      }
    case 'dns':
      return {
        kind: 'dns',
        name: form.dns_name.trim(),
        record_type: form.record_type,
        expected: form.expected
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        resolver: form.resolver.trim() || null,
        expected_rcode: form.expected_rcode || null,
      }
    case 'tls':
      return {
        kind: 'tls',
        host: form.host.trim(),
        port: optionalInt(form.port, 'spec.port') ?? 443,
        expiry_days: int(form.expiry_days, 'spec.expiry_days'),
        verify_hostname: form.verify_hostname,
      }
    case 'heartbeat':
      return form.schedule === 'cron'
        ? { kind: 'heartbeat', cron: form.cron.trim(), timezone: form.timezone.trim() || null, grace_ms: int(form.grace_s, 'spec.grace_ms', 1000) }
        : { kind: 'heartbeat', period_ms: int(form.period_s, 'spec.period_ms', 1000), grace_ms: int(form.grace_s, 'spec.grace_ms', 1000) }
  }
}

/** The request body; a FormError names what cannot be sent. */
export function toInput(form: FormState): Input {
  const probed = form.kind !== 'heartbeat'
  return {
    name: form.name,
    spec: spec(form),
    ...(probed
      ? {
          interval_ms: int(form.interval_s, 'interval_ms', 1000),
          timeout_ms: int(form.timeout_s, 'timeout_ms', 1000),
          ...(form.regions.length ? { regions: form.regions } : {}),
          confirmations: int(form.confirmations, 'confirmations'),
          recoveries: int(form.recoveries, 'recoveries'),
          quorum: optionalInt(form.quorum, 'quorum') ?? null,
        }
      : {}),
  }
}

/** The form of an existing monitor; stored secrets show as set, not their values. */
export function fromMonitor(monitor: Monitor): FormState {
  const s = monitor.spec
  const secret = new Set(monitor.secrets_set)
  const form: FormState = {
    ...EMPTY,
    name: monitor.name,
    kind: s.kind,
    interval_s: `${monitor.interval_ms / 1000}`,
    timeout_s: `${monitor.timeout_ms / 1000}`,
    regions: [...monitor.regions],
    confirmations: `${monitor.confirmations}`,
    recoveries: `${monitor.recoveries}`,
    quorum: `${monitor.quorum}`,
  }
  switch (s.kind) {
    case 'http':
      return {
        ...form,
        url: s.url,
        method: s.method ?? 'GET',
        headers: (s.headers ?? []).map((h, i) => ({ name: h.name, value: '', stored: secret.has(`spec.headers[${i}].value`) })),
        bodyStored: secret.has('spec.body'),
        expected_status: formatStatuses(s.expected_status),
        follow_redirects: `${s.follow_redirects ?? 3}`,
        verify_tls: s.verify_tls ?? true,
        cert_expiry_days: s.cert_expiry_days == null ? '' : `${s.cert_expiry_days}`,
        assertions: (s.assertions ?? []).map((a): AssertionRow => {
          switch (a.type) {
            case 'body_contains':
            case 'body_not_contains':
              return { type: a.type, key: '', value: a.value }
            case 'header_equals':
            case 'header_contains':
              return { type: a.type, key: a.name, value: a.value }
            case 'json_pointer_equals':
              return { type: a.type, key: a.pointer, value: JSON.stringify(a.value) }
            case 'response_time_below':
              return { type: a.type, key: '', value: `${a.max_ms}` }
          }
        }),
      }
    case 'tcp':
      return { ...form, host: s.host, port: `${s.port}`, sendStored: secret.has('spec.send'), expect: s.expect ?? '' }
    case 'icmp':
      return { ...form, host: s.host, count: `${s.count ?? 3}`, max_loss_percent: `${s.max_loss_percent ?? 0}` }
    case 'dns':
      return {
        ...form,
        dns_name: s.name,
        record_type: s.record_type,
        expected: (s.expected ?? []).join(', '),
        resolver: s.resolver ?? '',
        expected_rcode: s.expected_rcode ?? '',
      }
    case 'tls':
      return { ...form, host: s.host, port: `${s.port ?? 443}`, expiry_days: `${s.expiry_days ?? 14}`, verify_hostname: s.verify_hostname ?? true }
    case 'heartbeat':
      return {
        ...form,
        schedule: s.cron ? 'cron' : 'period',
        cron: s.cron ?? '',
        timezone: s.timezone ?? 'UTC',
        period_s: s.period_ms == null ? EMPTY.period_s : `${s.period_ms / 1000}`,
        grace_s: `${s.grace_ms / 1000}`,
      }
  }
}
