import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// The built program, run as a user would run it: `node apps/server`.
const appDir = fileURLToPath(new URL('..', import.meta.url));
let home: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'drover-app-'));
});
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [appDir, ...args], { env: { ...process.env, DROVER_HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit').then(([code]) => code as number);
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', () => {
      const match = /"url":"([^"]+)"/.exec(stdout);
      if (match) resolve(match[1] as string);
    });
    exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  listening.catch(() => {}); // tests that expect an early exit never await it

  return { child, listening, exited, output: () => ({ stdout, stderr }) };
}

describe('node apps/server', () => {
  it('serves the API with its services and stops cleanly on SIGTERM', async () => {
    const app = start(['--port', '0']);
    const url = await app.listening;
    expect(await (await fetch(`${url}/health`)).json()).toEqual({ result: { data: { status: 'ok' } } });
    const pools = await (await fetch(`${url}/workPools.list`)).json();
    expect(pools).toEqual({ result: { data: [] } });
    expect(app.output().stdout).toContain('"services":["scheduler","late-runs","worker-health","run-health"]');
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
    expect(app.output().stderr).toContain('Drover server stopped (SIGTERM).');
  });

  it('refuses to start on a port that is taken, saying so (exit 1)', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    try {
      const app = start(['--port', String(port)]);
      expect(await app.exited).toBe(1);
      expect(app.output().stderr).toBe(
        `Error: Port ${port} on 127.0.0.1 is already in use (another Drover server?): stop it or choose another port with --port\n`,
      );
    } finally {
      blocker.close();
    }
  });

  it('rejects bad flags (exit 2) and bad environment (exit 1) with the value and its source', async () => {
    const flag = start(['--colour']);
    expect(await flag.exited).toBe(2);
    expect(flag.output().stderr).toMatch(/^Unknown option '--colour'/);
    const env = start([], { DROVER_SERVER_PORT: 'eighty' });
    expect(await env.exited).toBe(1);
    expect(env.output().stderr).toBe('Error: Invalid DROVER_SERVER_PORT "eighty": expected a port number 0-65535\n');
  });

  it('refuses a database migrated by a newer Drover', async () => {
    const first = start(['--port', '0', '--no-services']);
    await first.listening;
    first.child.kill('SIGTERM');
    await first.exited;
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(join(home, 'drover.db'));
    db.prepare('INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)').run('future', 4_102_444_800_000);
    db.close();
    const second = start(['--port', '0']);
    expect(await second.exited).toBe(1);
    expect(second.output().stderr).toMatch(/^Error: The database .*drover\.db was migrated by a newer Drover \(migration of 2100-01-01T00:00:00\.000Z/);
  });
});
