/**
 * Runs through the process worker: each run is a `node` job running the engine
 * (`@drover/client/engine`), which loads flows/flows.mjs.
 *
 *   pnpm build && pnpm --filter @drover/bench exec tsx worker.ts [--rounds=3] [--triggered=20] [--scheduled=10] [--burst=100] [--chain=40]
 *
 * Where things run: the server in a child process (lib/serverMain.mjs, a fresh SQLite file per
 * phase, services off), each worker in its own child process (lib/workerMain.mjs: plain node, the
 * worker's defaults: poll wait 15 s, prefetch 10 s, launch lead 1 s, run check 5 s), the jobs as
 * the workers' children, and the callers that trigger runs in this process. A flow's first
 * statement takes `Date.now()` in the job and returns it as the run's result; it is compared with
 * the run's `expectedStartTime` (the server's clock: same machine).
 *
 * Phases (every round, each on a fresh server and fresh workers):
 * - triggered: `--triggered` runs created one at a time ("now"), each waited for before the
 *   next: scheduled time → first line, p50/p99, and where the time goes, from the run's state
 *   history: due → PENDING (the claim), PENDING → RUNNING (job launch: node start, engine and flow
 *   import, two reads), RUNNING → first line.
 * - scheduled: `--scheduled` runs created at once, due 2 s to 5 s ahead, evenly spread: how late
 *   after its time each flow's first line ran (negative: early), p50/p99.
 * - burst: `--burst` runs created at once for 4 workers of limit 4 each: runs/s from the first
 *   create to the last final state.
 * - chain: `--chain` sequential `runDeployment()` calls of a flow that sleeps 10 ms; total.
 * Peak worker memory: each worker process's VmHWM (/proc) at the end of the phase; the largest.
 * Figures are medians over rounds, with the range beside them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DroverClient, RunnerDeployment, runDeployment } from '@drover/client';
import { type FlowRun, isTerminal } from '@drover/schemas';
import { nap, noop } from './flows/flows.mjs';
import { arg, benchDir, type Child, forkChild, machineLine, mb, type ServerProcess, sleep, startServerProcess, summarize, Table } from './lib/harness.js';

const ROUNDS = Number(arg('rounds') ?? 3);
const TRIGGERED = Number(arg('triggered') ?? 20);
const SCHEDULED = Number(arg('scheduled') ?? 10);
const BURST = Number(arg('burst') ?? 100);
const CHAIN = Number(arg('chain') ?? 40);
const ONLY = arg('only')?.split(',');
const BURST_WORKERS = 4;
const BURST_LIMIT = 4;
const POOL = 'bench';
const COMMAND = `pnpm --filter @drover/bench exec tsx worker.ts --rounds=${ROUNDS} --triggered=${TRIGGERED} --scheduled=${SCHEDULED} --burst=${BURST} --chain=${CHAIN}`;

const table = new Table();
let peakWorkerRss = 0;

interface WorkerProcess {
  readonly child: Child;
  /** The worker's peak RSS so far (VmHWM). */
  peakRss(): number;
  stop(): Promise<void>;
}

async function startWorker(url: string, name: string, limit?: number): Promise<WorkerProcess> {
  const env: Record<string, string> = { BENCH_API_URL: url, BENCH_POOL: POOL, BENCH_WORKER_NAME: name };
  if (limit !== undefined) env.BENCH_WORKER_LIMIT = String(limit);
  const { child } = await forkChild(fileURLToPath(new URL('lib/workerMain.mjs', import.meta.url)), env, 'ready');
  const pid = child.process.pid as number;
  return {
    child,
    peakRss: () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024,
    stop: async () => {
      const exited = new Promise((resolve) => child.process.once('exit', resolve));
      await child.ask('stop');
      await exited;
    },
  };
}

/** A fresh server with the bench deployments on a process pool, and `workers` workers; all stopped after. */
async function withWorkers<T>(workers: { count: number; limit?: number }, body: (client: DroverClient, server: ServerProcess) => Promise<T>): Promise<T> {
  const server = await startServerProcess();
  const running: WorkerProcess[] = [];
  try {
    const client = new DroverClient({ apiUrl: server.url, apiKey: '' });
    await client.workPools.create({ name: POOL, type: 'process' });
    for (const [flow, name] of [
      [noop, 'noop'],
      [nap, 'nap'],
    ] as const) {
      const deployment = RunnerDeployment.fromFlow(flow, {
        name,
        entrypoint: `flows/flows.mjs:${name}`,
        workPoolName: POOL,
        jobVariables: { workingDir: benchDir },
      });
      await client.deployments.upsert(await deployment.toCreate());
    }
    for (let i = 0; i < workers.count; i++) running.push(await startWorker(server.url, `bench-worker-${i + 1}`, workers.limit));
    const result = await body(client, server);
    for (const worker of running) peakWorkerRss = Math.max(peakWorkerRss, worker.peakRss());
    return result;
  } finally {
    await Promise.all(running.map((w) => w.stop()));
    await server.close();
  }
}

