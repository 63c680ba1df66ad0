import { useState, type FormEvent, type ReactNode } from 'react'
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { Link, useLocation, useNavigate } from 'react-router'
import { api, ApiError, unwrap } from '../api/client'
import { Failure, Field, PRIMARY } from '../components/Form'
import { fetchSession, SESSION_KEY } from '../session'

/** After signing in: back where the person was sent from, or the overview. */
function useSignedIn() {
  const client = useQueryClient()
  const navigate = useNavigate()
  const from = (useLocation().state as { from?: string } | null)?.from ?? '/'
  // The session is read before the pages that need it show: a stale
  // "nobody" would send the person straight back here.
  return async () => {
    client.setQueryData(SESSION_KEY, await fetchSession())
    navigate(from, { replace: true })
  }
}

export function SignIn() {
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const signedIn = useSignedIn()
  const login = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/login', { body: { email, password, cookie: true } })),
    onSuccess: signedIn,
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    login.mutate()
  }
  return (
    <Card title="Sign in to StatusHawk">
      <form onSubmit={submit} className="space-y-4">
        <Field label="E-mail" type="email" value={email} onChange={setEmail} autoComplete="username" />
        <Field label="Password" type="password" value={password} onChange={setPassword} autoComplete="current-password" />
        <Failure error={login.error} />
        <button type="submit" disabled={login.isPending} className={PRIMARY}>
          {login.isPending ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p className="mt-6 text-sm text-slate-600">
        No account yet?{' '}
        <Link to="/signup" className="text-teal-700 underline">
          Sign up
        </Link>
      </p>
    </Card>
  )
}

export function SignUp() {
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [team, setTeam] = useState('')
  const signedIn = useSignedIn()
  const signUp = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST('/api/v1/signup', { body: { email, password, team_name: team, cookie: true } })),
    onSuccess: signedIn,
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    signUp.mutate()
  }
  const fieldError = (field: string) =>
    signUp.error instanceof ApiError && signUp.error.field === field ? signUp.error.message : undefined
  return (
    <Card title="Create your StatusHawk team">
      <form onSubmit={submit} className="space-y-4">
        <Field label="E-mail" type="email" value={email} onChange={setEmail} autoComplete="username" error={fieldError('email')} />
        <Field
          label="Password (at least 10 characters)"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="new-password"
          error={fieldError('password')}
        />
        <Field label="Team name" value={team} onChange={setTeam} error={fieldError('team_name')} />
        <Failure error={signUp.error instanceof ApiError && signUp.error.field ? null : signUp.error} />
        <button type="submit" disabled={signUp.isPending} className={PRIMARY}>
          {signUp.isPending ? 'Creating…' : 'Sign up'}
        </button>
      </form>
      <p className="mt-6 text-sm text-slate-600">
        Already have an account?{' '}
        <Link to="/signin" className="text-teal-700 underline">
          Sign in
        </Link>
      </p>
    </Card>
  )
}

function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="flex min-h-screen items-start justify-center px-4 pt-24">
      <div className="w-full max-w-sm rounded-lg border border-slate-200 bg-white p-8 shadow-sm">
        <div className="mb-6 flex items-center gap-2 text-teal-800">
          <img src="/favicon.svg" alt="" className="h-7 w-7" />
          <span className="text-lg font-semibold">StatusHawk</span>
        </div>
        <h1 className="mb-6 text-xl font-semibold">{title}</h1>
        {children}
      </div>
    </div>
  )
}
