import { useEffect, useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useOutletContext, useParams } from 'react-router'
import { api, ApiError, unwrap, type Me } from '../api/client'
import {
  EMPTY_PAGE,
  FormError,
  formToPage,
  move,
  pageToForm,
  rowOfField,
  shownNames,
  toggle,
  withTitle,
  type EntryRow,
  type PageForm,
  type PageInput,
  type RowPart,
} from '../statusPages'
import { mayAdminister, mayEdit } from '../session'
import { Subscribers } from './Subscribers'
import { Check, Failure, Field, PRIMARY, Section } from '../components/Form'

const LIST_KEY = ['status-pages'] as const

function useMonitors() {
  return useQuery({ queryKey: ['monitors'], queryFn: async () => unwrap(await api.GET('/api/v1/monitors')) })
}

/** The public page's address; the API serves it, not this app. */
const publicPath = (slug: string) => `/status/${slug}`

/** The team's status pages. */
export function StatusPages() {
  const me = useOutletContext<Me>()
  const pages = useQuery({ queryKey: LIST_KEY, queryFn: async () => unwrap(await api.GET('/api/v1/status-pages')) })
  const monitors = useMonitors()
  const nameOf = (id: string) => monitors.data?.find((m) => m.id === id)?.name
  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="mr-auto text-2xl font-semibold">Status pages</h1>
        {mayEdit(me.role) && (
          <Link to="/status-pages/new" className={PRIMARY}>
            Add status page
          </Link>
        )}
      </div>
      <p className="text-sm text-slate-600">
        A public page shows its monitors’ status, 90 days of uptime and their incidents to anyone with its address, without signing in.
      </p>
      <Failure error={pages.error} />
      {pages.data?.length === 0 && <p className="text-slate-500">No status pages yet.</p>}
      {pages.data && pages.data.length > 0 && (
        <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white" aria-label="Status pages">
          {pages.data.map((page) => {
            const names = shownNames(page, nameOf)
            return (
              <li key={page.id} className="flex flex-wrap items-baseline gap-x-3 gap-y-1 px-4 py-3">
                <Link to={`/status-pages/${page.id}`} className="font-medium text-teal-800 hover:underline">
                  {page.title}
                </Link>
                {page.public ? (
                  <a href={publicPath(page.slug)} className="text-sm text-teal-700 hover:underline">
                    {publicPath(page.slug)}
                  </a>
                ) : (
                  <>
                    <span className="text-sm text-slate-500">{publicPath(page.slug)}</span>
                    <span className="rounded bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-800">not public</span>
                  </>
                )}
                <span className="ml-auto text-xs text-slate-500">
                  {names.length} monitor{names.length === 1 ? '' : 's'}
                  {page.sections.length > 0 ? ` in ${page.sections.length} section${page.sections.length === 1 ? '' : 's'}` : ''}
                </span>
                <span className="basis-full text-sm text-slate-600">{names.length ? names.join(', ') : 'No monitors yet.'}</span>
              </li>
            )
          })}
        </ul>
      )}
    </div>
  )
}

/** The page's own fields, by the API's names. */
const PAGE_FIELDS = new Set(['slug', 'title', 'description'])