/** Waits (long-polls) until `run` is final, within `seconds`. */
async function final(client: DroverClient, run: FlowRun, seconds = 120): Promise<FlowRun> {
  const deadline = Date.now() + seconds * 1000;
  let current = run;
  while (!isTerminal(current.state.type)) {
    if (Date.now() > deadline) throw new Error(`run ${run.name} still ${current.state.type} after ${seconds} s`);
    current = await client.flowRuns.wait(run.id, Math.min(30_000, deadline - Date.now()));
  }
  if (current.state.type !== 'COMPLETED') throw new Error(`run ${run.name} ended ${current.state.type}: ${current.state.message}`);
  return current;
}

const firstLineOf = (run: FlowRun) => (run.result as { firstLineAt: number }).firstLineAt;
const lateness = (run: FlowRun) => firstLineOf(run) - Date.parse(run.expectedStartTime);

async function triggered(): Promise<void> {
  await withWorkers({ count: 1 }, async (client) => {
    const late: number[] = [];
    const fromCall: number[] = [];
    const claim: number[] = [];
    const launch: number[] = [];
    const toFirstLine: number[] = [];
    for (let i = 0; i < TRIGGERED; i++) {
      const called = Date.now();
      const run = await final(client, await client.flowRuns.create({ deployment: 'bench-noop/noop' }));
      late.push(lateness(run));
      fromCall.push(firstLineOf(run) - called);
      const history = await client.flowRuns.history(run.id);
      const at = (type: string) => Date.parse(history.find((state) => state.type === type)?.timestamp as string);
      claim.push(at('PENDING') - Date.parse(run.expectedStartTime));
      launch.push(at('RUNNING') - at('PENDING'));
      toFirstLine.push(firstLineOf(run) - at('RUNNING'));
      await sleep(100); // let the job's process go before the next
    }
    const s = summarize(late);
    table.add('triggered: scheduled time → first line p50 (ms)', s.p50);
    table.add('triggered: scheduled time → first line p99 (ms)', s.p99);
    table.add('triggered: create call → first line p50 (ms)', summarize(fromCall).p50);
    table.add('  due → PENDING (claim) p50 (ms)', summarize(claim).p50);
    table.add('  PENDING → RUNNING (job start) p50 (ms)', summarize(launch).p50);
    table.add('  RUNNING → first line p50 (ms)', summarize(toFirstLine).p50);
  });
}

async function scheduled(): Promise<void> {
  await withWorkers({ count: 1 }, async (client) => {
    const start = Date.now() + 2000;
    const spacing = 3000 / SCHEDULED;
    const runs: FlowRun[] = [];
    for (let i = 0; i < SCHEDULED; i++) {
      runs.push(await client.flowRuns.create({ deployment: 'bench-noop/noop', scheduledTime: new Date(start + i * spacing).toISOString() }));
    }
    const finals = await Promise.all(runs.map((run) => final(client, run)));
    const s = summarize(finals.map(lateness));
    table.add(`scheduled (${SCHEDULED} runs in 3 s): first line after its time p50 (ms)`, s.p50);
    table.add(`scheduled (${SCHEDULED} runs in 3 s): first line after its time p99 (ms)`, s.p99);
  });
}

async function burst(): Promise<void> {
  await withWorkers({ count: BURST_WORKERS, limit: BURST_LIMIT }, async (client) => {
    const t0 = performance.now();
    const runs: FlowRun[] = [];
    for (let i = 0; i < BURST; i++) runs.push(await client.flowRuns.create({ deployment: 'bench-noop/noop' }));
    const finals = await Promise.all(runs.map((run) => final(client, run, 600)));
    const seconds = (performance.now() - t0) / 1000;
    const byWorker = new Set(finals.map((r) => r.workerName));
    table.add(`burst: runs/s, ${BURST} runs, ${BURST_WORKERS} workers × limit ${BURST_LIMIT}`, BURST / seconds, (v) => v.toFixed(1));
    table.add('burst: workers that ran some', byWorker.size, (v) => v.toFixed(0));
  });
}

async function chain(): Promise<void> {
  await withWorkers({ count: 1 }, async (client) => {
    const t0 = performance.now();
    for (let i = 0; i < CHAIN; i++) {
      const run = await runDeployment('bench-nap/nap', { client, parameters: { ms: 10 }, timeout: 120 });
      if (run.state.type !== 'COMPLETED') throw new Error(`chain link ${i} ended ${run.state.type}`);
    }
    table.add(`chain of ${CHAIN} × 10 ms runDeployment, total (s)`, (performance.now() - t0) / 1000, (v) => v.toFixed(1));
  });
}

console.log(`# Process worker (worker.ts): ${machineLine()}`);
console.log(`  reproduce: ${COMMAND}`);
for (let round = 1; round <= ROUNDS; round++) {
  const phases = { triggered, scheduled, burst, chain };
  for (const [name, phase] of Object.entries(phases)) if (!ONLY || ONLY.includes(name)) await phase();
  console.log(`  round ${round} done (load average ${machineLine().split('load average ')[1]})`);
}
table.add('peak RSS of one worker process (VmHWM)', peakWorkerRss, mb);
console.log(`\n  Medians of ${ROUNDS} round(s):`);
table.print();
console.log('\n  Aim: scheduled runs start within 50 ms of their time (p99); triggered runs under 500 ms including the node process start.');
