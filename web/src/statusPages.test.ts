import { describe, expect, it } from 'vitest'
import {
  EMPTY_PAGE,
  FormError,
  formToPage,
  isValidSlug,
  move,
  pageToForm,
  rowOfField,
  shownNames,
  suggestSlug,
  toggle,
  withTitle,
  type EntryRow,
  type PageForm,
  type StatusPage,
} from './statusPages'

/** The FormError `run` throws. */
function formError(run: () => unknown): FormError {
  try {
    run()
  } catch (error) {
    if (error instanceof FormError) return error
    throw error
  }
  throw new Error('no FormError')
}

const row = (monitorId: string, section = '', displayName = ''): EntryRow => ({ monitorId, section, displayName })

describe('the slug', () => {
  it('is suggested from the title', () => {
    expect(suggestSlug('Acme Cloud — Status')).toBe('acme-cloud-status')
    expect(suggestSlug('  Café Müller: API & Web  ')).toBe('cafe-muller-api-web')
    expect(suggestSlug('E2E status 1700000000000-42')).toBe('e2e-status-1700000000000-42')
    expect(suggestSlug('!!!')).toBe('')
    expect(suggestSlug('状态')).toBe('')
  })

  it('is always one the API takes, or empty', () => {
    const long = suggestSlug(`${'a'.repeat(63)} b`)
    expect(long).toBe('a'.repeat(63))
    for (const title of ['Acme', 'x'.repeat(100), `${'y'.repeat(63)}-z`, '--a--', 'Ünïcödé ßtatus', '9 to 5']) {
      const slug = suggestSlug(title)
      expect(slug === '' || isValidSlug(slug), `${title} → ${slug}`).toBe(true)
    }
  })

  it('follows the title until it is typed', () => {
    const named = withTitle(EMPTY_PAGE, 'Acme status')
    expect(named.slug).toBe('acme-status')
    const typed = { ...named, slug: 'acme', slugTyped: true }
    expect(withTitle(typed, 'Acme public status').slug).toBe('acme')
  })

  it('is checked as the API checks it', () => {
    for (const good of ['a', 'acme-status', '2025', 'a'.repeat(64)]) expect(isValidSlug(good), good).toBe(true)
    for (const bad of ['', '-acme', 'acme-', 'Acme', 'acme status', 'a'.repeat(65), 'acmé']) expect(isValidSlug(bad), bad).toBe(false)
  })
})

const page: StatusPage = {
  id: 'p-1',
  slug: 'acme',
  title: 'Acme',
  description: 'How Acme is doing.',
  public: true,
  monitors: [{ monitor_id: 'm-web', display_name: 'Website' }],
  sections: [
    { title: 'API', monitors: [{ monitor_id: 'm-api', display_name: null }, { monitor_id: 'm-auth', display_name: null }] },
    { title: 'Mail', monitors: [{ monitor_id: 'm-smtp', display_name: 'Outgoing mail' }] },
  ],
  created_at_ms: 0,
  updated_at_ms: 0,
}

