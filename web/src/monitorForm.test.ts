import { describe, expect, it } from 'vitest'
import type { Monitor } from './api/client'
import { EMPTY, FormError, fromMonitor, parseStatuses, toInput } from './monitorForm'

describe('toInput', () => {
  it('builds an HTTP monitor with headers, statuses and assertions', () => {
    const input = toInput({
      ...EMPTY,
      name: 'Checkout',
      url: ' https://shop.example/health ',
      method: 'POST',
      headers: [{ name: 'Authorization', value: 'Bearer s3cret', stored: false }, { name: ' ', value: 'x', stored: false }],
      body: '{"ping":1}',
      expected_status: '200-299, 301',
      assertions: [
        { type: 'json_pointer_equals', key: '/ok', value: 'true' },
        { type: 'json_pointer_equals', key: '/name', value: 'not json' },
        { type: 'response_time_below', key: '', value: '800' },
      ],
      regions: ['eu-west'],
      interval_s: '30',
      timeout_s: '5',
    })
    expect(input).toMatchObject({
      name: 'Checkout',
      interval_ms: 30000,
      timeout_ms: 5000,
      regions: ['eu-west'],
      quorum: null,
      spec: {
        kind: 'http',
        url: 'https://shop.example/health',
        method: 'POST',
        headers: [{ name: 'Authorization', value: 'Bearer s3cret' }],
        body: '{"ping":1}',
        expected_status: [
          { min: 200, max: 299 },
          { min: 301, max: 301 },
        ],
        assertions: [
          { type: 'json_pointer_equals', pointer: '/ok', value: true },
          { type: 'json_pointer_equals', pointer: '/name', value: 'not json' },
          { type: 'response_time_below', max_ms: 800 },
        ],
      },
    })
  })

  it('leaves stored secrets out, so the API keeps them', () => {
    const input = toInput({ ...EMPTY, name: 'x', url: 'https://a.example', headers: [{ name: 'X-Key', value: '', stored: true }], bodyStored: true })
    expect(input.spec).toMatchObject({ headers: [{ name: 'X-Key' }] })
    expect(input.spec).not.toHaveProperty('body')
    expect((input.spec as { headers: object[] }).headers[0]).not.toHaveProperty('value')
  })

  it('builds heartbeats by period or cron, without probe settings', () => {
    expect(toInput({ ...EMPTY, name: 'backup', kind: 'heartbeat', period_s: '86400', grace_s: '600' })).toEqual({
      name: 'backup',
      spec: { kind: 'heartbeat', period_ms: 86_400_000, grace_ms: 600_000 },
    })
    expect(toInput({ ...EMPTY, name: 'b', kind: 'heartbeat', schedule: 'cron', cron: '30 2 * * *', timezone: 'Europe/Berlin' }).spec).toEqual({
      kind: 'heartbeat',
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      grace_ms: 300_000,
    })
  })

  it('names the field a value cannot fill', () => {
    expect(() => toInput({ ...EMPTY, kind: 'tcp', host: 'db', port: 'five' })).toThrow(FormError)
    try {
      toInput({ ...EMPTY, kind: 'tcp', host: 'db', port: 'five' })
    } catch (error) {
      expect((error as FormError).field).toBe('spec.port')
    }
    expect(() => parseStatuses('200-199')).toThrow(/range/)
  })
})

describe('fromMonitor', () => {
  it('shows stored secrets as set, never their values, and round-trips', () => {
    const monitor = {
      id: 'm',
      team_id: 't',
      name: 'API',
      spec: { kind: 'http', url: 'https://api.example', headers: [{ name: 'Authorization' }], expected_status: [{ min: 200, max: 204 }] },
      interval_ms: 60000,
      timeout_ms: 10000,
      regions: ['eu-west', 'us-east'],
      confirmations: 2,
      recoveries: 1,
      quorum: 2,
      paused: false,
      updated_at_ms: 0,
      secrets_set: ['spec.headers[0].value'],
      channel_ids: [],
      created_at_ms: 0,
    } as unknown as Monitor
    const form = fromMonitor(monitor)
    expect(form.headers).toEqual([{ name: 'Authorization', value: '', stored: true }])
    expect(form.expected_status).toBe('200-204')
    expect(toInput(form)).toMatchObject({ quorum: 2, regions: ['eu-west', 'us-east'], spec: { headers: [{ name: 'Authorization' }] } })
  })
})
