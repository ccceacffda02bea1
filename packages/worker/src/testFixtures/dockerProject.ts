// A Drover project as a folder to build a docker image from, with no registry (not shipped).
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const clientDir = fileURLToPath(new URL('../../../client/', import.meta.url));

/** The folder of package `name` as Node resolves it from `from` (its real path), or undefined. */
function findPackage(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

/** A workspace package is copied as `pnpm pack` would pack it (package.json and dist, no tests, maps or build info); any other whole, without its own node_modules. */
function copyPackage(from: string, to: string): void {
  const workspace = !from.includes(`${sep}node_modules${sep}`);
  cpSync(from, to, {
    recursive: true,
    dereference: true,
    filter: (source) => {
      const path = relative(from, source);
      if (path === '') return true;
      if (path.split(sep)[0] === 'node_modules') return false;
      if (!workspace) return true;
      if (path === 'package.json' || path === 'dist') return true;
      return path.startsWith(`dist${sep}`) && !/(\.test\.|\.map$|\.tsbuildinfo$|\/test[^/]*$)/.test(path);
    },
  });
}

/**
 * Installs `@drover/client`, as built in this workspace, and every package it needs at run time
 * into `nodeModules`, laid out as npm lays them out: each at the top unless another version holds
 * that name, then under the package that needs it. Copied from this workspace's install: no
 * registry is reachable here, and the image must carry its node_modules.
 */
export function installClient(nodeModules: string): void {
  const atTop = new Map<string, string>();
  const root = realpathSync(clientDir);
  const queue = [{ real: root, dest: join(nodeModules, '@drover/client') }];
  atTop.set('@drover/client', root);
  copyPackage(root, join(nodeModules, '@drover/client'));
  for (let next = queue.shift(); next; next = queue.shift()) {
    const pkg = JSON.parse(readFileSync(join(next.real, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const optional = Object.keys(pkg.optionalDependencies ?? {});
    for (const name of [...Object.keys(pkg.dependencies ?? {}), ...optional]) {
      const real = findPackage(name, next.real);
      if (!real) {
        if (optional.includes(name)) continue; // another platform's binary
        throw new Error(`Cannot find ${name}, a dependency of ${next.real}, in this workspace's install: run pnpm install`);
      }
      const top = atTop.get(name);
      if (top === real) continue;
      const dest = top === undefined ? join(nodeModules, name) : join(next.dest, 'node_modules', name);
      if (top === undefined) atTop.set(name, real);
      else if (existsSync(dest)) continue;
      copyPackage(real, dest);
      queue.push({ real, dest });
    }
  }
}

/**
 * Writes a project to build an image from: `drover.yaml` (what makes the folder a project root,
 * so `deploy()` builds it and entrypoints are relative to it), `files`, and node_modules with the
 * SDK. No package.json: its dependencies are already in node_modules, so the Dockerfile that
 * `deploy()` writes has nothing to install, and its `COPY . .` carries code and node_modules.
 */
export function writeDockerProject(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'drover.yaml'), '# A Drover project: its flows and node_modules are built into its image.\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  installClient(join(dir, 'node_modules'));
}
