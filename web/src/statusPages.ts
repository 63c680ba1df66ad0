// The status page form as pure functions (Vitest): a slug suggested from
// the title, the form to and from the API's page, the API's checks made
// before sending (api/src/status_pages/mod.rs, `PageInput::validate`), and
// which of the form's rows a field the API names is.
//
// The form holds the page's monitors as one ordered list, each with an
// optional section; the API's page has monitors outside any section first,
// then its sections in order. A page read from the API is already in that
// order, and the body groups the rows into it.
import type { Schemas } from './api/client'
import { FormError } from './monitorForm'

export { FormError }

export type StatusPage = Schemas['StatusPage']
export type PageInput = Schemas['PageInput']

/** A monitor on the page, as the form holds it. */
export interface EntryRow {
  monitorId: string
  /** Its public name; `''`: the monitor's own name. */
  displayName: string
  /** The section's title; `''`: outside any section. */
  section: string
}

export interface PageForm {
  title: string
  slug: string
  /** Whether the slug was typed (then the title no longer suggests it). */
  slugTyped: boolean
  description: string
  public: boolean
  entries: EntryRow[]
}

/** A new page: public, as a status page is for, with no monitors yet. */
export const EMPTY_PAGE: PageForm = { title: '', slug: '', slugTyped: false, description: '', public: true, entries: [] }

const SLUG_MAX = 64

/** Whether the API takes `slug`: 1 to 64 of `a-z`, `0-9` and inner `-`. */
export function isValidSlug(slug: string): boolean {
  return slug.length <= SLUG_MAX && /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(slug)
}

/** A slug for `title`: `Acme Cloud — Status` → `acme-cloud-status`. Accents are dropped, anything else not a letter or digit separates words. */
export function suggestSlug(title: string): string {
  return title
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, SLUG_MAX)
    .replace(/-+$/, '')
}

/** The form after the title changed: the slug follows it until someone types one. */
export function withTitle(form: PageForm, title: string): PageForm {
  return { ...form, title, slug: form.slugTyped ? form.slug : suggestSlug(title) }
}

/** A page as the form shows it: monitors outside sections, then each section's. */
export function pageToForm(page: StatusPage): PageForm {
  const row = (section: string) => (entry: Schemas['Entry']): EntryRow => ({
    monitorId: entry.monitor_id,
    displayName: entry.display_name ?? '',
    section,
  })
  return {
    title: page.title,
    slug: page.slug,
    slugTyped: true,
    description: page.description,
    public: page.public,
    entries: [...page.monitors.map(row('')), ...page.sections.flatMap((section) => section.monitors.map(row(section.title)))],
  }
}

/** Adds a monitor at the end, or takes it off. */
export function toggle(entries: EntryRow[], monitorId: string, on: boolean): EntryRow[] {
  const without = entries.filter((entry) => entry.monitorId !== monitorId)
  return on ? [...without, { monitorId, displayName: '', section: '' }] : without
}

/** Moves row `index` one place up (`-1`) or down (`+1`); at an end, nothing moves. */
export function move(entries: EntryRow[], index: number, by: -1 | 1): EntryRow[] {
  const to = index + by
  const row = entries[index]
  const other = entries[to]
  if (row === undefined || other === undefined) return entries
  const next = [...entries]
  next[index] = other
  next[to] = row
  return next
}

const chars = (text: string) => [...text].length

/** The sections of `entries` by trimmed title, in the order each first appears, and the rows outside any. */
function grouped(entries: EntryRow[]): { top: EntryRow[]; sections: [string, EntryRow[]][] } {
  const top: EntryRow[] = []
  const sections = new Map<string, EntryRow[]>()
  for (const entry of entries) {
    const title = entry.section.trim()
    if (!title) top.push(entry)
    else sections.set(title, [...(sections.get(title) ?? []), entry])
  }
  return { top, sections: [...sections] }
}

/** The request body; a FormError names the field, as the API would, that cannot be sent. */
export function formToPage(form: PageForm): PageInput {
  const slug = form.slug.trim()
  if (!slug) throw new FormError('slug', 'an address is needed')
  if (!isValidSlug(slug)) throw new FormError('slug', "1 to 64 lower-case letters, digits and '-', not starting or ending with '-'")
  const title = form.title.trim()
  if (!title) throw new FormError('title', 'a title is needed')
  if (chars(title) > 200) throw new FormError('title', 'at most 200 characters')
  const description = form.description.trim()
  if (chars(description) > 5000) throw new FormError('description', 'at most 5000 characters')
  const { top, sections } = grouped(form.entries)
  const entry = (prefix: string) => (row: EntryRow, i: number): Schemas['EntryInput'] => {
    const name = row.displayName.trim()
    if (chars(name) > 200) throw new FormError(`${prefix}monitors[${i}].display_name`, 'at most 200 characters')
    return { monitor_id: row.monitorId, display_name: name || null }
  }
  return {
    slug,
    title,
    description,
    public: form.public,
    monitors: top.map(entry('')),
    sections: sections.map(([section, rows], s) => {
      if (chars(section) > 200) throw new FormError(`sections[${s}].title`, 'at most 200 characters')
      return { title: section, monitors: rows.map(entry(`sections[${s}].`)) }
    }),
  }
}

/** Which part of a row a field is shown at. */
export type RowPart = 'monitor' | 'display_name' | 'section'

/**
 * The row and part a field of the body made from `entries` names
 * (`monitors[2].monitor_id`, `sections[0].monitors[1].display_name`,
 * `sections[1].title`: that section's first row); `null` for a field of
 * the page itself.
 */
export function rowOfField(field: string, entries: EntryRow[]): { monitorId: string; part: RowPart } | null {
  const { top, sections } = grouped(entries)
  const inSection = /^sections\[(\d+)\]\.(.*)$/.exec(field)
  const rows = inSection ? sections[Number(inSection[1])]?.[1] : top
  const rest = inSection ? (inSection[2] ?? '') : field
  if (!rows) return null
  if (inSection && rest === 'title') return rows[0] ? { monitorId: rows[0].monitorId, part: 'section' } : null
  const entry = /^monitors\[(\d+)\](?:\.(\w+))?$/.exec(rest)
  const row = entry ? rows[Number(entry[1])] : undefined
  if (!entry || !row) return null
  return { monitorId: row.monitorId, part: entry[2] === 'display_name' ? 'display_name' : 'monitor' }
}

/** The public names of a page's monitors, in order: its display name, else the monitor's. */
export function shownNames(page: StatusPage, nameOf: (id: string) => string | undefined): string[] {
  return [...page.monitors, ...page.sections.flatMap((section) => section.monitors)].map(
    (entry) => entry.display_name ?? nameOf(entry.monitor_id) ?? 'a deleted monitor',
  )
}
