import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { droverErrorOf } from '@drover/schemas';
import { type AnyFlow, isFlow, type SourcePosition } from './flow.js';

/** True in a process that only runs flows (the engine): tsx becomes its loader for TypeScript. */
let processWide = false;
let registration: Promise<void> | undefined;

function registerTsx(): Promise<void> {
  registration ??= import('tsx/esm/api').then(({ register }) => {
    register();
  });
  return registration;
}

/**
 * Makes tsx this process's loader for TypeScript (at the first `.ts` import, or `now`), so a
 * `.ts` flow imports into the module graph the process already has: the SDK and zod are not
 * loaded a second time. `tsImport`, which `importModule` uses otherwise, keeps its imports in a
 * namespace of their own and so loads every dependency of the flow again: 0.9-1.8 s for a flow
 * importing `@drover/client` and zod, measured here on a loaded 2-core machine, against about
 * 50 ms this way (plus ~400 ms, once, to register, which a warm engine pays before its run
 * comes). Only for processes that exist to run flows (a user's own process keeps `tsImport`,
 * which leaves the process's loaders alone), and only for files Node loads as ES modules (see
 * `isEsmScope`).
 */
export function useTypeScriptLoader(options: { now?: boolean } = {}): Promise<void> {
  processWide = true;
  return options.now ? registerTsx() : Promise.resolve();
}

/**
 * Whether Node loads `file` as an ES module: `.mts`, or `.ts`/`.tsx` under a package.json with
 * `"type": "module"`. Only those go through the process-wide loader: tsx compiles a `.ts` file
 * of a CommonJS scope (or of a folder with no package.json) to CommonJS, and such a file written
 * with `import`s then fails to load ("Cannot require() ES Module … in a cycle"), where `tsImport`
 * loads it.
 */
function isEsmScope(file: string): boolean {
  if (file.endsWith('.mts')) return true;
  if (file.endsWith('.cts')) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false;
      }
    }
    if (dirname(dir) === dir) return false;
  }
}

/** Whether `file` (or the file of an entrypoint `file:export`) is TypeScript, which loads through tsx. */
export function isTypeScript(file: string): boolean {
  return /\.[cm]?tsx?(:[^:/\\]*)?$/.test(file);
}

/** Imports a module the way the engine does: TypeScript through tsx (Node 20 cannot strip types), JavaScript natively. */
export async function importModule(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  if (isTypeScript(file)) {
    if (processWide && isEsmScope(file)) {
      await registerTsx();
      return (await import(url)) as Record<string, unknown>;
    }
    const { tsImport } = await import('tsx/esm/api');
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url)) as Record<string, unknown>;
}

/** Splits `path/to/file.ts:exportName`. */
export function parseEntrypoint(entrypoint: string): { path: string; exportName: string } {
  const colon = entrypoint.lastIndexOf(':');
  if (colon <= 0 || colon === entrypoint.length - 1) {
    throw droverErrorOf('FLOW_LOAD_ERROR', `Invalid entrypoint "${entrypoint}": expected path/to/file.ts:exportName`, { entrypoint });
  }
  return { path: entrypoint.slice(0, colon), exportName: entrypoint.slice(colon + 1) };
}

/** Loads the flow an entrypoint names, relative to `root`; FLOW_LOAD_ERROR says what went wrong. */
export async function loadFlow(entrypoint: string, root: string = process.cwd()): Promise<AnyFlow> {
  const { path, exportName } = parseEntrypoint(entrypoint);
  const file = isAbsolute(path) ? path : resolve(root, path);
  if (!existsSync(file)) {
    throw droverErrorOf('FLOW_LOAD_ERROR', `Cannot load flow "${entrypoint}": ${file} does not exist (entrypoints are relative to ${root})`, {
      entrypoint,
      file,
    });
  }
  let module: Record<string, unknown>;
  try {
    module = await importModule(file);
  } catch (error) {
    throw droverErrorOf(
      'FLOW_LOAD_ERROR',
      `Cannot load flow "${entrypoint}": importing ${file} failed: ${(error as Error).message}`,
      { entrypoint, file },
      { cause: error },
    );
  }
  const value = module[exportName];
  if (!isFlow(value)) {
    const flows = Object.entries(module)
      .filter(([, v]) => isFlow(v))
      .map(([name]) => name);
    throw droverErrorOf(
      'FLOW_LOAD_ERROR',
      `Cannot load flow "${entrypoint}": ${file} has no flow exported as "${exportName}" (its flows: ${flows.join(', ') || 'none'})`,
      { entrypoint, file },
    );
  }
  return value;
}

