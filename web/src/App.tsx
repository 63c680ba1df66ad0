import { Navigate, Route, Routes, useLocation } from 'react-router'
import { Layout } from './components/Layout'
import { ChannelForm, Channels } from './pages/Channels'
import { IncidentDetail, Incidents } from './pages/Incidents'
import { Maintenance, MaintenanceForm } from './pages/Maintenance'
import { MonitorDetail } from './pages/MonitorDetail'
import { MonitorForm } from './pages/MonitorForm'
import { Overview } from './pages/Overview'
import { SignIn, SignUp } from './pages/SignIn'
import { StatusPageForm, StatusPages } from './pages/StatusPages'
import { Team } from './pages/Team'
import { Tokens } from './pages/Tokens'
import { useSession } from './session'

export function App() {
  return (
    <Routes>
      <Route path="/signin" element={<SignIn />} />
      <Route path="/signup" element={<SignUp />} />
      <Route element={<SignedIn />}>
        <Route path="/" element={<Overview />} />
        <Route path="/monitors/new" element={<MonitorForm />} />
        <Route path="/monitors/:id" element={<MonitorDetail />} />
        <Route path="/monitors/:id/edit" element={<MonitorForm />} />
        <Route path="/incidents" element={<Incidents />} />
        <Route path="/incidents/:id" element={<IncidentDetail />} />
        <Route path="/channels" element={<Channels />} />
        <Route path="/channels/new" element={<ChannelForm />} />
        <Route path="/channels/:id" element={<ChannelForm />} />
        <Route path="/maintenance" element={<Maintenance />} />
        <Route path="/maintenance/new" element={<MaintenanceForm />} />
        <Route path="/maintenance/:id" element={<MaintenanceForm />} />
        <Route path="/status-pages" element={<StatusPages />} />
        <Route path="/status-pages/new" element={<StatusPageForm />} />
        <Route path="/status-pages/:id" element={<StatusPageForm />} />
        <Route path="/team" element={<Team />} />
        <Route path="/tokens" element={<Tokens />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  )
}

/** The pages that need a session: the layout, or the sign-in page. */
function SignedIn() {
  const session = useSession()
  const location = useLocation()
  if (session.isPending) return <p className="p-8 text-slate-500">Loading…</p>
  if (session.isError) return <p className="p-8 text-red-700">The API cannot be reached: {session.error.message}</p>
  if (!session.data) return <Navigate to="/signin" replace state={{ from: location.pathname }} />
  return <Layout me={session.data} />
}

function NotFound() {
  return (
    <div className="p-8">
      <h1 className="text-xl font-semibold">Not found</h1>
      <p className="mt-2 text-slate-600">There is no page here.</p>
    </div>
  )
}
