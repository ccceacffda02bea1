import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { exportNameAt } from './loadFlow.js';

/** `source` with `^` marking where the stack frame of the `flow(…)` call points (the `flow` itself). */
function exportNameOf(source: string): string | null {
  const at = source.indexOf('^');
  const text = source.replace('^', '');
  const before = text.slice(0, at).split('\n');
  const dir = mkdtempSync(join(tmpdir(), 'drover-source-'));
  try {
    writeFileSync(join(dir, 'flows.ts'), text);
    return exportNameAt(join(dir, 'flows.ts'), { line: before.length, column: (before.at(-1) as string).length + 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('exportNameAt', () => {
  it.each([
    ['export const etl = ^flow({ name: "etl" }, fn);', 'etl'],
    ['export let etl=^flow({ name: "etl" }, fn)', 'etl'],
    ['export const etl: Flow<typeof P, number> =\n  drover.^flow({ name: "etl" }, fn);', 'etl'],
    ['let other: number\nexport const etl = ^flow({ name: "etl" }, fn);', 'etl'],
    ['const pipeline = ^flow({ name: "etl" }, fn);\nexport { other, pipeline as etl };', 'etl'],
    ['const etl = ^flow({ name: "etl" }, fn);\nexport { etl };', 'etl'],
    ['const etl = ^flow({ name: "etl" }, fn);\nexport default etl;', 'default'],
    ['export default ^flow({ name: "etl" }, fn);', 'default'],
    ['exports.etl = (0, client_1.flow)^({ name: "etl" }, fn);', 'etl'],
    ['const pipeline = (0, client_1.flow)^({ name: "etl" }, fn);\nexports.etl = pipeline;', 'etl'],
    ['exports.etl = ^flow({ name: "etl" }, fn);', 'etl'],
    ['module.exports.etl = ^flow({ name: "etl" }, fn);', 'etl'],
  ])('%s → %s', (source, expected) => {
    expect(exportNameOf(source)).toBe(expected);
  });

  it.each([
    ['const etl = ^flow({ name: "etl" }, fn);'],
    ['const etl = ^flow({ name: "etl" }, fn);\nexport { etl as other } from "./elsewhere.js";'],
    ['export const etl = retried(^flow({ name: "etl" }, fn));'],
    ['export const flows = { etl: ^flow({ name: "etl" }, fn) };'],
  ])('finds no export in %s', (source) => {
    expect(exportNameOf(source)).toBeNull();
  });
});

describe('useTypeScriptLoader', () => {
  // In this package's folder, so `@drover/client` resolves (to dist/) as it does for a user's flow.
  const dir = mkdtempSync(join(fileURLToPath(new URL('..', import.meta.url)), '.test-loader-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'flow.ts'), "export { flow } from '@drover/client';\nexport const typed: number = 1;\n");
  // In a child process: registering a loader would change how this test process loads modules.
  const sameSdk = async (registerFirst: boolean) => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import * as sdk from '@drover/client';
import { importModule, useTypeScriptLoader } from ${JSON.stringify(pathToFileURL(fileURLToPath(new URL('../dist/loadFlow.js', import.meta.url))).href)};
${registerFirst ? 'useTypeScriptLoader();' : ''}
const loaded = await importModule(${JSON.stringify(join(dir, 'flow.ts'))});
console.log(loaded.typed, loaded.flow === sdk.flow);`,
      ],
      { cwd: dir },
    );
    return stdout.trim();
  };

  it("loads a .ts flow into the engine's own module graph, where tsImport loads the SDK a second time", async () => {
    expect(await sameSdk(true)).toBe('1 true');
    expect(await sameSdk(false)).toBe('1 false');
  });

  it('leaves a .ts file outside an ES module package to tsImport, which loads it', async () => {
    // A project folder with no package.json, as `drover init` tests and quick experiments have.
    const bare = mkdtempSync(join(tmpdir(), 'drover-loader-bare-'));
    try {
      // It imports an ES module (the SDK, by path): tsx's process-wide loader would compile this file to CommonJS and fail.
      const sdk = fileURLToPath(new URL('../dist/index.js', import.meta.url));
      writeFileSync(join(bare, 'flow.ts'), `import { flow } from ${JSON.stringify(sdk)};\nexport const typed: string = typeof flow({ name: 'x' }, () => 1);\n`);
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { importModule, useTypeScriptLoader } from ${JSON.stringify(pathToFileURL(fileURLToPath(new URL('../dist/loadFlow.js', import.meta.url))).href)};
useTypeScriptLoader();
console.log((await importModule(${JSON.stringify(join(bare, 'flow.ts'))})).typed);`,
        ],
        { cwd: bare },
      );
      expect(stdout.trim()).toBe('function');
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
