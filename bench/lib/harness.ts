/**
 * Shared by the run benchmarks (client.ts, worker.ts): child processes spoken to over IPC (the
 * server, workers), percentiles, and the lines they print. Not a benchmark itself (bench/run.mjs
 * runs only the top folder's files).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

export const benchDir = fileURLToPath(new URL('..', import.meta.url));

type Usage = { cpuMicros: number; maxRssBytes: number };

/** A child process that answers `{ id, cmd }` messages with `{ id, ... }`. */
export interface Child {
  readonly process: ChildProcess;
  ask(cmd: string): Promise<Record<string, unknown>>;
}

/** Forks `script` (plain node: no tsx loader) and resolves with its first message that has `key`. */
export async function forkChild(
  script: string,
  env: Record<string, string>,
  key: string,
  execArgv?: string[],
): Promise<{ child: Child; first: Record<string, unknown> }> {
  const proc = fork(script, [], { execArgv: execArgv ?? [], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, (reply: Record<string, unknown>) => void>();
  let next = 0;
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${script} exited with ${code} before it was ready`));
    proc.once('exit', onExit);
    const onMessage = (m: Record<string, unknown>) => {
      if (!(key in m)) return;
      proc.off('message', onMessage);
      proc.off('exit', onExit);
      resolve(m);
    };
    proc.on('message', onMessage);
  });
  proc.on('message', (m: { id?: number }) => {
    if (m.id !== undefined) pending.get(m.id)?.(m as Record<string, unknown>);
  });
  const ask = (cmd: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      proc.send({ id, cmd });
    });
  return { child: { process: proc, ask }, first };
}

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** The child itself: its messages (a scheduler pass: `{ schedulerPass }`) and `kill()`. */
  readonly child: Child;
  usage(): Promise<Usage>;
  close(): Promise<void>;
}

export interface ServerProcessOptions {
  /** Serve this PostgreSQL database (several processes may share it); a fresh SQLite file when absent. */
  readonly postgresUrl?: string;
  /** Run the background services (off by default, as the run benchmarks measure runs alone). */
  readonly services?: boolean;
}

/** Starts lib/serverMain.mjs: a real server on a free loopback port, over a fresh SQLite file or `postgresUrl`. */
export async function startServerProcess(options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const execArgv = process.env.BENCH_SERVER_NODE_OPTIONS?.split(' ').filter(Boolean);
  const env = { BENCH_POSTGRES_URL: options.postgresUrl ?? '', BENCH_SERVICES: options.services ? 'on' : 'off' };
  const { child, first } = await forkChild(fileURLToPath(new URL('serverMain.mjs', import.meta.url)), env, 'url', execArgv);
  return {
    url: first.url as string,
    pid: child.process.pid as number,
    child,
    usage: async () => (await child.ask('usage')) as unknown as Usage,
    close: async () => {
      const exited = new Promise((resolve) => child.process.once('exit', resolve));
      await child.ask('close');
      await exited;
    },
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** p50, p99 and max of `values`. */
export function summarize(values: readonly number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN, n: sorted.length };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const ms = (value: number) => (value < 10 ? value.toFixed(1) : value.toFixed(0));

export const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** The machine and its load now, for the report's header. */
export function machineLine(): string {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `${cpus().length} cores (${cpus()[0]?.model.trim()}), node ${process.version}, load average ${load}`;
}

export const sleep = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

/**
 * One figure per round and its median; prints `label  median  (min–max over N rounds)`.
 * Rows are kept in order of first use.
 */
export class Table {
  readonly #rows = new Map<string, { values: number[]; format: (v: number) => string }>();

  add(label: string, value: number, format: (v: number) => string = ms): void {
    const row = this.#rows.get(label) ?? { values: [], format };
    row.values.push(value);
    this.#rows.set(label, row);
  }

  print(): void {
    const width = Math.max(...[...this.#rows.keys()].map((k) => k.length));
    for (const [label, { values, format }] of this.#rows) {
      const spread = values.length > 1 ? `  (${format(Math.min(...values))} – ${format(Math.max(...values))} over ${values.length} rounds)` : '';
      console.log(`  ${label.padEnd(width)}  ${format(median(values)).padStart(8)}${spread}`);
    }
  }
}
