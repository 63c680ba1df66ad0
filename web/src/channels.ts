// The channel form: each kind's settings as form fields, and the
// conversion between the form's strings and the API's `settings` object, as
// pure functions (Vitest). The API takes `settings` as free JSON checked by
// the notifier (notifier/src/channels/<kind>.rs), so the fields are
// described here; which ones are secret the API also says (`secrets_set`).
import type { Schemas } from './api/client'
import { FormError } from './monitorForm'

export { FormError }

export type Channel = Schemas['Channel']

export const CHANNEL_KINDS = ['email', 'webhook', 'slack', 'discord', 'teams', 'telegram', 'pagerduty', 'ntfy'] as const
export type ChannelKind = (typeof CHANNEL_KINDS)[number]

export const KIND_LABEL: Record<ChannelKind, string> = {
  email: 'E-mail',
  webhook: 'Webhook',
  slack: 'Slack',
  discord: 'Discord',
  teams: 'Microsoft Teams',
  telegram: 'Telegram',
  pagerduty: 'PagerDuty',
  ntfy: 'ntfy',
}

/** The kinds whose provider can say whether a webhook still exists. */
export const VERIFIABLE: ReadonlySet<string> = new Set(['discord', 'slack'])

type FieldType =
  | 'text'
  | 'url'
  | 'number'
  /** One value per line (or comma-separated): a list of strings. */
  | 'list'
  /** `Name: value` per line: an object of strings. */
  | 'headers'
  | { options: string[] }

export interface SettingField {
  name: string
  label: string
  type: FieldType
  /** Stored encrypted, never answered: empty on an edit keeps it. */
  secret?: boolean
  required?: boolean
  placeholder?: string
  help?: string
}

export const FIELDS: Record<ChannelKind, SettingField[]> = {
  email: [
    { name: 'to', label: 'Recipients', type: 'list', required: true, placeholder: 'oncall@example.com', help: 'One address per line.' },
    { name: 'from', label: 'From', type: 'text', required: true, placeholder: 'StatusHawk <alerts@example.com>' },
    { name: 'smtp_host', label: 'SMTP server', type: 'text', required: true, placeholder: 'smtp.example.com' },
    { name: 'smtp_port', label: 'SMTP port', type: 'number', placeholder: '587, 465 or 25 by security' },
    { name: 'security', label: 'Security', type: { options: ['starttls', 'tls', 'none'] } },
    { name: 'username', label: 'SMTP user', type: 'text', help: 'Empty: no authentication.' },
    { name: 'password', label: 'SMTP password', type: 'text', secret: true },
  ],
  webhook: [
    { name: 'url', label: 'Webhook URL', type: 'url', secret: true, required: true, placeholder: 'https://example.com/hooks/statushawk' },
    {
      name: 'signing_secret',
      label: 'Signing secret',
      type: 'text',
      secret: true,
      required: true,
      help: 'At least 16 characters: the HMAC key of the X-StatusHawk-Signature header.',
    },
    { name: 'headers', label: 'Extra headers', type: 'headers', secret: true, placeholder: 'Authorization: Bearer …', help: 'One "Name: value" per line.' },
  ],
  slack: [{ name: 'webhook_url', label: 'Webhook URL', type: 'url', secret: true, required: true, placeholder: 'https://hooks.slack.com/services/…' }],
  discord: [{ name: 'webhook_url', label: 'Webhook URL', type: 'url', secret: true, required: true, placeholder: 'https://discord.com/api/webhooks/…' }],
  teams: [{ name: 'webhook_url', label: 'Webhook URL', type: 'url', secret: true, required: true, placeholder: 'The workflow’s webhook URL' }],
  telegram: [
    { name: 'bot_token', label: 'Bot token', type: 'text', secret: true, required: true, help: 'From @BotFather.' },
    { name: 'chat_id', label: 'Chat', type: 'text', required: true, placeholder: '-1001234567890 or @channel' },
    { name: 'api_url', label: 'Bot API address', type: 'url', placeholder: 'https://api.telegram.org' },
  ],
  pagerduty: [
    { name: 'routing_key', label: 'Routing key', type: 'text', secret: true, required: true, help: 'The service integration’s key (Events API v2).' },
    { name: 'severity', label: 'Severity', type: { options: ['critical', 'error', 'warning', 'info'] } },
    { name: 'events_url', label: 'Events API address', type: 'url', placeholder: 'https://events.pagerduty.com/v2/enqueue' },
  ],
  ntfy: [
    { name: 'topic_url', label: 'Topic URL', type: 'url', secret: true, required: true, placeholder: 'https://ntfy.sh/my-secret-topic' },
    { name: 'priority', label: 'Priority when down (1–5)', type: 'number', placeholder: '4' },
    { name: 'access_token', label: 'Access token', type: 'text', secret: true, help: 'For a protected topic.' },
  ],
}

