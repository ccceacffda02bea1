// Test helpers (not exported): the built `drover` binary run as a real process, a real server on
// an ephemeral port over a fresh SQLite file, and throwaway projects whose flows load like user code.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDroverError } from '@drover/schemas';
import { type DroverServer, startServer } from '@drover/server';
import { pino } from 'pino';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const droverMain = join(repoRoot, 'apps/cli/dist/main.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
}

/** The environment of every child: only what the test gives, so a developer's settings never leak in. */
export function childEnv(env: Record<string, string | undefined> = {}): Record<string, string> {
  const base: Record<string, string | undefined> = { PATH: process.env.PATH, TZ: 'UTC', ...env };
  return Object.fromEntries(Object.entries(base).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

export interface RunningCli {
  readonly child: ChildProcess;
  readonly exited: Promise<CliResult>;
  output(): { stdout: string; stderr: string };
  /** Resolves once stdout (or stderr) matches; rejects if the process exits first. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpExecArray>;
}

/** Starts `drover <args>` in the background. */
function startDrover(args: readonly string[], options: CliOptions = {}): RunningCli {
  const child = spawn(process.execPath, [droverMain, ...args], { cwd: options.cwd ?? tmpdir(), env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
    for (const listener of listeners) listener();
  });
  const exited = once(child, 'close').then(([code]) => ({ code: code as number | null, stdout, stderr }));
  return {
    child,
    exited,
    output: () => ({ stdout, stderr }),
    waitFor: (pattern, stream = 'stdout') =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stream === 'stdout' ? stdout : stderr);
          if (match) {
            listeners.delete(check);
            resolve(match);
          }
        };
        listeners.add(check);
        check();
        exited.then((result) => {
          if (listeners.delete(check))
            reject(new Error(`drover ${args.join(' ')} exited ${result.code} before printing ${pattern}:\n${result.stdout}\n${result.stderr}`));
        });
      }),
  };
}

/** Runs `drover <args>` to the end. */
export function drover(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startDrover(args, options).exited;
}

export interface TestServer {
  readonly server: DroverServer;
  /** DROVER_API_URL and a fresh DROVER_HOME, for `drover` children. */
  readonly env: Record<string, string>;
  readonly home: string;
  /** Runs `drover` against this server. */
  run(args: readonly string[], options?: CliOptions): Promise<CliResult>;
  start(args: readonly string[], options?: CliOptions): RunningCli;
  close(): Promise<void>;
}

/** A real server (all services on) over a fresh SQLite file in a temp folder. */
export async function startTestServer(): Promise<TestServer> {
  const home = mkdtempSync(join(tmpdir(), 'drover-cli-test-'));
  const server = await startServer({ databaseFile: join(home, 'drover.db'), port: 0, logger: pino({ level: 'silent' }), checkpointIntervalMs: 0 });
  const env = { DROVER_API_URL: server.url, DROVER_HOME: join(home, 'cli-home') };
  const merged = (options: CliOptions = {}) => ({ ...options, env: { ...env, ...options.env } });
  return {
    server,
    env,
    home,
    run: (args, options) => drover(args, merged(options)),
    start: (args, options) => startDrover(args, merged(options)),
    close: async () => {
      await server.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

// Flows import the SDK by absolute path, so a project anywhere (a temp folder) loads like user code.
const requireHere = createRequire(import.meta.url);
const clientEntry = requireHere.resolve('@drover/client');
const zodEntry = join(dirname(requireHere.resolve('zod')), 'index.js'); // its ESM entry

/** Flow files for test projects: `hello` (parameter `name`), `boom` (always fails), `tick` (no parameters). */
export const FLOWS = {
  'flows/hello.ts': `import { flow } from '${clientEntry}';
import { z } from '${zodEntry}';
export const hello = flow({ name: 'hello', parameters: z.object({ name: z.string().default('world'), times: z.number().default(1) }) }, async ({ name, times }, ctx) => {
  for (let i = 0; i < times; i++) ctx.logger.info(\`Hello, \${name}!\`);
  return { greeted: name };
});
`,
  'flows/boom.ts': `import { flow } from '${clientEntry}';
export const boom = flow({ name: 'boom' }, async (_p, ctx) => {
  ctx.logger.warn('about to fail');
  throw new Error('kaboom');
});
`,
  'flows/tick.ts': `import { flow } from '${clientEntry}';
export const tick = flow({ name: 'tick' }, async () => ({ ok: true }));
`,
} as const;

/** A temp project folder with `files` (paths relative to it); removed by the returned function. */
export function makeProject(files: Record<string, string>): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'drover-cli-project-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A port free on 127.0.0.1 now, for a server that must come back on the same address after a restart. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Whether a process runs. A killed orphan can stay a zombie until its new parent reaps it: that is dead too. */
export function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Calls the server until it answers, while it is down (restarting): what a careful client does. */
export async function untilAnswered<T>(call: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!isDroverError(error, 'SERVER_UNREACHABLE')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Starts `drover <args>` with `env` and no output kept, for processes a test kills and restarts. */
export function spawnDrover(args: readonly string[], env: Record<string, string>, cwd: string): ChildProcess {
  return spawn(process.execPath, [droverMain, ...args], { cwd, env: childEnv(env), stdio: 'ignore' });
}

/** SIGKILLs `child` and waits until it is gone. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** The children of `pid` started as warm engines (DROVER_ENGINE_WAIT=ipc in their environment). */
export function warmEngines(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((child) => {
      try {
        return readFileSync(`/proc/${child}/environ`, 'utf8').split('\0').includes('DROVER_ENGINE_WAIT=ipc');
      } catch {
        return false;
      }
    });
}

/** A small seeded generator (mulberry32), so a failing run can be replayed with its seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
