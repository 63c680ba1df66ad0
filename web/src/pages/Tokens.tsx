// Stub: filled in by the page's own commit.
export function Tokens() {
  return <h1 className="text-2xl font-semibold">Tokens</h1>
}

