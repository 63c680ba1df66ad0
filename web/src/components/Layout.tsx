import { Link, Outlet, useNavigate } from 'react-router'
import type { Me } from '../api/client'
import { useSignOut, useSwitchTeam } from '../session'

export function Layout({ me }: { me: Me }) {
  const signOut = useSignOut()
  const switchTeam = useSwitchTeam()
  const navigate = useNavigate()
  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-7xl items-center gap-4 px-4 py-3">
          <Link to="/" className="flex items-center gap-2 font-semibold text-teal-800">
            <img src="/favicon.svg" alt="" className="h-6 w-6" />
            StatusHawk
          </Link>
          <nav className="flex gap-3 text-sm text-slate-600">
            <Link to="/" className="hover:text-slate-900">
              Monitors
            </Link>
            <Link to="/incidents" className="hover:text-slate-900">
              Incidents
            </Link>
          </nav>
          <div className="ml-auto flex items-center gap-3 text-sm">
            {me.teams.length > 1 ? (
              <label className="flex items-center gap-2">
                <span className="sr-only">Team</span>
                <select
                  aria-label="Team"
                  className="rounded border border-slate-300 bg-white px-2 py-1"
                  value={me.team.slug}
                  disabled={switchTeam.isPending}
                  onChange={(event) => switchTeam.mutate(event.target.value, { onSuccess: () => navigate('/') })}
                >
                  {me.teams.map((team) => (
                    <option key={team.id} value={team.slug}>
                      {team.name}
                    </option>
                  ))}
                </select>
              </label>
            ) : (
              <span className="font-medium">{me.team.name}</span>
            )}
            <span className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600" title="Your role in this team">
              {me.role}
            </span>
            {me.email && <span className="hidden text-slate-500 sm:inline">{me.email}</span>}
            <button
              type="button"
              className="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100"
              onClick={() => signOut.mutate(undefined, { onSettled: () => navigate('/signin') })}
            >
              Sign out
            </button>
          </div>
        </div>
        {switchTeam.isError && <p className="bg-red-50 px-4 py-2 text-sm text-red-800">{switchTeam.error.message}</p>}
      </header>
      <main className="mx-auto max-w-7xl px-4 py-6">
        <Outlet context={me} />
      </main>
    </div>
  )
}
