// The team's live results (`/api/v1/live`, server-sent events with the
// session cookie). EventSource reconnects by itself after a drop.
import { useEffect, useState } from 'react'
import type { CheckResult } from './api/client'
import { recordResult, type Latest } from './monitors'

/** The latest result of each monitor seen since the page opened. */
export function useLiveResults(onResult?: (result: CheckResult) => void): { latest: Latest; connected: boolean } {
  const [latest, setLatest] = useState<Latest>(() => new Map())
  const [connected, setConnected] = useState(false)
  useEffect(() => {
    const source = new EventSource('/api/v1/live')
    source.onopen = () => setConnected(true)
    source.onerror = () => setConnected(false)
    source.addEventListener('result', (event) => {
      const result = JSON.parse((event as MessageEvent<string>).data) as CheckResult
      setLatest((known) => recordResult(known, result))
      onResult?.(result)
    })
    return () => source.close()
    // The handler is read when a result arrives; reconnecting for a new one is not needed.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [])
  return { latest, connected }
}
