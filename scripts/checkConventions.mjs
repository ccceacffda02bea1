#!/usr/bin/env node
// Conventions no linter rule expresses (run by `pnpm lint`; the import direction between packages
// is biome's noRestrictedImports, configured in biome.json):
// - every package's src/index.ts (an app's src/main.ts) opens with its module comment (what it is
//   for, with an example);
// - @drover/schemas runs anywhere: no node: module, imported statically or dynamically;
// - @drover/scheduling never reads the clock: time is a parameter, so results are exact in tests;
// - the UI's browser code takes only types from the server and schemas packages (their code is
//   Node's, and zod's weight has no place in the bundle): `import type`, never a value import.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
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
    const index = join(pkgDir, group === 'apps' ? 'src/main.ts' : 'src/index.ts');
    let indexText = '';
    try {
      indexText = readFileSync(index, 'utf8');
    } catch {}
    if (!indexText.startsWith('/**') && !indexText.startsWith('#!/usr/bin/env node\n/**')) {
      problems.push(
        `${relative(root, index)}: must open with a /** module comment saying what ${pkg.name} is for, with an example (CONTRIBUTING.md, "Layout")`,
      );
    }
    for (const file of files(join(pkgDir, 'src'))) {
      const text = readFileSync(file, 'utf8');
      const where = relative(root, file);
      if (pkg.name === '@drover/schemas' && /(from\s+|import\s*\(\s*)['"]node:/.test(text)) {
        problems.push(`${where}: @drover/schemas runs anywhere (browsers included) and may not import node: modules`);
      }
      if (pkg.name === '@drover/ui' && where.includes('/src/app/') && /^import\s+(?!type\s)[^;]*from\s+['"]@drover\//m.test(text)) {
        problems.push(`${where}: the UI takes only types from @drover/* packages (\`import type\`): their code runs in Node, not in the browser bundle`);
      }
      if (pkg.name === '@drover/scheduling' && !file.endsWith('.test.ts') && /Date\.now\(|new Date\(\s*\)|performance\.now\(/.test(text)) {
        problems.push(`${where}: @drover/scheduling never reads the clock; take the time as a parameter, so results are exact in tests`);
      }
    }
  }
}

if (problems.length > 0) {
  console.error(`Convention check failed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('Convention check passed.');
