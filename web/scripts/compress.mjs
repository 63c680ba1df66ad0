// After `vite build`: writes a gzip and a Brotli copy of every script and
// style sheet in dist/assets, so that `statushawk api` sends them as they
// are (tower-http's ServeDir picks the copy the browser accepts) instead of
// compressing the same bytes on every request.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'

const dir = new URL('../dist/assets/', import.meta.url).pathname
const compressible = /\.(js|css|svg|json)$/
let files = 0
for (const name of readdirSync(dir).filter((name) => compressible.test(name))) {
  const source = readFileSync(join(dir, name))
  writeFileSync(join(dir, `${name}.gz`), gzipSync(source, { level: 9 }))
  writeFileSync(
    join(dir, `${name}.br`),
    brotliCompressSync(source, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: source.length },
    }),
  )
  files += 1
}
console.log(`compressed ${files} assets (gzip and Brotli) in dist/assets`)
