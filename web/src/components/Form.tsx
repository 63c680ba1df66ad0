// The form pieces every page uses: the primary button's style, a labelled
// field that shows its error, and a plain-spoken failure.
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
  const style = `mt-1 block w-full rounded border px-3 py-2 ${props.error ? 'border-red-500' : 'border-slate-300'}`
  return (
    <label className="block text-sm">
      <span className="font-medium text-slate-700">{props.label}</span>
      {props.multiline ? (
        <textarea
          className={style}
          rows={3}
          value={props.value}
          onChange={(event) => props.onChange(event.target.value)}
          aria-invalid={props.error ? true : undefined}
        />
      ) : (
        <input
          className={style}
          type={props.type ?? 'text'}
          value={props.value}
          placeholder={props.placeholder}
          autoComplete={props.autoComplete}
          onChange={(event) => props.onChange(event.target.value)}
          aria-invalid={props.error ? true : undefined}
        />
      )}
      {props.error && <span className="mt-1 block text-red-700">{props.error}</span>}
    </label>
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
