// End-to-end: the dashboard in Debian's Chromium (playwright-core, no
// browser download) against a running `statushawk all` whose probers may
// reach this machine (prober.allow_private_targets).
//
//   node e2e/run.mjs http://127.0.0.1:8080 [screenshot dir]
//
// Exits non-zero on the first failed step, naming it. Screenshots of the
// pages go to the directory given (default: test-results/).
import { strict as assert } from 'node:assert'
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { launch } from './browser.mjs'
import { maintenanceAndStatusPages } from './settings.mjs'
import { teamAndTokens } from './team.mjs'

const base = process.argv[2] ?? 'http://127.0.0.1:8080'
const shots = process.argv[3] ?? 'test-results'
mkdirSync(shots, { recursive: true })
const PASSWORD = 'end to end password'
const stamp = `${Date.now()}-${process.pid}`
/** Long enough for a first check of a 10 s monitor on a busy machine. */
const RESULT_WAIT = 60_000

// A local target for the monitor the test creates.
const target = createServer((_, response) => response.writeHead(200, { 'content-type': 'text/plain' }).end('ok'))
await new Promise((resolve) => target.listen(0, '127.0.0.1', resolve))
const targetUrl = `http://127.0.0.1:${target.address().port}/health`

// A local webhook receiver for the channel the test creates: what it got.
const hooked = []
const receiver = createServer((request, response) => {
  let body = ''
  request.on('data', (chunk) => (body += chunk))
  request.on('end', () => {
    hooked.push({ path: request.url, signature: request.headers['x-statushawk-signature'], body })
    response.writeHead(204).end()
  })
})
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve))
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`

// A local "Discord" whose webhooks are all deleted: it answers as Discord does.
const discord = createServer((_, response) =>
  response.writeHead(404, { 'content-type': 'application/json' }).end('{"message": "Unknown Webhook", "code": 10015}'),
)
await new Promise((resolve) => discord.listen(0, '127.0.0.1', resolve))
const deletedWebhook = `http://127.0.0.1:${discord.address().port}/api/webhooks/1/deleted`

// Playwright gives every launch a fresh, throw-away profile of its own.
const browser = await launch()

let failed = false
/** Every page opened, for a screenshot when a step fails. */
const open = []
async function step(name, body) {
  const started = Date.now()
  try {
    await body()
    console.log(`ok   ${name} (${Date.now() - started} ms)`)
  } catch (error) {
    failed = true
    console.log(`FAIL ${name}\n${error.stack ?? error}`)
    for (const [index, page] of open.entries()) {
      if (!page.isClosed()) await page.screenshot({ path: join(shots, `failure-${index}.png`) }).catch(() => {})
    }
    throw error
  }
}

/** A full-page screenshot into the run's directory. */
function shot(page, name) {
  return page.screenshot({ path: join(shots, name), fullPage: true })
}

/** A fresh browser profile's page: no cookies. */
async function newPage() {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 } })
  const page = await context.newPage()
  open.push(page)
  page.setDefaultTimeout(15_000)
  const offMachine = []
  page.on('request', (request) => {
    const url = new URL(request.url())
    if (!['127.0.0.1', 'localhost'].includes(url.hostname) && url.protocol.startsWith('http')) offMachine.push(request.url())
  })
  return { context, page, offMachine }
}

