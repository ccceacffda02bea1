// `pnpm bench` at the root: runs every benchmark in this folder (each is a tsx script).
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
for (const file of readdirSync(dir)
  .filter((name) => name.endsWith('.ts'))
  .sort()) {
  console.log(`\n# ${file}`);
  execFileSync('pnpm', ['exec', 'tsx', file], { cwd: dir, stdio: 'inherit' });
}
