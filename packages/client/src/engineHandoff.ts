/**
 * How a warm engine gets its runs. A worker's process pool starts `drover-engine` with
 * DROVER_ENGINE_WAIT=ipc before any run exists: node, the SDK (and tsx for TypeScript flows) load
 * while nothing waits for them, the engine says `ready`, and the worker later hands it a run over
 * the IPC channel.
 * The claim token travels in that message, so it is on no command line and in no process's
 * initial environment (`/proc/<pid>/environ`).
 *
 * Engine → worker: `ready` once loaded; `accepted` or `stale` once it has read a handed run's
 * deployment (`stale`: a reused engine whose cached code is older than the deployment, which it
 * leaves untouched for a new process); `done` after a run when it stays for another one.
 */
import { z } from 'zod';
import { useTypeScriptLoader } from './loadFlow.js';

/** A run handed to a warm engine. */
export const EngineHandoff = z.strictObject({
  type: z.literal('run'),
  flowRunId: z.string().min(1).max(200),
  claimToken: z.string().min(1).max(500).optional(),
  /** The run's own environment (its id, its trace parent): set before the run, as a cold job has it from its start. */
  env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string().max(10_000)),
  /** Stay for another run of the same deployment afterwards (the pool's `reuseProcess`), keeping the loaded flow. */
  reuse: z.boolean(),
  /**
   * When reused, the line the engine writes to stdout and to stderr after the run's last output
   * and before `done`: the worker knows then that every line before it was this run's. Random per
   * run, so no flow prints it by chance.
   */
  doneMarker: z.string().min(16).max(100),
});
export type EngineHandoff = z.infer<typeof EngineHandoff>;

/** What a warm engine tells its worker. */
type EngineReport = { type: 'ready' } | { type: 'accepted' } | { type: 'stale' } | { type: 'done'; exitCode: number };

/** Sends `report` to the worker; false when the channel is gone (the worker died: the run goes on). */
export function reportToWorker(report: EngineReport): boolean {
  if (!process.connected || !process.send) return false;
  return process.send(report, undefined, {}, () => {}); // a send error means the worker is gone; nothing to do
}

/** The longest a warm engine waits for its warm-up call before saying it is ready. */
const WARM_UP_MS = 1000;

const handoffs: EngineHandoff[] = [];
let wake: (() => void) | undefined;
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  process.on('message', (message: unknown) => {
    const parsed = EngineHandoff.safeParse(message);
    if (!parsed.success) {
      process.stderr.write(`drover-engine: ignored a message from the worker that is not a run handoff: ${parsed.error.message}\n`);
      return;
    }
    handoffs.push(parsed.data);
    wake?.();
  });
  process.on('disconnect', () => wake?.());
}

/**
 * Loads what every run needs before the first one comes, then tells the worker the engine is
 * ready: with `typescript` (DROVER_ENGINE_PRELOAD=typescript: the pool starts it for TypeScript
 * entrypoints), tsx as the process's loader, about 100 ms of CPU and a loader thread that a
 * JavaScript flow's engine is spared; the SDK's public entry, which a flow's `import
 * '@drover/client'` then finds loaded when the project's SDK is the engine's own (measured: a
 * flow's load 40–60 ms → 6–13 ms); and `warmUp`, the engine's first call to the server (V8
 * compiles the client's path on it, not on the run's first read).
 */
export async function becomeWarm(options: { typescript: boolean; warmUp: () => Promise<unknown> }): Promise<void> {
  listen();
  if (options.typescript) await useTypeScriptLoader({ now: true });
  await import('./index.js');
  // A server that does not answer (yet) is the run's to wait for, not the pool's: never hold `ready` long for it.
  await Promise.race([options.warmUp().catch(() => {}), new Promise((resolve) => setTimeout(resolve, WARM_UP_MS).unref())]);
  reportToWorker({ type: 'ready' });
}

/** The next run handed over, or null once the worker has gone (an idle warm engine then ends). */
export async function nextHandoff(): Promise<EngineHandoff | null> {
  listen();
  for (;;) {
    const next = handoffs.shift();
    if (next) return next;
    if (!process.connected) return null;
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
    wake = undefined;
  }
}

/** Writes `marker` as a line to stdout and to stderr; resolves once both are written to their pipes. */
export function writeDoneMarker(marker: string): Promise<void> {
  const write = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write(`${marker}\n`, () => resolve()));
  return Promise.all([write(process.stdout), write(process.stderr)]).then(() => undefined);
}
