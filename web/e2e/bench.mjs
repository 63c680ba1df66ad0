// The browser half of `statushawk bench dashboard`, which seeds a team and
// serves the app, then runs this and reads one JSON object from stdout:
//
//   node e2e/bench.mjs <base url> <email> <password> <runs> [monitors]
//
// Each run uses a fresh browser context (empty cache, no cookies): it signs
// in through the API from a page that loads nothing of the app (/healthz),
// then opens `/` in a new page and measures, inside the page, the time from
// navigation start until the overview has rendered: the status counts add
// up to `monitors` and the first monitor row is in the DOM
// (`first_render_ms`), and until that row shows its 24-hour uptime, i.e.
// the overview's answer has been rendered too (`data_render_ms`). A
// MutationObserver installed before the app's scripts run takes the times.
// It also records every response of the navigation with its transferred
// (encoded) body size. The live feed (/api/v1/live, server-sent events)
// never ends: it is left out of the bytes and not waited for.
import { launch } from './browser.mjs'

const [base, email, password, runsArg = '5', monitorsArg] = process.argv.slice(2)
if (!base || !email || !password) {
  console.error('usage: node e2e/bench.mjs <base url> <email> <password> <runs> [monitors]')
  process.exit(2)
}
const runs = Number(runsArg)
/** The number the status counts must add up to; without it, any positive total. */
const monitors = monitorsArg === undefined ? null : Number(monitorsArg)
/** The longest a run may take to render. */
const RENDER_WAIT = 60_000
const LIVE = '/api/v1/live'

const browser = await launch()

/** Runs in the page before its scripts: notes when the overview rendered. */
function watchOverview({ total, wait }) {
  const marks = {}
  let settle
  const done = new Promise((resolve, reject) => {
    settle = resolve
    setTimeout(() => {
      const counts = [...document.querySelectorAll('[data-testid^="count-"]')].map((c) => `${c.dataset.testid}=${c.textContent}`)
      reject(new Error(`the overview did not render within ${wait} ms (${counts.join(', ') || 'no status counts'})`))
    }, wait)
  })
  window.__statushawkBench = done
  const check = () => {
    if (marks.first_render_ms === undefined) {
      let sum = 0
      for (const count of document.querySelectorAll('[data-testid^="count-"]')) sum += Number(count.textContent)
      const complete = total === null ? sum > 0 : sum === total
      if (complete && document.querySelector('[data-testid="monitor-row"]')) marks.first_render_ms = performance.now()
    }
    if (marks.data_render_ms === undefined) {
      const uptime = document.querySelector('[data-testid="monitor-row"] [data-testid="monitor-uptime"]')
      if (uptime?.textContent.includes('%')) marks.data_render_ms = performance.now()
    }
    if (marks.first_render_ms !== undefined && marks.data_render_ms !== undefined) {
      observer.disconnect()
      settle(marks)
    }
  }
  const observer = new MutationObserver(check)
  observer.observe(document, { childList: true, subtree: true, characterData: true })
}

function kindOf(request) {
  const path = new URL(request.url()).pathname
  if (path.startsWith('/api/v1/')) return 'api'
  const type = request.resourceType()
  return ['document', 'script', 'stylesheet'].includes(type) ? type : 'other'
}

async function measure() {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 } })
  try {
    const signIn = await context.newPage()
    await signIn.goto('/healthz')
    const login = await signIn.evaluate(
      async ({ email, password }) => {
        const response = await fetch('/api/v1/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-statushawk-csrf': '1' },
          body: JSON.stringify({ email, password, cookie: true }),
        })
        return { status: response.status, body: await response.text() }
      },
      { email, password },
    )
    if (login.status !== 200) throw new Error(`login answered ${login.status}: ${login.body}`)
    await signIn.close()

    await context.addInitScript(watchOverview, { total: monitors, wait: RENDER_WAIT })
    const page = await context.newPage()
    const responses = []
    const pending = new Set()
    page.on('request', (request) => {
      if (new URL(request.url()).pathname !== LIVE) pending.add(request)
    })
    page.on('requestfinished', (request) => pending.delete(request))
    page.on('requestfailed', (request) => pending.delete(request))
    page.on('response', (response) => {
      if (new URL(response.url()).pathname !== LIVE) responses.push(response)
    })
    await page.goto('/', { waitUntil: 'commit' })
    const marks = await page.evaluate(() => window.__statushawkBench)
    // Whatever the page asked for by then, finished (the live feed apart).
    const settled = Date.now()
    while (pending.size > 0 && Date.now() - settled < RENDER_WAIT) await new Promise((r) => setTimeout(r, 20))
    const { timing, navigation } = await page.evaluate(() => {
      const [document] = performance.getEntriesByType('navigation')
      return {
        timing: Object.fromEntries(
          performance.getEntriesByType('resource').map((entry) => [
            entry.name,
            { start_ms: Math.round(entry.startTime), end_ms: Math.round(entry.responseEnd) },
          ]),
        ),
        navigation: {
          response_end_ms: Math.round(document.responseEnd),
          dom_content_loaded_ms: Math.round(document.domContentLoadedEventEnd),
        },
      }
    })
    const bytes = { document: 0, script: 0, stylesheet: 0, api: 0, other: 0, total: 0 }
    const requests = []
    for (const response of responses) {
      const request = response.request()
      const sizes = await request.sizes()
      const kind = kindOf(request)
      bytes[kind] += sizes.responseBodySize
      bytes.total += sizes.responseBodySize
      const url = new URL(request.url())
      requests.push({
        kind,
        method: request.method(),
        path: url.pathname,
        status: response.status(),
        bytes: sizes.responseBodySize,
        decoded_bytes: (await response.body().catch(() => Buffer.alloc(0))).length,
        encoding: (await response.allHeaders())['content-encoding'] ?? null,
        ...timing[request.url()],
      })
    }
    return {
      first_render_ms: Math.round(marks.first_render_ms),
      data_render_ms: Math.round(marks.data_render_ms),
      navigation,
      bytes,
      requests,
    }
  } finally {
    await context.close()
  }
}

function spread(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return { min: sorted[0], median: sorted[Math.floor((sorted.length - 1) / 2)], max: sorted[sorted.length - 1] }
}

try {
  const results = []
  for (let run = 0; run < runs; run++) {
    const result = await measure()
    console.error(`run ${run + 1}: first render ${result.first_render_ms} ms, data ${result.data_render_ms} ms`)
    results.push(result)
  }
  console.log(
    JSON.stringify({
      runs: results,
      first_render_ms: spread(results.map((r) => r.first_render_ms)),
      data_render_ms: spread(results.map((r) => r.data_render_ms)),
      note: `${LIVE} (server-sent events) is not in the bytes and was not waited for`,
    }),
  )
} finally {
  await browser.close()
}
