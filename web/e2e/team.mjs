// End-to-end: members and API tokens, through their pages. Called by run.mjs
// with a page signed in as an owner whose team has a monitor named
// "Local target…" with an open incident nowhere required:
//
//   await teamAndTokens({ page, newPage, step, assert, stamp, password, base, shot })
//
// (`shot(page, name)` screenshots a page into the run's directory.)
//
// The owner invites a viewer on the team page and passes on the link it
// shows; the viewer joins through it (the API's own /invite page), signs in
// to the dashboard and finds no control that changes anything; the owner
// makes them a member (they can add monitors now), then removes them (their
// session dies). A token made on the tokens page is shown once, works with
// curl's header, shows when it was last used, and stops working when it is
// revoked.

/** Accepts the next confirm() the page asks (Playwright dismisses them otherwise). */
function confirmNext(page) {
  page.once('dialog', (dialog) => dialog.accept())
}

/** The navigation bar's link to a section. */
function nav(page, name) {
  return page.getByRole('navigation').getByRole('link', { name, exact: true })
}

export async function teamAndTokens({ page, newPage, step, assert, stamp, password, base, shot }) {
  const viewerEmail = `viewer-${stamp}@e2e.example`
  let viewer

  await step('an owner invites a viewer; they join by the link and find no control that changes anything', async () => {
    await nav(page, 'Team').click()
    await page.getByRole('heading', { name: /^Team / }).waitFor()
    await page.getByLabel('E-mail').fill(viewerEmail)
    await page.getByLabel('Role', { exact: true }).selectOption('viewer')
    await page.getByRole('button', { name: 'Invite' }).click()
    const link = await page.getByLabel('Invitation link').inputValue()
    assert.match(link, /\/invite\/inv_/, 'the link to pass on')
    await page.getByTestId('invitation-row').filter({ hasText: viewerEmail }).waitFor()
    await shot(page, 'team.png')

    // The link's host is the deployment's public URL; this run reaches it at `base`.
    viewer = await newPage()
    await viewer.page.goto(new URL(link).pathname)
    await viewer.page.getByRole('heading', { name: 'Join your team' }).waitFor()
    assert.equal(await viewer.page.getByLabel('E-mail address').first().inputValue(), viewerEmail, 'the address is filled in')
    await viewer.page.locator('#signup-password').fill(password)
    await viewer.page.getByRole('button', { name: 'Create account and join as viewer' }).click()
    await viewer.page.getByRole('heading', { name: 'Welcome aboard' }).waitFor()
    await shot(viewer.page, 'invite-accepted.png')
    await viewer.page.getByRole('link', { name: 'Sign in to the dashboard' }).click()
    await viewer.page.getByLabel('E-mail').fill(viewerEmail)
    await viewer.page.getByLabel('Password').fill(password)
    await viewer.page.getByRole('button', { name: 'Sign in' }).click()

    const v = viewer.page
    const row = v.getByTestId('monitor-row').filter({ hasText: 'Local target' }).first()
    await row.waitFor()
    await v.getByText('viewer', { exact: true }).first().waitFor()
    assert.equal(await v.getByRole('button', { name: 'Add monitor' }).count(), 0, 'no Add monitor for a viewer')
    await row.getByRole('link', { name: /Local target/ }).click()
    await v.getByRole('heading', { name: /Local target/ }).waitFor()
    for (const name of ['Edit', 'Pause', 'Resume', 'Delete']) {
      assert.equal(await v.getByRole('button', { name, exact: true }).or(v.getByRole('link', { name, exact: true })).count(), 0, `no ${name} on a monitor`)
    }
    await nav(v, 'Channels').click()
    await v.getByRole('heading', { name: 'Channels' }).waitFor()
    assert.equal(await v.getByRole('link', { name: 'Add channel' }).count(), 0, 'no Add channel')
    await nav(v, 'Team').click()
    await v.getByText('Only owners and admins invite people and change roles.').waitFor()
    await v.getByTestId('member-row').filter({ hasText: viewerEmail }).waitFor()
    assert.equal(await v.getByRole('combobox', { name: /^Role of / }).count(), 0, 'no role to change')
    await shot(v, 'team-as-viewer.png')
    assert.equal(await v.getByRole('button', { name: 'Invite' }).count(), 0, 'no invitations')
    await nav(v, 'API tokens').click()
    await v.getByText("Only owners and admins see and make the team's API tokens.").waitFor()
    assert.deepEqual(viewer.offMachine, [], 'no request leaves the machine')
  })

  await step('the owner makes the viewer a member, then removes them and their session dies', async () => {
    await page.reload()
    const role = page.getByRole('combobox', { name: `Role of ${viewerEmail}` })
    const changed = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().includes('/api/v1/members/'))
    await role.selectOption('member')
    assert.equal((await changed).status(), 200, 'the role is changed')
    await page.reload()
    assert.equal(await role.inputValue(), 'member', 'and stays changed')

    const v = viewer.page
    // The viewer's app learns their new role when it next asks for the session.
    await v.reload()
    await nav(v, 'Monitors').click()
    await v.getByRole('button', { name: 'Add monitor' }).waitFor()

    confirmNext(page)
    await page.getByTestId('member-row').filter({ hasText: viewerEmail }).getByRole('button', { name: 'Remove' }).click()
    await page.getByTestId('member-row').filter({ hasText: viewerEmail }).waitFor({ state: 'detached' })
    await v.reload()
    await v.waitForURL('**/signin')
    await viewer.context.close()
  })

  await step('an API token is shown once, works, shows its last use, and is revoked', async () => {
    await nav(page, 'API tokens').click()
    await page.getByLabel('Name').fill(`CI ${stamp}`)
    await page.getByLabel('Role', { exact: true }).selectOption('member')
    await page.getByLabel('Expires after').selectOption('30 days')
    await page.getByRole('button', { name: 'Create token' }).click()
    const secret = await page.getByLabel('New token').inputValue()
    await page.getByText(`Bearer ${secret}`).waitFor()
    await shot(page, 'tokens.png')
    const row = page.getByTestId('token-row').filter({ hasText: `CI ${stamp}` })
    await row.getByText('member', { exact: true }).waitFor()
    await row.getByText(/last used never/).waitFor()
    await row.getByText(/expires in (29|30) d/).waitFor()

    const call = () => fetch(new URL('/api/v1/monitors', base), { headers: { authorization: `Bearer ${secret}` } })
    const used = await call()
    assert.equal(used.status, 200, await used.text())
    await page.reload()
    await row.getByText(/last used just now/).waitFor()
    assert.equal(await page.getByLabel('New token').count(), 0, 'the secret is not shown again')

    confirmNext(page)
    await row.getByRole('button', { name: 'Revoke' }).click()
    await row.waitFor({ state: 'detached' })
    assert.equal((await call()).status, 401, 'a revoked token no longer works')
  })
}
