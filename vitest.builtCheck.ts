import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

function newestSource(dir: string): { file: string; mtimeMs: number } {
  let newest = { file: '', mtimeMs: 0 };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    // Only what tsc compiles into dist/ counts: test files run from source in vitest, and fixtures
    // (.mjs and the like) are run from src/ by the tests' child processes.
    if (!entry.isDirectory() && (!entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts'))) continue;
    const found = entry.isDirectory() ? newestSource(path) : { file: path, mtimeMs: statSync(path).mtimeMs };
    if (found.mtimeMs > newest.mtimeMs) newest = found;
  }
  return newest;
}

/**
 * For test projects whose tests run the built output in child processes (the `drover` binary,
 * workers, jobs, the TZ check): fails at once, saying what to do, when a package's dist/ is older
 * than its src/, rather than letting those tests run yesterday's code. It builds nothing itself:
 * test files run in parallel, and builds racing each other corrupt dist/.
 */
export default function checkBuilt(): void {
  const stale: string[] = [];
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, group))) {
      const src = join(root, group, name, 'src');
      if (!existsSync(src)) continue;
      const buildInfo = join(root, group, name, 'dist', '.tsbuildinfo');
      const newest = newestSource(src);
      if (!existsSync(buildInfo)) stale.push(`${group}/${name} is not built`);
      else if (newest.mtimeMs > statSync(buildInfo).mtimeMs) stale.push(`${relative(root, newest.file)} changed after the last build`);
    }
  }
  if (stale.length > 0) {
    throw new Error(
      `These tests run the built code in child processes, as users do, but the build is out of date (${stale.join('; ')}): run \`pnpm build\` (or \`npx tsc -b\`) first`,
    );
  }
}
