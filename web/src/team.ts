// Members, invitations and API tokens as pure functions (Vitest): which
// roles a person may hand out, a token's expiry choice as the API takes it,
// a new token's curl example, and "3 h ago".
import type { Role, Schemas } from './api/client'

export const ROLES: readonly Role[] = ['owner', 'admin', 'member', 'viewer']

export const ROLE_HELP: Record<Role, string> = {
  owner: 'everything, ownership too',
  admin: 'channels, members and tokens too',
  member: 'monitors, maintenance, incidents and status pages',
  viewer: 'reads only',
}

/**
 * The roles `acting` may give (to a member, an invitation or a token), as
 * the API's `may_grant` and `create_token` allow: only an owner grants
 * ownership, a token never has more power than its creator, and members and
 * viewers give nothing.
 */
export function grantable(acting: Role | undefined): Role[] {
  if (acting === 'owner') return [...ROLES]
  if (acting === 'admin') return ['admin', 'member', 'viewer']
  return []
}

/** A member's role may be changed (or the member removed) by `acting`: an owner's only by an owner. */
export function mayChangeRole(acting: Role | undefined, theirs: Role): boolean {
  if (acting === 'owner') return true
  return acting === 'admin' && theirs !== 'owner'
}

type Ranked = Pick<Schemas['Member'], 'role'>

/** Whether `member` is the team's only owner: the API keeps them an owner, and in the team. */
export function soleOwner(members: readonly Ranked[], member: Ranked): boolean {
  return member.role === 'owner' && members.filter((m) => m.role === 'owner').length === 1
}

/** The lifetimes a new token may be given, as the form offers them. */
export const EXPIRY_CHOICES = ['30 days', '90 days', '1 year', 'never'] as const
export type ExpiryChoice = (typeof EXPIRY_CHOICES)[number]

const EXPIRY_DAYS: Record<ExpiryChoice, number | null> = { '30 days': 30, '90 days': 90, '1 year': 365, never: null }

/** A lifetime choice as `NewToken.expires_in_days` takes it (`null`: it does not expire). */
export function expiresInDays(choice: ExpiryChoice): number | null {
  return EXPIRY_DAYS[choice]
}

/** How a program calls the API with a new token: listing the team's monitors. */
export function curlExample(origin: string, token: string): string {
  return `curl -H "Authorization: Bearer ${token}" ${origin.replace(/\/+$/, '')}/api/v1/monitors`
}

/** `just now`, `5 min ago`, `3 h ago`, `2 d ago`; `never` for none; `in 3 d` ahead. */
export function ago(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined) return 'never'
  const seconds = Math.round((now - ms) / 1000)
  const ahead = seconds < 0
  const s = Math.abs(seconds)
  const text = s < 60 ? null : s < 3600 ? `${Math.floor(s / 60)} min` : s < 86_400 ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 86_400)} d`
  if (text === null) return 'just now'
  return ahead ? `in ${text}` : `${text} ago`
}

/** `expires in 29 d`, `expired 2 d ago`, or `never expires` for none. */
export function expiry(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined) return 'never expires'
  return ms > now ? `expires ${ago(ms, now)}` : `expired ${ago(ms, now)}`
}
