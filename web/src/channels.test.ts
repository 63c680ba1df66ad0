import { describe, expect, it } from 'vitest'
import { channelToForm, emptyChannel, FormError, formToSettings, relinks, remindOf, type Channel } from './channels'

const saved: Channel = {
  id: 'c1',
  name: 'Ops mail',
  kind: 'email',
  settings: { to: ['a@example.com', 'b@example.com'], from: 'x@example.com', smtp_host: 'smtp.example.com', smtp_port: 465, security: 'tls' },
  secrets_set: ['password'],
  enabled: true,
  remind_every_minutes: 30,
  created_at_ms: 0,
}

describe('the channel form', () => {
  it('shows a saved channel’s public settings and never a secret', () => {
    const form = channelToForm(saved)
    expect(form.values).toEqual({
      to: 'a@example.com\nb@example.com',
      from: 'x@example.com',
      smtp_host: 'smtp.example.com',
      smtp_port: '465',
      security: 'tls',
    })
    expect(form.remind).toBe('30')
    expect(form.values.password).toBeUndefined()
  })

  it('leaves an empty secret out on an edit, so the stored one is kept', () => {
    const form = channelToForm(saved)
    expect(formToSettings(form, true)).toEqual(saved.settings)
    expect(formToSettings({ ...form, values: { ...form.values, password: ' new ' } }, true).password).toBe('new')
  })

  it('asks for a required secret on a new channel, naming the API’s field', () => {
    const form = { ...emptyChannel('discord'), name: 'Chat' }
    expect(() => formToSettings(form, false)).toThrowError(FormError)
    try {
      formToSettings(form, false)
    } catch (error) {
      expect((error as FormError).field).toBe('settings.webhook_url')
    }
    expect(formToSettings(form, true)).toEqual({})
  })

  it('reads lists, numbers and headers', () => {
    const form = { ...emptyChannel('webhook'), values: { url: 'https://h.example/x', signing_secret: 's'.repeat(16), headers: 'Authorization: Bearer a:b\n\nX-Team: ops' } }
    expect(formToSettings(form, false)).toEqual({
      url: 'https://h.example/x',
      signing_secret: 's'.repeat(16),
      headers: { Authorization: 'Bearer a:b', 'X-Team': 'ops' },
    })
    expect(() => formToSettings({ ...form, values: { ...form.values, headers: 'no colon' } }, false)).toThrowError(/Name: value/)
    const ntfy = { ...emptyChannel('ntfy'), values: { topic_url: 'https://ntfy.sh/t', priority: 'high' } }
    expect(() => formToSettings(ntfy, false)).toThrowError(/whole number/)
    const mail = { ...emptyChannel('email'), values: { to: 'a@x.example, b@x.example\nc@x.example', from: 'f@x.example', smtp_host: 'h' } }
    expect(formToSettings(mail, false).to).toEqual(['a@x.example', 'b@x.example', 'c@x.example'])
  })

  it('checks the reminder period', () => {
    expect(remindOf({ ...emptyChannel(), remind: '' })).toBeNull()
    expect(remindOf({ ...emptyChannel(), remind: '15' })).toBe(15)
    expect(() => remindOf({ ...emptyChannel(), remind: '0' })).toThrowError(FormError)
    expect(() => remindOf({ ...emptyChannel(), remind: '20000' })).toThrowError(FormError)
  })
})

describe('linking a channel to monitors', () => {
  const monitors = [
    { id: 'm1', channel_ids: ['c1', 'c2'] },
    { id: 'm2', channel_ids: [] },
    { id: 'm3', channel_ids: ['c2'] },
  ]

  it('changes only the monitors whose link changed, keeping their other channels', () => {
    expect(relinks('c1', monitors, new Set(['m2', 'm3']))).toEqual([
      { id: 'm1', channel_ids: ['c2'] },
      { id: 'm2', channel_ids: ['c1'] },
      { id: 'm3', channel_ids: ['c2', 'c1'] },
    ])
    expect(relinks('c1', monitors, new Set(['m1']))).toEqual([])
  })
})
