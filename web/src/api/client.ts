// The typed API client: every call goes through openapi-fetch with the
// types generated from the API's own OpenAPI document (schema.d.ts, made by
// `npm run gen:api`; never edited by hand).
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

export type Schemas = components['schemas']
export type Monitor = Schemas['Monitor']
/** A monitor as the overview lists it. */
export type MonitorSummary = Schemas['MonitorOverview']
export type MonitorSpec = Schemas['MonitorSpec']
export type CheckResult = Schemas['CheckResult']
export type Me = Schemas['Me']
export type Role = Schemas['Role']
export type ErrorDetail = Schemas['ErrorDetail']

/** The header that proves a cookie-authenticated request comes from this app. */
export const CSRF_HEADER = 'x-statushawk-csrf'

/** An answer that is not a success, with the API's own explanation. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly field: string | null

  constructor(status: number, detail: ErrorDetail | undefined) {
    super(detail?.message ?? `the API answered ${status}`)
    this.status = status
    this.code = detail?.code ?? 'unknown'
    this.field = detail?.field ?? null
  }

  /** What to tell a person: a refused permission is said plainly. */
  get forPeople(): string {
    if (this.status === 403) return `You are not allowed to do this: ${this.message}`
    return this.message
  }
}

const csrf: Middleware = {
  onRequest({ request }) {
    request.headers.set(CSRF_HEADER, '1')
    return request
  },
}

/** The client: same origin, the session cookie, the CSRF header. */
export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' })
api.use(csrf)

/**
 * The data of an openapi-fetch answer, or an ApiError.
 * Usage: `unwrap(await api.GET('/api/v1/monitors'))`.
 */
export function unwrap<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.error !== undefined || !answer.response.ok) {
    const body = answer.error as { error?: ErrorDetail } | undefined
    throw new ApiError(answer.response.status, body?.error)
  }
  return answer.data as T
}
