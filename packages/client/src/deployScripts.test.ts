// Deploy scripts as users run them: a real child process (plain node or tsx) against a real
// server, importing the built client the way an installed one is imported.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withSdkServer } from './testServer.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const tsxCli = require.resolve('tsx/cli');

/** A project folder outside the workspace whose node_modules has @drover/client and zod. */
function project(packageJson: object, files: Record<string, string>): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'drover-script-')));
  mkdirSync(join(dir, 'node_modules', '@drover'), { recursive: true });
  symlinkSync(packageDir, join(dir, 'node_modules', '@drover', 'client'));
  symlinkSync(join(packageDir, 'node_modules', 'zod'), join(dir, 'node_modules', 'zod'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify(packageJson));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Runs `args` with node in `cwd`; a script that hangs is killed after 30 s (and so fails). */
function run(args: string[], cwd: string, apiUrl: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, DROVER_API_URL: apiUrl, DROVER_HOME: cwd };
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => resolve({ code, output }));
  });
}

const README_SCRIPT = `import { deploy, flow } from '@drover/client';
import { z } from 'zod';

export const etl = flow({ name: 'etl', parameters: z.object({ day: z.string().default('today') }) }, async ({ day }) => day);
await deploy(etl, { workPoolName: 'local', printNextSteps: false });
`;

describe('a script that defines a flow and deploys it in the same file', () => {
  it('exits 0 under plain node (.mjs) and records the export as the entrypoint', async () => {
    const dir = project({ name: 'shop', type: 'module' }, { 'etl.mjs': README_SCRIPT });
    try {
      await withSdkServer(async (server, client) => {
        await client.workPools.create({ name: 'local', type: 'process' });
        const { code, output } = await run(['etl.mjs'], dir, server.url);
        expect({ code, output }).toMatchObject({ code: 0, output: expect.stringMatching(/^Created deployment etl\/etl \([0-9a-f-]{36}\)\n$/) });
        expect((await client.deployments.list()).map((d) => [d.name, d.entrypoint])).toEqual([['etl', 'etl.mjs:etl']]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 0 under tsx (.ts), with a typed flow over several lines and one exported under another name', async () => {
    const script = `import { deploy, type Flow, flow } from '@drover/client';
import * as drover from '@drover/client';
import { z } from 'zod';

export const etl = flow({ name: 'etl', parameters: z.object({ day: z.string().default('today') }) }, async ({ day }) => day);
const daily: Flow<undefined, number> =
  drover.flow(
    { name: 'report' },
    async () => 1,
  );
export { daily as report };
await deploy(etl, daily, { workPoolName: 'local', printNextSteps: false });
`;
    const dir = project({ name: 'shop', type: 'module' }, { 'etl.ts': script });
    try {
      await withSdkServer(async (server, client) => {
        await client.workPools.create({ name: 'local', type: 'process' });
        const { code, output } = await run([tsxCli, 'etl.ts'], dir, server.url);
        expect({ code, output }).toMatchObject({
          code: 0,
          output: expect.stringMatching(/^Created deployment etl\/etl \(.+\)\nCreated deployment report\/report \(.+\)\n$/),
        });
        expect((await client.deployments.list()).map((d) => [d.name, d.entrypoint])).toEqual([
          ['etl', 'etl.ts:etl'],
          ['report', 'etl.ts:report'],
        ]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says which flow is not exported, where it is defined, and how to fix it', async () => {
    const script = `import { deploy, flow } from '@drover/client';

const hidden = flow({ name: 'hidden' }, async () => 1);
await deploy(hidden, { workPoolName: 'local', printNextSteps: false });
`;
    const dir = project({ name: 'shop', type: 'module' }, { 'hidden.mjs': script });
    try {
      await withSdkServer(async (server, client) => {
        await client.workPools.create({ name: 'local', type: 'process' });
        const { code, output } = await run(['hidden.mjs'], dir, server.url);
        expect(code).toBe(1);
        expect(output).toContain(
          `Flow "hidden" is defined at ${dir}/hidden.mjs:3 but not exported from there: export it (\`export const name = flow(…)\` or \`export { name }\`) so workers can load it, or pass entrypoint: "path/to/file.ts:exportName"`,
        );
        expect(await client.deployments.list()).toEqual([]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a package whose package.json says "type": "commonjs"', () => {
  it('deploys a .ts flow from a .mts script under tsx, with the flow file as the entrypoint', async () => {
    const dir = project(
      { name: 'shop', version: '1.0.0', type: 'commonjs' },
      {
        'flows.ts': `import { flow } from '@drover/client';\nimport { z } from 'zod';\n\nexport const etl = flow({ name: 'etl', parameters: z.object({ n: z.number().default(1) }) }, async ({ n }) => n);\n`,
        'deploy.mts': `import { deploy } from '@drover/client';\nimport { etl } from './flows.ts';\n\nawait deploy(etl, { workPoolName: 'local', printNextSteps: false });\n`,
      },
    );
    try {
      await withSdkServer(async (server, client) => {
        await client.workPools.create({ name: 'local', type: 'process' });
        const { code, output } = await run([tsxCli, 'deploy.mts'], dir, server.url);
        expect({ code, output }).toMatchObject({ code: 0, output: expect.stringMatching(/^Created deployment etl\/etl \(.+\)\n$/) });
        expect((await client.deployments.list()).map((d) => [d.name, d.entrypoint, d.pullSteps])).toEqual([
          ['etl', 'flows.ts:etl', [{ set_working_directory: { directory: dir } }]],
        ]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
