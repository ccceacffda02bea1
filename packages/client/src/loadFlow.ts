import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DroverError } from '@drover/schemas';
import { type AnyFlow, isFlow } from './flow.js';

/** Imports a module the way the engine does: TypeScript through tsx (Node 20 cannot strip types), JavaScript natively. */
export async function importModule(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  if (/\.[cm]?tsx?$/.test(file)) {
    const { tsImport } = await import('tsx/esm/api');
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url)) as Record<string, unknown>;
}

/** Splits `path/to/file.ts:exportName`. */
export function parseEntrypoint(entrypoint: string): { path: string; exportName: string } {
  const colon = entrypoint.lastIndexOf(':');
  if (colon <= 0 || colon === entrypoint.length - 1) {
    throw new DroverError('FLOW_LOAD_ERROR', `Invalid entrypoint "${entrypoint}": expected path/to/file.ts:exportName`, { entrypoint });
  }
  return { path: entrypoint.slice(0, colon), exportName: entrypoint.slice(colon + 1) };
}

/** Loads the flow an entrypoint names, relative to `root`; FLOW_LOAD_ERROR says what went wrong. */
export async function loadFlow(entrypoint: string, root: string = process.cwd()): Promise<AnyFlow> {
  const { path, exportName } = parseEntrypoint(entrypoint);
  const file = isAbsolute(path) ? path : resolve(root, path);
  if (!existsSync(file)) {
    throw new DroverError('FLOW_LOAD_ERROR', `Cannot load flow "${entrypoint}": ${file} does not exist (entrypoints are relative to ${root})`, { entrypoint, file });
  }
  let module: Record<string, unknown>;
  try {
    module = await importModule(file);
  } catch (error) {
    throw new DroverError('FLOW_LOAD_ERROR', `Cannot load flow "${entrypoint}": importing ${file} failed: ${(error as Error).message}`, { entrypoint, file }, { cause: error });
  }
  const value = module[exportName];
  if (!isFlow(value)) {
    const flows = Object.entries(module).filter(([, v]) => isFlow(v)).map(([name]) => name);
    throw new DroverError(
      'FLOW_LOAD_ERROR',
      `Cannot load flow "${entrypoint}": ${file} has no flow exported as "${exportName}" (its flows: ${flows.join(', ') || 'none'})`,
      { entrypoint, file },
    );
  }
  return value;
}
