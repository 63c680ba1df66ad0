/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'

// `npm run dev` proxies the API of a local `statushawk all` (scripts/dev).
const api = process.env.STATUSHAWK_API ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [react(), tailwindcss()],
  server: {
    // The public status pages (not /status-pages, the app's), the invitation
    // and verification links' pages and the ping URLs are the API's too.
    proxy: Object.fromEntries(
      ['/api', '^/status/', '^/invite/', '^/verify-email/', '^/ping/'].map((path) => [path, { target: api, changeOrigin: false }]),
    ),
  },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
})