/** Create (`/status-pages/new`) or edit (`/status-pages/:id`) a status page. */
export function StatusPageForm() {
  const { id } = useParams()
  const me = useOutletContext<Me>()
  const may = mayEdit(me.role)
  const editing = id !== undefined
  const client = useQueryClient()
  const navigate = useNavigate()
  const existing = useQuery({
    queryKey: ['status-page', id],
    enabled: editing,
    queryFn: async () => unwrap(await api.GET('/api/v1/status-pages/{id}', { params: { path: { id: id ?? '' } } })),
  })
  const monitors = useMonitors()
  const [form, setForm] = useState<PageForm>(EMPTY_PAGE)
  const [local, setLocal] = useState<FormError | null>(null)
  useEffect(() => {
    if (existing.data) setForm(pageToForm(existing.data))
  }, [existing.data])

  // The list is not on screen while the form is: it is fetched again
  // before going back to it, so it never shows what was just changed.
  const save = useMutation({
    mutationFn: async (body: PageInput) =>
      unwrap(
        id === undefined
          ? await api.POST('/api/v1/status-pages', { body })
          : await api.PUT('/api/v1/status-pages/{id}', { params: { path: { id } }, body }),
      ),
    onSuccess: async (page) => {
      await client.invalidateQueries({ queryKey: LIST_KEY, refetchType: 'all' })
      client.setQueryData(['status-page', page.id], page)
      navigate('/status-pages')
    },
  })
  const remove = useMutation({
    mutationFn: async () => {
      const answer = await api.DELETE('/api/v1/status-pages/{id}', { params: { path: { id: id ?? '' } } })
      if (!answer.response.ok) unwrap(answer)
    },
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: LIST_KEY, refetchType: 'all' })
      navigate('/status-pages')
      client.removeQueries({ queryKey: ['status-page', id] })
    },
  })

  if (!editing && !may) return <p className="text-slate-600">Viewers cannot add status pages.</p>
  if (editing && existing.isPending) return <p className="text-slate-500">Loading…</p>
  if (existing.isError) return <Failure error={existing.error} />

  const error = local ?? save.error
  const named = error instanceof FormError || error instanceof ApiError ? error.field : null
  const atRow = named ? rowOfField(named, form.entries) : null
  const shownAtField = named !== null && (PAGE_FIELDS.has(named) || atRow !== null)
  const fieldError = (field: string) => (named === field ? error?.message : undefined)
  const rowError = (monitorId: string, part: RowPart) => (atRow?.monitorId === monitorId && atRow.part === part ? error?.message : undefined)
  const submit = (event: FormEvent) => {
    event.preventDefault()
    try {
      const body = formToPage(form)
      setLocal(null)
      save.mutate(body)
    } catch (problem) {
      if (problem instanceof FormError) setLocal(problem)
      else throw problem
    }
  }
  const setEntries = (change: (entries: EntryRow[]) => EntryRow[]) => setForm((f) => ({ ...f, entries: change(f.entries) }))
  const nameOf = (monitorId: string) => monitors.data?.find((m) => m.id === monitorId)?.name ?? 'a deleted monitor'
  const onPage = new Set(form.entries.map((entry) => entry.monitorId))
  const others = monitors.data?.filter((m) => !onPage.has(m.id)) ?? []

  return (
    <div className="space-y-6">
      <form onSubmit={submit} className="max-w-3xl space-y-6" noValidate>
        <div className="flex items-center gap-3">
          <h1 className="text-2xl font-semibold">{editing ? `${may ? 'Edit ' : ''}${existing.data?.title ?? ''}` : 'New status page'}</h1>
          <Link to="/status-pages" className="ml-auto text-sm text-teal-700">
            {may ? 'Cancel' : 'Back'}
          </Link>
        </div>
        {!may && <p className="rounded bg-slate-100 px-3 py-2 text-sm text-slate-700">Viewers cannot change status pages; you can see this one.</p>}
        <fieldset disabled={!may} className="space-y-6">
          <Section title="Page">
            <Field label="Title" value={form.title} onChange={(title) => setForm((f) => withTitle(f, title))} error={fieldError('title')} placeholder="Acme status" />
            <div>
              <Field
                label="Address"
                value={form.slug}
                onChange={(slug) => setForm((f) => ({ ...f, slug, slugTyped: true }))}
                error={fieldError('slug')}
                autoComplete="off"
                placeholder="acme"
              />
              <span className="mt-1 block text-xs text-slate-500">
                The page is at {publicPath(form.slug.trim() || '…')}: lower-case letters, digits and “-”, unique across StatusHawk.
              </span>
            </div>
            <Field label="Description (optional)" value={form.description} onChange={(description) => setForm((f) => ({ ...f, description }))} error={fieldError('description')} multiline />
            <Check label="Public: anyone can see it, without signing in" checked={form.public} onChange={(on) => setForm((f) => ({ ...f, public: on }))} />
            {editing && existing.data?.public && (
              <a href={publicPath(existing.data.slug)} className="inline-block text-sm text-teal-700 hover:underline">
                Open the public page
              </a>
            )}
          </Section>

          <Section title="Monitors">
            <p className="text-sm text-slate-600">
              Shown in this order: those without a section first, then each section in the order it first appears. A public name replaces the monitor’s own on the page.
            </p>
            {form.entries.length === 0 && <p className="text-sm text-slate-500">None yet: tick the monitors to show.</p>}
            {form.entries.length > 0 && (
              <div className="flex gap-2 text-xs font-medium text-slate-500" aria-hidden="true">
                <span className="min-w-48 flex-1">On the page</span>
                <span className="w-44">Public name</span>
                <span className="w-44">Section</span>
                <span className="w-[4.25rem]" />
              </div>
            )}
            <ol className="divide-y divide-slate-100" aria-label="On the page">
              {form.entries.map((entry, index) => {
                const name = nameOf(entry.monitorId)
                const problem = rowError(entry.monitorId, 'monitor') ?? rowError(entry.monitorId, 'display_name') ?? rowError(entry.monitorId, 'section')
                return (
                  <li key={entry.monitorId} className="py-2">
                    <div className="flex flex-wrap items-center gap-2">
                      <div className="min-w-48 flex-1">
                        <Check label={name} checked onChange={() => setEntries((rows) => toggle(rows, entry.monitorId, false))} />
                      </div>
                      <RowInput
                        label={`Public name of ${name}`}
                        value={entry.displayName}
                        placeholder={name}
                        invalid={rowError(entry.monitorId, 'display_name') !== undefined}
                        onChange={(displayName) => setEntries((rows) => rows.map((r) => (r.monitorId === entry.monitorId ? { ...r, displayName } : r)))}
                      />
                      <RowInput
                        label={`Section of ${name}`}
                        value={entry.section}
                        placeholder="no section"
                        invalid={rowError(entry.monitorId, 'section') !== undefined}
                        onChange={(section) => setEntries((rows) => rows.map((r) => (r.monitorId === entry.monitorId ? { ...r, section } : r)))}
                      />
                      <MoveButton label={`Move ${name} up`} symbol="↑" disabled={index === 0} onClick={() => setEntries((rows) => move(rows, index, -1))} />
                      <MoveButton label={`Move ${name} down`} symbol="↓" disabled={index === form.entries.length - 1} onClick={() => setEntries((rows) => move(rows, index, 1))} />
                    </div>
                    {problem && <p className="mt-1 text-sm text-red-700">{problem}</p>}
                  </li>
                )
              })}
            </ol>
            {others.length > 0 && (
              <div>
                <p className="text-sm font-medium text-slate-700">{form.entries.length ? 'Other monitors' : 'The team’s monitors'}</p>
                <div className="mt-1 grid max-h-72 gap-1 overflow-y-auto sm:grid-cols-2">
                  {others.map((monitor) => (
                    <Check key={monitor.id} label={monitor.name} checked={false} onChange={() => setEntries((rows) => toggle(rows, monitor.id, true))} />
                  ))}
                </div>
              </div>
            )}
            {monitors.data?.length === 0 && <p className="text-sm text-slate-500">The team has no monitors yet.</p>}
            <Failure error={monitors.error} />
          </Section>
        </fieldset>

        {error && !shownAtField && <Failure error={error} />}
        {shownAtField && <p className="text-sm text-red-700">Check the field marked above.</p>}
        {may && (
          <div className="flex items-center gap-3">
            <button type="submit" className={PRIMARY} disabled={save.isPending}>
              {editing ? 'Save' : 'Create status page'}
            </button>
            {editing && (
              <button
                type="button"
                className="ml-auto rounded border border-red-300 px-3 py-2 text-sm text-red-700 hover:bg-red-50"
                disabled={remove.isPending}
                onClick={() => window.confirm(`Delete the status page ${form.title}? Its address stops working at once.`) && remove.mutate()}
              >
                Delete
              </button>
            )}
          </div>
        )}
        <Failure error={remove.error} />
      </form>
      {editing && id !== undefined && mayAdminister(me.role) && <Subscribers pageId={id} />}
    </div>
  )
}

/** A compact input of a row, labelled for assistive technology by `label`. */
function RowInput(props: { label: string; value: string; placeholder: string; invalid: boolean; onChange: (value: string) => void }) {
  return (
    <input
      aria-label={props.label}
      title={props.label}
      className={`w-44 rounded border px-2 py-1 text-sm ${props.invalid ? 'border-red-500' : 'border-slate-300'}`}
      value={props.value}
      placeholder={props.placeholder}
      onChange={(event) => props.onChange(event.target.value)}
      aria-invalid={props.invalid ? true : undefined}
    />
  )
}

function MoveButton(props: { label: string; symbol: string; disabled: boolean; onClick: () => void }) {
  return (
    <button
      type="button"
      aria-label={props.label}
      title={props.label}
      className="rounded border border-slate-300 px-2 py-1 text-sm hover:bg-slate-100 disabled:opacity-40"
      disabled={props.disabled}
      onClick={props.onClick}
    >
      {props.symbol}
    </button>
  )
}