const IDENTIFIER = '[A-Za-z_$][\\w$]*';
/** What stands before the `flow` of a `flow(…)` call whose value is bound to a name. */
const BINDINGS = [
  // `export const etl = flow(`, `const etl: Flow<…> = drover.flow(` (a type on one line, so that an
  // earlier `let x: T` without a semicolon is not read as this declaration)
  new RegExp(`\\b(export\\s+)?(?:const|let|var)\\s+(${IDENTIFIER})\\s*(?::[^=;\\n]+)?=\\s*$`),
  // `export default flow(`
  /\b(export)\s+(default)\s+$/,
  // `exports.etl = flow(` (CommonJS)
  new RegExp(`\\b(?:module\\.)?(exports)\\.(${IDENTIFIER})\\s*=\\s*$`),
];

/**
 * The name a module exports the flow under whose `flow(…)` call is at `position` in `file`, read
 * from the source; null when the call's value is not bound to an exported name there.
 *
 * The source, not the module: a file that defines a flow and deploys it at its top level (the
 * README's pattern) is still evaluating while `deploy()` looks for the export, and importing it
 * again would wait on that evaluation forever (Node exits 13, "unsettled top-level await").
 * Reading the source also runs none of the file's side effects. The forms recognised are those
 * that bind the call's value directly: `export const x = flow(`, `const x = flow(` with
 * `export { x }` or `export { x as y }` (or `export default x`), `export default flow(`, and in
 * CommonJS `exports.x = flow(` and `exports.y = x`.
 */
export function exportNameAt(file: string, position: SourcePosition): string | null {
  const source = readFileSync(file, 'utf8');
  const lineStart = source
    .split('\n')
    .slice(0, position.line - 1)
    .reduce((offset, line) => offset + line.length + 1, 0);
  // The frame points at `flow`, after any qualifier (`drover.flow`), or, in tsc's CommonJS output
  // (`(0, client_1.flow)(`), after the whole callee: neither stands between binding and call.
  const callee = new RegExp(`(?:\\(0,\\s*(?:${IDENTIFIER}\\s*\\.\\s*)*${IDENTIFIER}\\s*\\)|(?:${IDENTIFIER}\\s*\\.\\s*)*)$`);
  const before = source.slice(0, lineStart + position.column - 1).replace(callee, '');
  for (const pattern of BINDINGS) {
    const [, exported, name] = pattern.exec(before) ?? [];
    if (!name) continue;
    if (exported) return name;
    for (const [, specifiers = ''] of source.matchAll(/\bexport\s*\{([^}]*)\}(?!\s*from\b)/g)) {
      for (const specifier of specifiers.split(',')) {
        const [local, alias = local] = specifier.trim().split(/\s+as\s+/);
        if (local === name && alias) return alias;
      }
    }
    const escaped = name.replace(/\$/g, '\\$');
    const exportedAs = new RegExp(`\\bexport\\s+default\\s+${escaped}\\s*(?:;|$)|\\bexports\\.(${IDENTIFIER})\\s*=\\s*${escaped}\\s*(?:;|$)`, 'm').exec(source);
    return exportedAs ? (exportedAs[1] ?? 'default') : null;
  }
  return null;
}
