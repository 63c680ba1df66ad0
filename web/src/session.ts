// Who is signed in: the API answers it (the session cookie is HttpOnly, so
// the app cannot read it), and every page follows that one query.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, ApiError, unwrap, type Me, type Role } from './api/client'

export const SESSION_KEY = ['session'] as const

/** Who the API says is signed in, `null` for nobody. */
export async function fetchSession(): Promise<Me | null> {
  try {
    return unwrap(await api.GET('/api/v1/session'))
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null
    throw error
  }
}

/** The session, `null` when nobody is signed in. */
export function useSession() {
  return useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: 60_000 })
}

const RANK: Record<Role, number> = { owner: 0, admin: 1, member: 2, viewer: 3 }

/** Monitors, maintenance windows, incident updates. */
export function mayEdit(role: Role | undefined): boolean {
  return role !== undefined && RANK[role] <= RANK.member
}

/** Channels, tokens, members. */
export function mayAdminister(role: Role | undefined): boolean {
  return role !== undefined && RANK[role] <= RANK.admin
}

/** Signs out: the server revokes the session, then every cached answer goes. */
export function useSignOut() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: async () => {
      const answer = await api.POST('/api/v1/logout')
      if (!answer.response.ok && answer.response.status !== 401) unwrap(answer)
    },
    onSettled: () => {
      client.clear()
      client.setQueryData(SESSION_KEY, null)
    },
  })
}

/** Switches to another team of the user's. */
export function useSwitchTeam() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: async (team: string) => {
      unwrap(await api.POST('/api/v1/session/team', { body: { team, cookie: true } }))
    },
    onSuccess: async () => {
      const me = await fetchSession()
      client.clear()
      client.setQueryData(SESSION_KEY, me)
    },
  })
}
