#!/usr/bin/env node
// What users install must not need the server: no .d.ts that @drover/client or @drover/worker
// ships may name @drover/server (the client uses the router's type at build time only), or a
// user's typecheck would need the server package, its database driver included. Run by
// `pnpm lint` after `pnpm build`; it reads the built dist/ folders.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const declarations = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return declarations(path);
    // Tests and their helpers are not shipped (see each package.json's `files`).
    return name.endsWith('.d.ts') && !/\.test\.d\.ts$|^test[A-Z]/.test(name) ? [path] : [];
  });

const problems = [];
for (const pkg of ['client', 'worker']) {
  const dist = join(root, 'packages', pkg, 'dist');
  if (!existsSync(dist)) {
    problems.push(`packages/${pkg}/dist: not built; run pnpm build first`);
    continue;
  }
  for (const file of declarations(dist)) {
    if (readFileSync(file, 'utf8').includes('@drover/server')) {
      problems.push(
        `${relative(root, file)}: names @drover/server, which users of @drover/${pkg} do not install; declare the types from @drover/schemas instead`,
      );
    }
  }
}
if (problems.length > 0) {
  console.error(`Shipped-types check failed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('Shipped-types check passed.');
