// Stub: filled in by the page's own commit.
export function Team() {
  return <h1 className="text-2xl font-semibold">Team</h1>
}

