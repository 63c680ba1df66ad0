// The form pieces every page uses: the primary button's style, a labelled
// field that shows its error, and a plain-spoken failure.
import { useId, type ReactNode } from 'react'
import { ApiError } from '../api/client'

export const PRIMARY =
  'rounded bg-teal-700 px-4 py-2 font-medium text-white hover:bg-teal-800 disabled:cursor-not-allowed disabled:opacity-60'

export function Field(props: {
  label: string
  value: string
  onChange: (value: string) => void
  type?: string
  autoComplete?: string
  error?: string | undefined
  placeholder?: string
  /** A text area of three rows. */
  multiline?: boolean
}) {
  // The error describes the input; it is not part of its name.
  const errorId = useId()
  const style = `mt-1 block w-full rounded border px-3 py-2 ${props.error ? 'border-red-500' : 'border-slate-300'}`
  const state = { 'aria-invalid': props.error ? true : undefined, 'aria-describedby': props.error ? errorId : undefined }
  return (
    <div className="text-sm">
      <label className="block">
        <span className="font-medium text-slate-700">{props.label}</span>
        {props.multiline ? (
          <textarea className={style} rows={3} value={props.value} onChange={(event) => props.onChange(event.target.value)} {...state} />
        ) : (
          <input
            className={style}
            type={props.type ?? 'text'}
            value={props.value}
            placeholder={props.placeholder}
            autoComplete={props.autoComplete}
            onChange={(event) => props.onChange(event.target.value)}
            {...state}
          />
        )}
      </label>
      {props.error && (
        <span id={errorId} className="mt-1 block text-red-700">
          {props.error}
        </span>
      )}
    </div>
  )
}

export function Failure({ error }: { error: Error | null | undefined }) {
  if (!error) return null
  const text = error instanceof ApiError ? error.forPeople : error.message
  return (
    <p role="alert" className="rounded bg-red-50 px-3 py-2 text-sm text-red-800">
      {text}
    </p>
  )
}

/** A titled group of fields. */
export function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <fieldset className="min-w-0 space-y-4 rounded-lg border border-slate-200 bg-white p-4">
      <legend className="px-1 text-sm font-semibold text-slate-700">{title}</legend>
      {children}
    </fieldset>
  )
}

/** A labelled select of string options (`''` reads "any"). */
export function Choice<T extends string>(props: { label: string; value: T; options: readonly T[]; onChange: (v: T) => void; disabled?: boolean }) {
  return (
    <label className="block text-sm">
      <span className="font-medium text-slate-700">{props.label}</span>
      <select
        aria-label={props.label}
        className="mt-1 block rounded border border-slate-300 bg-white px-2 py-2"
        value={props.value} disabled={props.disabled} onChange={(e) => props.onChange(e.target.value as T)}>
        {props.options.map((o) => (
          <option key={o} value={o}>
            {o || 'any'}
          </option>
        ))}
      </select>
    </label>
  )
}

/** A labelled checkbox. */
export function Check(props: { label: string; checked: boolean; onChange: (v: boolean) => void }) {
  return (
    <label className="flex items-center gap-2 text-sm">
      <input type="checkbox" checked={props.checked} onChange={(e) => props.onChange(e.target.checked)} />
      {props.label}
    </label>
  )
}
