import { useState } from 'react'

/** A read-only text with a Copy button (selecting the text if the clipboard is refused). */
export function CopyText({ label, text }: { label: string; text: string }) {
  const [copied, setCopied] = useState(false)
  return (
    <div className="flex gap-2">
      <input readOnly aria-label={label} value={text} className="block w-full rounded border border-slate-300 bg-white px-2 py-1 font-mono text-xs" onFocus={(event) => event.target.select()} />
      <button
        type="button"
        className="rounded border border-slate-300 bg-white px-3 py-1 text-xs hover:bg-slate-100"
        onClick={async (event) => {
          try {
            await navigator.clipboard.writeText(text)
            setCopied(true)
          } catch {
            const input = event.currentTarget.previousElementSibling
            if (input instanceof HTMLInputElement) input.select()
          }
        }}
      >
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  )
}