export interface ChannelFormState {
  name: string
  kind: ChannelKind
  enabled: boolean
  remind: string
  /** Each field's text, by name. */
  values: Record<string, string>
}

export function isKind(kind: string): kind is ChannelKind {
  return (CHANNEL_KINDS as readonly string[]).includes(kind)
}

export function emptyChannel(kind: ChannelKind = 'webhook'): ChannelFormState {
  return { name: '', kind, enabled: true, remind: '', values: {} }
}

/** A saved channel in the form: public settings as text, secrets empty. */
export function channelToForm(channel: Channel): ChannelFormState {
  const kind = isKind(channel.kind) ? channel.kind : 'webhook'
  const settings = (channel.settings ?? {}) as Record<string, unknown>
  const values: Record<string, string> = {}
  for (const field of FIELDS[kind]) {
    if (field.secret) continue
    const value = settings[field.name]
    if (value === undefined || value === null) continue
    values[field.name] = Array.isArray(value) ? value.join('\n') : String(value)
  }
  return {
    name: channel.name,
    kind,
    enabled: channel.enabled,
    remind: channel.remind_every_minutes == null ? '' : String(channel.remind_every_minutes),
    values,
  }
}

function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    const colon = line.indexOf(':')
    if (colon <= 0) throw new FormError('settings.headers', `"${line.trim()}" is not "Name: value"`)
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim()
  }
  return headers
}

/**
 * The API's `settings` from the form. On an edit (`editing`), a secret
 * left empty is left out, so the API keeps the stored one; public fields
 * left empty are left out and take their defaults.
 */
export function formToSettings(form: ChannelFormState, editing: boolean): Record<string, unknown> {
  const settings: Record<string, unknown> = {}
  for (const field of FIELDS[form.kind]) {
    const text = (form.values[field.name] ?? '').trim()
    if (!text) {
      if (field.required && !(field.secret && editing)) throw new FormError(`settings.${field.name}`, `${field.label} is needed`)
      continue
    }
    if (field.type === 'number') {
      const number = Number(text)
      if (!Number.isInteger(number) || number < 0) throw new FormError(`settings.${field.name}`, 'a whole number')
      settings[field.name] = number
    } else if (field.type === 'list') {
      settings[field.name] = text
        .split(/[\n,]/)
        .map((item) => item.trim())
        .filter(Boolean)
    } else if (field.type === 'headers') {
      settings[field.name] = parseHeaders(text)
    } else {
      settings[field.name] = text
    }
  }
  return settings
}

/** The reminder period, `null` for none. */
export function remindOf(form: ChannelFormState): number | null {
  const text = form.remind.trim()
  if (!text) return null
  const minutes = Number(text)
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 10_080) {
    throw new FormError('remind_every_minutes', 'between 1 and 10080 minutes')
  }
  return minutes
}

/**
 * The monitors to relink when a channel's set of monitors changes: each
 * monitor whose membership differs, with its new channel list.
 */
export function relinks(
  channelId: string,
  monitors: { id: string; channel_ids: string[] }[],
  chosen: ReadonlySet<string>,
): { id: string; channel_ids: string[] }[] {
  const changes: { id: string; channel_ids: string[] }[] = []
  for (const monitor of monitors) {
    const linked = monitor.channel_ids.includes(channelId)
    const wanted = chosen.has(monitor.id)
    if (linked === wanted) continue
    changes.push({
      id: monitor.id,
      channel_ids: wanted ? [...monitor.channel_ids, channelId] : monitor.channel_ids.filter((id) => id !== channelId),
    })
  }
  return changes
}