describe('the form and the API', () => {
  it('reads a page into one ordered list', () => {
    expect(pageToForm(page)).toEqual({
      title: 'Acme',
      slug: 'acme',
      slugTyped: true,
      description: 'How Acme is doing.',
      public: true,
      entries: [row('m-web', '', 'Website'), row('m-api', 'API'), row('m-auth', 'API'), row('m-smtp', 'Mail', 'Outgoing mail')],
    })
  })

  it('writes back the page it read', () => {
    const { id: _id, created_at_ms: _c, updated_at_ms: _u, ...input } = page
    expect(formToPage(pageToForm(page))).toEqual(input)
  })

  it('groups rows by section, in the order each first appears, trimmed', () => {
    const form: PageForm = {
      ...EMPTY_PAGE,
      title: ' Acme ',
      slug: 'acme',
      entries: [row('a', ' API '), row('b'), row('c', 'Mail'), row('d', 'API', '  '), row('e', '', ' Shop ')],
    }
    expect(formToPage(form)).toEqual({
      slug: 'acme',
      title: 'Acme',
      description: '',
      public: true,
      monitors: [
        { monitor_id: 'b', display_name: null },
        { monitor_id: 'e', display_name: 'Shop' },
      ],
      sections: [
        { title: 'API', monitors: [{ monitor_id: 'a', display_name: null }, { monitor_id: 'd', display_name: null }] },
        { title: 'Mail', monitors: [{ monitor_id: 'c', display_name: null }] },
      ],
    })
  })

  it('names the field the API would', () => {
    const form: PageForm = { ...EMPTY_PAGE, title: 'Acme', slug: 'acme' }
    expect(formError(() => formToPage({ ...form, slug: '' })).field).toBe('slug')
    expect(formError(() => formToPage({ ...form, slug: 'Acme!' })).field).toBe('slug')
    expect(formError(() => formToPage({ ...form, title: '   ' })).field).toBe('title')
    expect(formError(() => formToPage({ ...form, title: 't'.repeat(201) })).field).toBe('title')
    expect(formError(() => formToPage({ ...form, description: 'd'.repeat(5001) })).field).toBe('description')
    const long = 'n'.repeat(201)
    expect(formError(() => formToPage({ ...form, entries: [row('a'), row('b', '', long)] })).field).toBe('monitors[1].display_name')
    expect(formError(() => formToPage({ ...form, entries: [row('a', 'S'), row('b', long)] })).field).toBe('sections[1].title')
    expect(formError(() => formToPage({ ...form, entries: [row('a', 'S'), row('b', 'S', long)] })).field).toBe('sections[0].monitors[1].display_name')
    // Characters, not UTF-16 units: 200 emoji are fine.
    expect(formToPage({ ...form, title: '🙂'.repeat(200) }).title).toHaveLength(400)
  })
})

describe('rows', () => {
  const entries = [row('a', 'API'), row('b'), row('c', 'Mail'), row('d', 'API'), row('e')]

  it('are found from the field the API names', () => {
    expect(rowOfField('monitors[1].monitor_id', entries)).toEqual({ monitorId: 'e', part: 'monitor' })
    expect(rowOfField('monitors[0]', entries)).toEqual({ monitorId: 'b', part: 'monitor' })
    expect(rowOfField('sections[0].monitors[1].display_name', entries)).toEqual({ monitorId: 'd', part: 'display_name' })
    expect(rowOfField('sections[1].title', entries)).toEqual({ monitorId: 'c', part: 'section' })
    expect(rowOfField('sections[1].monitors[0].monitor_id', entries)).toEqual({ monitorId: 'c', part: 'monitor' })
  })

  it('are not found for a field of the page itself, or out of range', () => {
    for (const field of ['slug', 'title', 'sections', 'monitors[7].monitor_id', 'sections[5].title']) expect(rowOfField(field, entries), field).toBeNull()
  })

  it('are added at the end, taken off, and moved', () => {
    const added = toggle([row('a'), row('b')], 'c', true)
    expect(added.map((r) => r.monitorId)).toEqual(['a', 'b', 'c'])
    expect(toggle(added, 'a', false).map((r) => r.monitorId)).toEqual(['b', 'c'])
    expect(move(added, 2, -1).map((r) => r.monitorId)).toEqual(['a', 'c', 'b'])
    expect(move(added, 0, -1)).toBe(added)
    expect(move(added, 2, 1)).toBe(added)
  })

  it('show the public names of a page', () => {
    const names: Record<string, string> = { 'm-api': 'api.acme.example', 'm-auth': 'auth.acme.example' }
    expect(shownNames(page, (id) => names[id])).toEqual(['Website', 'api.acme.example', 'auth.acme.example', 'Outgoing mail'])
  })
})
