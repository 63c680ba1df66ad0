// Fails when src/api/schema.d.ts is not what openapi-typescript makes of
// openapi.json (which a Rust test keeps equal to the API's document):
// the app's types never drift from the Rust API.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dir = mkdtempSync(join(tmpdir(), 'statushawk-api-types-'))
try {
  const generated = join(dir, 'schema.d.ts')
  execFileSync(join('node_modules', '.bin', 'openapi-typescript'), ['openapi.json', '-o', generated], { stdio: 'pipe' })
  if (readFileSync(generated, 'utf8') !== readFileSync(join('src', 'api', 'schema.d.ts'), 'utf8')) {
    console.error('src/api/schema.d.ts is out of date with openapi.json: run npm run gen:api and commit it')
    process.exit(1)
  }
  console.log('src/api/schema.d.ts matches openapi.json')
} finally {
  rmSync(dir, { recursive: true, force: true })
}
