// The README's first run: scripts/demo.sh (what quickstart.sh runs after installing and building)
// against this already-built repository, in a throwaway DROVER_HOME. It must end with runs
// COMPLETED, exit 0, and leave nothing running.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, drover, repoRoot } from './testCli.js';

const home = mkdtempSync(join(tmpdir(), 'drover-demo-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('scripts/demo.sh', () => {
  it('deploys the quick start project, runs it through a worker to COMPLETED, and stops everything', { timeout: 240_000 }, async () => {
    const child = spawn('bash', [join(repoRoot, 'scripts/demo.sh')], { env: childEnv({ DEMO_HOME: home }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const [code] = await once(child, 'close');
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/Created deployment tick\/every-10s \(\S+\)\nCreated deployment hello\/on-demand \(\S+\)\n/);
    expect(stdout).toMatch(/state {2}RUNNING\n\S+Z {2}info {3}Hello, Drover!\n/);
    expect(stdout).toMatch(/Flow run \S+ finished: COMPLETED\nResult: \{"greeted":"Drover"\}\n/);
    expect(stdout).toMatch(/tick\/every-10s +COMPLETED/);
    expect(stdout).toMatch(/\S+Z {2}info {3}Tick from run \S+ at \S+Z\n/);
    expect(stdout).toContain('Done: runs went SCHEDULED -> PENDING -> RUNNING -> COMPLETED.');
    // The trap stopped the server: its address no longer answers.
    const url = /Drover server at (http:\/\/\S+) is up/.exec(stdout)?.[1] as string;
    const after = await drover(['server', 'status'], { env: { DROVER_API_URL: url } });
    expect(after.code).toBe(1);
    expect(after.stderr).toContain(`Cannot reach the Drover server at ${url} (connection refused)`);
  });
});
