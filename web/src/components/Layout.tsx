import { Link, NavLink, Outlet, useNavigate } from 'react-router'
import type { Me } from '../api/client'
import { useSignOut, useSwitchTeam } from '../session'

/** The app's sections, in the order of the navigation bar. */
const NAV: [string, string][] = [
  ['/', 'Monitors'],
  ['/incidents', 'Incidents'],
  ['/channels', 'Channels'],
  ['/maintenance', 'Maintenance'],
  ['/status-pages', 'Status pages'],
  ['/team', 'Team'],
  ['/tokens', 'API tokens'],
]

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
          <div className="ml-auto flex items-center gap-3 whitespace-nowrap text-sm">
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
            {me.email && <span className="hidden max-w-64 truncate text-slate-500 md:inline">{me.email}</span>}
            <button
              type="button"
              className="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100"
              onClick={() => signOut.mutate(undefined, { onSettled: () => navigate('/signin') })}
            >
              Sign out
            </button>
          </div>
        </div>
        <nav className="mx-auto flex max-w-7xl gap-5 overflow-x-auto px-4 text-sm text-slate-600">
          {NAV.map(([to, label]) => (
            <NavLink
              key={to}
              to={to}
              end={to === '/'}
              className={({ isActive }) =>
                `-mb-px whitespace-nowrap border-b-2 pb-2 ${isActive ? 'border-teal-700 font-medium text-slate-900' : 'border-transparent hover:text-slate-900'}`
              }
            >
              {label}
            </NavLink>
          ))}
        </nav>
        {switchTeam.isError && <p className="bg-red-50 px-4 py-2 text-sm text-red-800">{switchTeam.error.message}</p>}
      </header>
      <main className="mx-auto max-w-7xl px-4 py-6">
        <Outlet context={me} />
      </main>
    </div>
  )
}
