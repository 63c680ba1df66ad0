import { describe, expect, it } from 'vitest'
import { ago, curlExample, EXPIRY_CHOICES, expiresInDays, expiry, grantable, mayChangeRole, soleOwner } from './team'

describe('roles', () => {
  it('only owners grant ownership; members and viewers grant nothing', () => {
    expect(grantable('owner')).toEqual(['owner', 'admin', 'member', 'viewer'])
    expect(grantable('admin')).toEqual(['admin', 'member', 'viewer'])
    expect(grantable('member')).toEqual([])
    expect(grantable('viewer')).toEqual([])
    expect(grantable(undefined)).toEqual([])
  })
  it("an admin cannot change an owner's role", () => {
    expect(mayChangeRole('admin', 'owner')).toBe(false)
    expect(mayChangeRole('admin', 'admin')).toBe(true)
    expect(mayChangeRole('admin', 'viewer')).toBe(true)
    expect(mayChangeRole('owner', 'owner')).toBe(true)
    expect(mayChangeRole('member', 'viewer')).toBe(false)
    expect(mayChangeRole(undefined, 'viewer')).toBe(false)
  })
  it('the only owner is kept; one of two owners is not', () => {
    const one = [{ role: 'owner' as const }, { role: 'admin' as const }]
    expect(soleOwner(one, one[0]!)).toBe(true)
    expect(soleOwner(one, one[1]!)).toBe(false)
    const two = [{ role: 'owner' as const }, { role: 'owner' as const }]
    expect(soleOwner(two, two[0]!)).toBe(false)
  })
})

describe('token lifetimes', () => {
  it('maps each choice to the days the API takes, never to none', () => {
    expect(EXPIRY_CHOICES.map(expiresInDays)).toEqual([30, 90, 365, null])
  })
})

describe('links and times', () => {
  it('shows a new token in a curl call of the monitors', () => {
    expect(curlExample('https://status.example/', 'sh_abc')).toBe('curl -H "Authorization: Bearer sh_abc" https://status.example/api/v1/monitors')
  })
  it('says how long ago, with an injected now', () => {
    const now = 1_800_000_000_000
    expect(ago(null, now)).toBe('never')
    expect(ago(undefined, now)).toBe('never')
    expect(ago(now - 20_000, now)).toBe('just now')
    expect(ago(now - 5 * 60_000, now)).toBe('5 min ago')
    expect(ago(now - 3 * 3_600_000 - 1, now)).toBe('3 h ago')
    expect(ago(now - 2 * 86_400_000, now)).toBe('2 d ago')
    expect(ago(now + 3 * 86_400_000, now)).toBe('in 3 d')
  })
  it('says when something expires, or that it has', () => {
    const now = 1_800_000_000_000
    expect(expiry(null, now)).toBe('never expires')
    expect(expiry(now + 29 * 86_400_000 + 5_000, now)).toBe('expires in 29 d')
    expect(expiry(now - 2 * 3_600_000, now)).toBe('expired 2 h ago')
  })
})
