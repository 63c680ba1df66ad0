// The overview's one request: every monitor of the team with its last 24
// hours. main.tsx asks it while the session is still being asked (the page
// would otherwise wait for one answer before asking the other).
import type { QueryClient } from '@tanstack/react-query'
import { api, unwrap } from './api/client'

export const OVERVIEW_KEY = ['overview'] as const

export const overviewQuery = {
  queryKey: OVERVIEW_KEY,
  queryFn: async () => unwrap(await api.GET('/api/v1/overview')),
  // The answer asked at start-up is still fresh when the page mounts; a
  // change made in the app asks again (monitorsChanged), and so does the
  // live feed when it brings news.
  staleTime: 15_000,
}

/** A monitor was added, changed or removed: the lists that show it ask again. */
export function monitorsChanged(client: QueryClient): Promise<unknown> {
  return Promise.all([
    client.invalidateQueries({ queryKey: ['monitors'] }),
    client.invalidateQueries({ queryKey: OVERVIEW_KEY }),
  ])
}