/** The API as the page's session calls it (cookie and CSRF header). */
async function apiCall(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const response = await fetch(path, {
        method,
        headers: { 'content-type': 'application/json', 'x-statushawk-csrf': '1' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      return { status: response.status, body: await response.text() }
    },
    { method, path, body },
  )
}

try {
  const owner = await newPage()
  const { page } = owner
  const email = `owner-${stamp}@e2e.example`

  await step('a visitor is sent to sign in, and signs up', async () => {
    await page.goto('/')
    await page.waitForURL('**/signin')
    await page.getByRole('link', { name: 'Sign up' }).click()
    await page.getByLabel('E-mail').fill(email)
    await page.getByLabel(/Password/).fill(PASSWORD)
    await page.getByLabel('Team name').fill(`E2E ${stamp}`)
    await page.getByRole('button', { name: 'Sign up' }).click()
    await page.getByRole('heading', { name: 'Monitors' }).waitFor()
    await page.getByText(`E2E ${stamp}`).waitFor()
    const cookies = await owner.context.cookies()
    const session = cookies.find((c) => c.name === 'statushawk_session')
    assert.ok(session, 'a session cookie')
    assert.equal(session.httpOnly, true, 'HttpOnly')
    assert.equal(session.sameSite, 'Strict', 'SameSite=Strict')
    assert.equal(await page.evaluate(() => document.cookie.includes('statushawk_session')), false, 'out of reach of scripts')
  })

  await step('an HTTP monitor on a local target shows its first result without a reload', async () => {
    await page.getByLabel('Name').fill('Local target')
    await page.getByLabel('URL').fill(targetUrl)
    await page.getByLabel('Every (s)').fill('10')
    const loads = []
    page.on('load', () => loads.push(Date.now()))
    await page.getByRole('button', { name: 'Add monitor' }).click()
    const row = page.getByTestId('monitor-row').filter({ hasText: 'Local target' })
    await row.waitFor()
    await row.getByTestId('monitor-last').getByText(/^up · \d+ ms$/).waitFor({ timeout: RESULT_WAIT })
    await row.getByTestId('monitor-status').getByText('Up').waitFor({ timeout: RESULT_WAIT })
    await row.getByTestId('monitor-uptime').getByText(/^\d+(\.\d+)? %$/).waitFor({ timeout: RESULT_WAIT })
    assert.deepEqual(loads, [], 'the page was not reloaded')
    await page.screenshot({ path: join(shots, 'dashboard-overview.png') })
  })

  await step("a monitor's page shows its graph, uptime, results with phase timings, and pauses", async () => {
    await page.getByRole('link', { name: 'Local target' }).click()
    await page.waitForURL('**/monitors/*')
    await page.getByRole('heading', { name: 'Local target' }).waitFor()
    await page.getByTestId('result-row').first().waitFor({ timeout: RESULT_WAIT })
    await page.getByTestId('latency-chart').locator('canvas').first().waitFor()
    await page.getByText('Uptime 24h').waitFor()
    await page.getByRole('button', { name: '7d' }).click()
    await page.getByRole('button', { name: '24h' }).click()
    await page.screenshot({ path: join(shots, 'dashboard-monitor.png'), fullPage: true })
    await page.getByRole('button', { name: 'Pause' }).click()
    await page.getByTestId('detail-status').getByText('Paused').waitFor()
    await page.getByRole('button', { name: 'Resume' }).click()
    await page.getByTestId('detail-status').getByText('Up').waitFor()
    await page.getByRole('link', { name: '← Monitors' }).click()
    await page.getByRole('heading', { name: 'Monitors' }).waitFor()
  })

  await step('a webhook channel is tried before it is saved, then linked to a monitor', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Channels' }).click()
    await page.getByRole('link', { name: 'Add channel' }).click()
    await page.getByRole('heading', { name: 'New channel' }).waitFor()
    await page.getByLabel('Name', { exact: true }).fill('E2E hook')
    await page.getByLabel('Kind').selectOption('webhook')
    await page.getByLabel(/^Webhook URL/).fill(hookUrl)
    await page.getByLabel(/^Signing secret/).fill('an e2e signing secret')
    await page.getByRole('button', { name: 'Send test' }).click()
    await page.getByRole('status').getByText(/^Delivered \(HTTP 204\)/).waitFor()
    await page.screenshot({ path: join(shots, 'dashboard-channels.png'), fullPage: true })
    assert.equal(hooked.length, 1, 'the receiver got the test')
    assert.equal(hooked[0].path, '/hook')
    assert.ok(hooked[0].signature, 'signed')
    assert.match(hooked[0].body, /StatusHawk test notification/)
    const before = await apiCall(page, 'GET', '/api/v1/channels')
    assert.deepEqual(JSON.parse(before.body), [], 'a test saves nothing')
    await page.getByLabel('Local target').check()
    await page.getByRole('button', { name: 'Create channel' }).click()
    const row = page.getByTestId('channel-row').filter({ hasText: 'E2E hook' })
    await row.getByText('1 monitor').waitFor()
    await row.click()
    await page.getByText('Webhook URL · secret, set').waitFor()
    await page.getByRole('button', { name: 'Send test' }).click()
    await page.getByRole('status').getByText(/^Delivered/).waitFor()
    assert.equal(hooked.length, 2, 'an edit test uses the stored secrets')
    await page.getByRole('navigation').getByRole('link', { name: 'Monitors', exact: true }).click()
    await page.getByRole('link', { name: 'Local target' }).click()
    const notifications = page.getByRole('region', { name: 'Notifications' })
    // Linked from the channel's side, so checked on the monitor's.
    await notifications.getByRole('checkbox', { name: 'E2E hook (Webhook)', checked: true }).waitFor()
    await page.getByRole('link', { name: '← Monitors' }).click()
  })

  await step('a deleted Discord webhook is refused on save, in Discord\'s words', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Channels' }).click()
    await page.getByRole('link', { name: 'Add channel' }).click()
    await page.getByLabel('Name', { exact: true }).fill('E2E Discord')
    await page.getByLabel('Kind').selectOption('discord')
    const url = page.getByLabel(/^Webhook URL/)
    await url.fill(deletedWebhook)
    await page.getByRole('button', { name: 'Create channel' }).click()
    await page.getByText(/Discord says this webhook does not exist.*Unknown Webhook/).waitFor()
    assert.equal(await url.getAttribute('aria-invalid'), 'true', 'shown at the URL')
    await page.getByRole('link', { name: 'Cancel' }).click()
    await page.getByTestId('channel-row').filter({ hasText: 'E2E hook' }).waitFor()
    assert.equal(await page.getByTestId('channel-row').filter({ hasText: 'E2E Discord' }).count(), 0, 'not saved')
  })

  await maintenanceAndStatusPages({ page, step, assert, stamp, shot })

  /** The monitor form, from the overview's link to every kind and setting. */
  async function openMonitorForm() {
    await page.getByRole('navigation').getByRole('link', { name: 'Monitors', exact: true }).click()
    await page.getByRole('link', { name: 'Another kind, or every setting' }).click()
    await page.getByRole('heading', { name: 'New monitor' }).waitFor()
  }

  /** Reloads the page headed `heading` every second until `found()` counts something (60 s at most). */
  async function reloadUntil(heading, found, what) {
    const deadline = Date.now() + 60_000
    while (!(await found())) {
      assert.ok(Date.now() < deadline, `${what} did not appear within 60 s`)
      await page.waitForTimeout(1000)
      await page.reload()
      await page.getByRole('heading', { name: heading }).waitFor()
    }
  }

  await step('the full form creates a TCP monitor, shows the API\'s error at its field, and edits it', async () => {
    await openMonitorForm()
    await page.getByLabel('Name').fill('Local port')
    await page.getByLabel('Kind').selectOption('tcp')
    await page.getByLabel('Host').fill('127.0.0.1')
    await page.getByLabel('Port').fill(String(target.address().port))
    await page.getByLabel('Every (s)').fill('1')
    await page.getByRole('button', { name: 'Create monitor' }).click()
    // The API names interval_ms; the form shows it under "Every (s)".
    await page.getByText('between 10000 (10 s) and 86400000 (24 h)').waitFor()
    assert.equal(await page.getByLabel('Every (s)').getAttribute('aria-invalid'), 'true')
    await page.screenshot({ path: join(shots, 'dashboard-monitor-form.png'), fullPage: true })
    await page.getByLabel('Every (s)').fill('10')
    await page.getByRole('button', { name: 'Create monitor' }).click()
    await page.getByRole('heading', { name: 'Local port' }).waitFor()
    await page.getByRole('link', { name: 'Edit' }).click()
    await page.getByLabel('Name').fill('Local port, renamed')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('heading', { name: 'Local port, renamed' }).waitFor()
    await page.getByText('tcp · 127.0.0.1:').waitFor()
    await page.getByRole('link', { name: '← Monitors' }).click()
    await page.getByTestId('monitor-row').filter({ hasText: 'Local port, renamed' }).waitFor()
  })

  await step("a heartbeat monitor shows its ping URL to copy, and the job's ping with its log appears", async () => {
    await openMonitorForm()
    await page.getByLabel('Name').fill('Nightly backup')
    await page.getByLabel('Kind').selectOption('heartbeat')
    await page.getByLabel('A ping every (s)').fill('3600')
    await page.getByLabel('Grace (s)').fill('600')
    await page.getByRole('button', { name: 'Create monitor' }).click()
    await page.getByRole('heading', { name: 'Nightly backup' }).waitFor()
    // The token comes once, with the answer that created it.
    const url = await page.getByLabel('Ping URL').inputValue()
    assert.match(url, /\/ping\/[^/<]+$/, url)
    await page.getByRole('button', { name: 'Copy' }).click()
    assert.ok(await page.getByText(`curl -fsS -m 10 ${url}/start`).count(), 'the curl example carries the URL')
    await page.getByText('No timed runs yet').waitFor()
    // The job pings as the example does: a start, then its finish with its log.
    const start = await page.request.post(`${url}/start`)
    assert.equal(start.status(), 200, await start.text())
    const ping = await page.request.post(`${url}/0`, { data: 'backup done: 42 files' })
    assert.equal(ping.status(), 200, await ping.text())
    await reloadUntil('Nightly backup', () => page.getByText('backup done: 42 files').count(), 'the ping among the recent pings')
    await page.getByText('success').first().waitFor()
    await page.getByText('start', { exact: true }).first().waitFor()
    await reloadUntil('Nightly backup', () => page.getByTestId('run-day').count(), 'the timed run')
    assert.equal(await page.getByTestId('run-day').first().locator('td').nth(1).textContent(), '1', 'one timed run')
    await page.screenshot({ path: join(shots, 'dashboard-heartbeat.png'), fullPage: true })
  })

  await step("a down monitor's incident shows its region evidence and takes an update", async () => {
    const closed = createServer()
    await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = closed.address().port
    await new Promise((resolve) => closed.close(resolve))
    const made = await apiCall(page, 'POST', '/api/v1/monitors', {
      name: 'Closed port',
      spec: { kind: 'tcp', host: '127.0.0.1', port },
      interval_ms: 10000,
      timeout_ms: 2000,
    })
    assert.equal(made.status, 201, made.body)
    await page.getByRole('link', { name: 'Incidents' }).click()
    const row = page.getByTestId('incident-row').filter({ hasText: 'Closed port' })
    const deadline = Date.now() + 2 * RESULT_WAIT
    // The list is not live: reload until the evaluator has opened it.
    while (!(await row.waitFor({ timeout: 5_000 }).then(() => true, () => false))) {
      assert.ok(Date.now() < deadline, 'no incident for the closed port')
      await page.reload()
    }
    await row.click()
    await page.getByTestId('region-evidence').getByText('connection refused').first().waitFor()
    await page.getByLabel('Status').selectOption('identified')
    await page.getByLabel('Message').fill('Nothing listens on that port: we know why.')
    await page.getByRole('button', { name: 'Post update' }).click()
    await page.getByTestId('incident-update').filter({ hasText: 'we know why' }).waitFor()
    await page.getByRole('button', { name: 'Acknowledge' }).click()
    await page.getByTestId('incident-update').filter({ hasText: 'Acknowledged by' }).waitFor()
    await page.getByText(/acknowledged by .+@/).first().waitFor()
    assert.equal(await page.getByRole('button', { name: 'Acknowledge' }).count(), 0, 'acknowledged once')
    await page.screenshot({ path: join(shots, 'dashboard-incident.png'), fullPage: true })
  })

  await step('the overview filters by search and status', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Monitors', exact: true }).click()
    await page.getByLabel('Search').fill('no such monitor')
    await page.getByTestId('monitor-row').first().waitFor({ state: 'detached' })
    await page.getByLabel('Search').fill('local')
    await page.getByTestId('monitor-row').first().waitFor()
    await page.getByLabel('Search').fill('')
  })

  await teamAndTokens({ page, newPage, step, assert, stamp, password: PASSWORD, base, shot })

  await step("the demo's person sees its down monitor, the incident's evidence and the delivered notification", async () => {
    const password = process.env.STATUSHAWK_DEMO_PASSWORD
    assert.ok(password, 'STATUSHAWK_DEMO_PASSWORD: the password `statushawk all --demo` printed')
    const demo = await newPage()
    await demo.page.goto('/signin')
    await demo.page.getByLabel('E-mail').fill('demo@statushawk.local')
    await demo.page.getByLabel('Password').fill(password)
    await demo.page.getByRole('button', { name: 'Sign in' }).click()
    const row = demo.page.getByTestId('monitor-row').filter({ hasText: 'Nothing listens here' })
    await row.getByTestId('monitor-status').getByText('Down').waitFor({ timeout: 2 * RESULT_WAIT })
    await row.getByRole('link', { name: /Nothing listens here/ }).click()
    await demo.page.getByTestId('current-incident').getByRole('link', { name: 'Incident open' }).click({ timeout: RESULT_WAIT })
    await demo.page.getByTestId('region-evidence').getByText('connection refused').first().waitFor()
    const delivered = demo.page.getByTestId('incident-notifications').getByText('delivered', { exact: true })
    const deadline = Date.now() + RESULT_WAIT
    while (!(await delivered.waitFor({ timeout: 5_000 }).then(() => true, () => false))) {
      assert.ok(Date.now() < deadline, 'the demo webhook was not notified')
      await demo.page.reload()
    }
    await demo.page.getByTestId('incident-notifications').getByText('Demo webhook').waitFor()
    await demo.context.close()
  })

  await step('signing out kills the session on the server', async () => {
    const [session] = (await owner.context.cookies()).filter((c) => c.name === 'statushawk_session')
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL('**/signin')
    const kept = await browser.newContext({ baseURL: base })
    await kept.addCookies([{ ...session, sameSite: 'Strict' }])
    const answer = await kept.request.get('/api/v1/session')
    assert.equal(answer.status(), 401, 'the old cookie no longer works')
    await kept.close()
    assert.deepEqual(owner.offMachine, [], 'no request leaves the machine')
  })
} catch {
  failed = true
} finally {
  await browser.close()
  target.close()
  receiver.close()
  discord.close()
}
process.exit(failed ? 1 : 0)
