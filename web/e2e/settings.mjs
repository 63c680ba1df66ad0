// End-to-end: maintenance windows and status pages, through their forms.
// Called by run.mjs with a page signed in as an owner whose team has a
// monitor named "Local target…":
//
//   await maintenanceAndStatusPages({ page, step, assert, stamp })
//
// A window covering now is shown in progress for that monitor, is edited,
// refuses an end before its start at the field, and is deleted; a status
// page with the monitor shows it at /status/{slug} (served by the API),
// and is deleted.

/** Now plus `minutes`, as a datetime-local value in the page's own time zone. */
function localInput(page, minutes) {
  return page.evaluate((minutes) => {
    const at = new Date(Date.now() + minutes * 60_000)
    const pad = (n) => String(n).padStart(2, '0')
    return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`
  }, minutes)
}

/** The team's first monitor named "Local target…", as the API lists it. */
async function localTarget(page, assert) {
  const monitors = await page.evaluate(async () => {
    const response = await fetch('/api/v1/monitors', { headers: { 'x-statushawk-csrf': '1' } })
    return response.json()
  })
  const monitor = monitors.find((m) => m.name.startsWith('Local target'))
  assert.ok(monitor, 'a monitor named "Local target…"')
  return monitor
}

export async function maintenanceAndStatusPages({ page, step, assert, stamp, shot }) {
  const monitor = await localTarget(page, assert)
  const title = `Upgrade ${stamp}`
  const renamed = `Network move ${stamp}`
  const windows = page.getByRole('list', { name: 'Maintenance windows' })
  const windowRow = (name) => windows.getByRole('listitem').filter({ hasText: name })

  await step('a maintenance window covering now is shown in progress for its monitor', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Maintenance' }).click()
    await page.getByRole('link', { name: 'Add window' }).click()
    await page.getByRole('heading', { name: 'New maintenance window' }).waitFor()
    await page.getByLabel('Title').fill(title)
    await page.getByLabel(/^Starts/).fill(await localInput(page, -10))
    await page.getByLabel(/^Ends/).fill(await localInput(page, 50))
    await page.getByRole('radio', { name: monitor.name, exact: true }).check()
    await page.getByRole('button', { name: 'Create window' }).click()
    const row = windowRow(title)
    await row.getByText('in progress', { exact: true }).waitFor()
    const covered = row.getByRole('link', { name: monitor.name, exact: true })
    assert.equal(await covered.getAttribute('href'), `/monitors/${monitor.id}`)
  })

  await step('editing the window shows an end before its start at the field, then saves', async () => {
    await windowRow(title).getByRole('link', { name: title }).click()
    await page.getByRole('heading', { name: `Edit ${title}` }).waitFor()
    assert.equal(await page.getByRole('radio', { name: monitor.name, exact: true }).isChecked(), true, 'the monitor is still chosen')
    const ends = page.getByLabel(/^Ends/)
    await ends.fill(await localInput(page, -60))
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByText('the end must be after the start').waitFor()
    assert.equal(await ends.getAttribute('aria-invalid'), 'true', 'the end is marked')
    assert.equal(await page.getByLabel(/^Starts/).getAttribute('aria-invalid'), null, 'the start is not')
    await ends.fill(await localInput(page, 120))
    await page.getByLabel('Title').fill(renamed)
    await page.getByRole('button', { name: 'Save' }).click()
    await windowRow(renamed).getByText('in progress', { exact: true }).waitFor()
    assert.equal(await windowRow(title).count(), 0, 'the old title is gone')
  })

  await step('deleting the window asks first', async () => {
    await windowRow(renamed).getByRole('link', { name: renamed }).click()
    await page.getByRole('heading', { name: `Edit ${renamed}` }).waitFor()
    page.once('dialog', (dialog) => dialog.accept())
    await page.getByRole('button', { name: 'Delete' }).click()
    await page.getByRole('heading', { name: 'Maintenance' }).waitFor()
    await windows.or(page.getByText('No maintenance windows yet.')).waitFor()
    assert.equal(await windowRow(renamed).count(), 0, 'not listed')
  })

  const pageTitle = `E2E status ${stamp}`
  const pages = page.getByRole('list', { name: 'Status pages' })
  const pageRow = pages.getByRole('listitem').filter({ hasText: pageTitle })
  let slug = ''

  await step('a status page made with the form shows its monitor at its public address', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Status pages' }).click()
    await page.getByRole('link', { name: 'Add status page' }).click()
    await page.getByRole('heading', { name: 'New status page' }).waitFor()
    await page.getByLabel('Title').fill(pageTitle)
    slug = await page.getByLabel('Address').inputValue()
    assert.match(slug, /^e2e-status-[a-z0-9-]+$/, 'the address is suggested from the title')
    await page.getByRole('checkbox', { name: /^Public/ }).check()
    await page.getByRole('checkbox', { name: monitor.name, exact: true }).check()
    await page.getByRole('button', { name: 'Create status page' }).click()
    await pageRow.getByText(monitor.name).waitFor()
    await pageRow.getByRole('link', { name: `/status/${slug}` }).click()
    await page.waitForURL(`**/status/${slug}`)
    await page.getByRole('heading', { name: pageTitle }).waitFor()
    await page.getByText(monitor.name, { exact: true }).waitFor()
  })

  await step("the page's subscribers are listed, added and removed by its admins", async () => {
    await page.getByRole('button', { name: 'Subscribe' }).waitFor()
    await page.goBack()
    await pageRow.getByRole('link', { name: pageTitle }).click()
    await page.getByRole('heading', { name: `Edit ${pageTitle}` }).waitFor()
    const subscribers = page.getByTestId('subscribers')
    await subscribers.getByText('Nobody subscribed yet.').waitFor()
    await subscribers.getByLabel('E-mail address').fill('not an address')
    await subscribers.getByRole('button', { name: 'Add subscriber' }).click()
    await subscribers.getByText('not an e-mail address').waitFor()
    await subscribers.getByLabel('E-mail address').fill('fan@example.com')
    await subscribers.getByRole('button', { name: 'Add subscriber' }).click()
    const row = subscribers.getByTestId('subscriber').filter({ hasText: 'fan@example.com' })
    await row.getByText('confirmed', { exact: true }).waitFor()
    await shot(page, 'dashboard-subscribers.png')
    page.once('dialog', (dialog) => dialog.accept())
    await row.getByRole('button', { name: 'Remove' }).click()
    await subscribers.getByText('Nobody subscribed yet.').waitFor()
  })

  await step('deleting the status page asks first, and its address stops working', async () => {
    page.once('dialog', (dialog) => dialog.accept())
    await page.getByRole('button', { name: 'Delete' }).click()
    await page.getByRole('heading', { name: 'Status pages' }).waitFor()
    await pages.or(page.getByText('No status pages yet.')).waitFor()
    assert.equal(await pageRow.count(), 0, 'not listed')
    // The public page may be cached by browsers for a minute (Cache-Control),
    // so ask the server itself.
    const gone = await page.evaluate(async (slug) => (await fetch(`/status/${slug}`, { cache: 'no-store' })).status, slug)
    assert.equal(gone, 404, 'the public address answers 404 once the page is deleted')
  })
}
