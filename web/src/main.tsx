import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { BrowserRouter } from 'react-router'
import { App } from './App'
import { ApiError } from './api/client'
import { overviewQuery } from './overview'
import './index.css'

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      // A refusal is an answer, not a hiccup: no retries for 4xx.
      retry: (failures, error) => !(error instanceof ApiError && error.status < 500) && failures < 2,
      refetchOnWindowFocus: false,
    },
  },
})

// The overview is the page most loads open: ask for it alongside the
// session, not after it (signed out, the 401 is dropped and asked again
// after sign-in).
if (window.location.pathname === '/') void queries.prefetchQuery(overviewQuery)

const root = document.getElementById('root')
if (!root) throw new Error('index.html has no #root')
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queries}>
      <BrowserRouter>
        <App />
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
)
