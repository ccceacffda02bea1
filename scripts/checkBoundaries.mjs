#!/usr/bin/env node
// Architecture checks that no linter knows about (run by `pnpm lint`):
// - every package's src/index.ts opens with its module comment (what it is for, with an example);
// - imports between @drover packages follow the dependency direction of DESIGN.md, so nothing
//   imports upward and a user installing the client never installs the server;
// - @drover/schemas runs anywhere (no node: imports) and @drover/scheduling never reads the clock.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

// Who may import whom. `typeOnly` imports are erased at build time (the client may name the
// server's router type; scripts/checkShippedTypes keeps it out of the shipped .d.ts files).
const ALLOWED = {
  '@drover/schemas': [],
  '@drover/scheduling': ['@drover/schemas'],
  '@drover/server': ['@drover/schemas', '@drover/scheduling'],
  '@drover/client': ['@drover/schemas', { typeOnly: '@drover/server' }],
  '@drover/worker': ['@drover/schemas', '@drover/client'],
  '@drover/cli': ['@drover/schemas', '@drover/scheduling', '@drover/client', '@drover/worker', '@drover/server'],
  '@drover/server-app': ['@drover/schemas', '@drover/server'],
  '@drover/cli-app': ['@drover/cli'],
  '@drover/bench': ['@drover/schemas', '@drover/scheduling', '@drover/server', '@drover/client', '@drover/worker'],
};

const problems = [];
const files = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'dist' ? [] : files(path);
    return /\.(ts|mts|mjs|js)$/.test(name) ? [path] : [];
  });

for (const group of ['packages', 'apps']) {
  for (const dir of readdirSync(join(root, group))) {
    const pkgDir = join(root, group, dir);
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    const rules = ALLOWED[pkg.name];
    if (!rules) {
      problems.push(`${pkg.name}: not in the dependency graph of scripts/checkBoundaries.mjs; add it where DESIGN.md puts it`);
      continue;
    }
    const allowed = new Set(rules.filter((r) => typeof r === 'string'));
    const typeOnly = new Set(rules.filter((r) => typeof r === 'object').map((r) => r.typeOnly));
    const index = join(pkgDir, 'src/index.ts');
    let indexText = '';
    try {
      indexText = readFileSync(index, 'utf8');
    } catch {}
    if (!indexText.startsWith('/**') && !indexText.startsWith('#!/usr/bin/env node\n/**')) {
      problems.push(`${relative(root, index)}: must open with a /** module comment saying what ${pkg.name} is for, with an example`);
    }
    for (const file of files(join(pkgDir, 'src'))) {
      const text = readFileSync(file, 'utf8');
      const where = relative(root, file);
      for (const match of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"](@drover\/[\w-]+)/gm)) {
        const [, , isType, target] = match;
        // Tests and their helpers (*.test.ts, testX.ts) may start a real server in any package.
        const isTest = /(\.test\.ts|\/test[A-Z]\w*\.ts)$/.test(file);
        if (target === pkg.name || allowed.has(target) || (isType && typeOnly.has(target)) || (isTest && target === '@drover/server')) continue;
        const hint = typeOnly.has(target) ? ' except as `import type`' : '';
        problems.push(`${where}: ${pkg.name} may not import ${target}${hint} (dependency direction of DESIGN.md)`);
      }
      if (pkg.name === '@drover/schemas' && /from\s+['"]node:/.test(text)) {
        problems.push(`${where}: @drover/schemas runs anywhere and may not import node: modules`);
      }
      if (pkg.name === '@drover/scheduling' && !file.endsWith('.test.ts') && /Date\.now\(|new Date\(\s*\)/.test(text)) {
        problems.push(`${where}: @drover/scheduling never reads the clock; take the time as a parameter`);
      }
    }
  }
}

if (problems.length > 0) {
  console.error(`Boundary check failed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('Boundary check passed.');
