/**
 * Runs through the process worker: each run is a `node` job running the engine
 * (`@drover/client/engine`), which loads flows/flows.mjs (flows/flows.ts with `--typescript`).
 *
 *   pnpm build && pnpm --filter @drover/bench exec tsx worker.ts [--rounds=3] [--triggered=20] [--scheduled=10] [--burst=100] [--chain=40] [--typescript]
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
 *   import, two reads), RUNNING → first line. In the warm modes each run is created once the
 *   worker's warm engines have started, as a warm start is; the back-to-back rate is the chain's.
 * - scheduled: `--scheduled` runs created at once, due 2 s to 5 s ahead, evenly spread: how late
 *   after its time each flow's first line ran (negative: early), p50/p99.
 * - burst: `--burst` runs created at once for 4 workers of limit 4 each: runs/s from the first
 *   create to the last final state.
 * - chain: `--chain` sequential `runDeployment()` calls of a flow that sleeps 10 ms; total.
 * Peak worker memory: each worker process's VmHWM (/proc) at the end of the phase; the largest.
 *
 * Modes (`--modes`, default all): `cold`, every job a new `node` (the warm pool off, as before
 * warm engines: today's rows, unprefixed); `warm`, the process launcher's default pool of 2 warm
 * engines; `reuse`, the same with `reuseProcess: true` on the deployments. The memory the warm
 * pool holds is the sum of its waiting engines' resident sets after the triggered phase.
 * - docker: the docker pool's triggered (`--triggered` runs, one worker) and burst (`--burst`
 *   runs, 4 workers × limit 4) rows, each run a container (see `withDockerWorkers`). Needs a
 *   Docker engine and the base image (`bash scripts/docker.sh`); `--only=docker` runs these alone.
 * Figures are medians over rounds, with the range beside them.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DroverClient, deploy, RunnerDeployment, runDeployment } from '@drover/client';
import { type FlowRun, isTerminal } from '@drover/schemas';
import { Worker } from '@drover/worker';
// Writes a project folder with the SDK in its node_modules, copied from this workspace (the docker tests use it too).
import { writeDockerProject } from '../packages/worker/src/testFixtures/dockerProject.js';
import { nap, noop } from './flows/flows.mjs';
import { arg, benchDir, type Child, forkChild, machineLine, mb, type ServerProcess, sleep, startServerProcess, summarize, Table } from './lib/harness.js';

const ROUNDS = Number(arg('rounds') ?? 3);
const TRIGGERED = Number(arg('triggered') ?? 20);
const SCHEDULED = Number(arg('scheduled') ?? 10);
const BURST = Number(arg('burst') ?? 100);
const CHAIN = Number(arg('chain') ?? 40);
const ONLY = arg('only')?.split(',');
/** `--typescript`: the deployments' entrypoint is flows/flows.ts (through tsx in the job), not flows.mjs. */
const TYPESCRIPT = process.argv.includes('--typescript');
type Mode = 'cold' | 'warm' | 'reuse';
const MODES = (arg('modes') ?? 'cold,warm,reuse').split(',') as Mode[];
/** The mode the phases run in now; rows of the warm modes are prefixed with it. */
let mode: Mode = 'cold';
const label = (text: string) => (mode === 'cold' ? text : `${mode === 'warm' ? 'warm' : 'warm + reuseProcess'}: ${text.trimStart()}`);
const BURST_WORKERS = 4;
const BURST_LIMIT = 4;
const POOL = 'bench';
const COMMAND = `pnpm --filter @drover/bench exec tsx worker.ts --rounds=${ROUNDS} --triggered=${TRIGGERED} --scheduled=${SCHEDULED} --burst=${BURST} --chain=${CHAIN} --modes=${MODES.join(',')}${ONLY ? ` --only=${ONLY.join(',')}` : ''}${TYPESCRIPT ? ' --typescript' : ''}`;

const table = new Table();
let peakWorkerRss = 0;
/** The workers of the phase running now. */
let phaseWorkers: WorkerProcess[] = [];

interface WorkerProcess {
  readonly child: Child;
  /** The worker's peak RSS so far (VmHWM). */
  peakRss(): number;
  stop(): Promise<void>;
}

async function startWorker(url: string, name: string, limit?: number): Promise<WorkerProcess> {
  const env: Record<string, string> = { BENCH_API_URL: url, BENCH_POOL: POOL, BENCH_WORKER_NAME: name };
  if (limit !== undefined) env.BENCH_WORKER_LIMIT = String(limit);
  env.BENCH_WARM_PROCESSES = mode === 'cold' ? '0' : '2';
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
        entrypoint: `flows/flows.${TYPESCRIPT ? 'ts' : 'mjs'}:${name}`,
        workPoolName: POOL,
        jobVariables: { workingDir: benchDir, reuseProcess: mode === 'reuse' },
      });
      await client.deployments.upsert(await deployment.toCreate());
    }
    for (let i = 0; i < workers.count; i++) running.push(await startWorker(server.url, `bench-worker-${i + 1}`, workers.limit));
    phaseWorkers = running;
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
      // A warm start is measured as one: on a worker whose warm engines have started (the back-to-back
      // rate, where engines are replaced more slowly than runs come, is the chain's and the burst's).
      if (mode !== 'cold') await phaseWorkers[0]?.child.ask('warmPool');
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
    table.add(label('triggered: scheduled time → first line p50 (ms)'), s.p50);
    table.add(label('triggered: scheduled time → first line p99 (ms)'), s.p99);
    table.add(label('triggered: create call → first line p50 (ms)'), summarize(fromCall).p50);
    table.add(label('  due → PENDING (claim) p50 (ms)'), summarize(claim).p50);
    table.add(label('  PENDING → RUNNING (job start) p50 (ms)'), summarize(launch).p50);
    table.add(label('  RUNNING → first line p50 (ms)'), summarize(toFirstLine).p50);
    if (mode !== 'cold') {
      const pool = (await phaseWorkers[0]?.child.ask('warmPool')) as { engines: number; rssBytes: number; cpuMs: number[] };
      table.add(label(`memory held by the warm pool (${pool.engines} engines, RSS)`), pool.rssBytes, mb);
      // Fresh engines have done nothing since they said they were ready: their CPU time is what starting one costs.
      if (mode === 'warm')
        table.add(label('CPU used to start one engine, mean (ms)'), pool.cpuMs.reduce((a, b) => a + b, 0) / pool.cpuMs.length, (v) => v.toFixed(0));
    }
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
    table.add(label(`scheduled (${SCHEDULED} runs in 3 s): first line after its time p50 (ms)`), s.p50);
    table.add(label(`scheduled (${SCHEDULED} runs in 3 s): first line after its time p99 (ms)`), s.p99);
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
    table.add(label(`burst: runs/s, ${BURST} runs, ${BURST_WORKERS} workers × limit ${BURST_LIMIT}`), BURST / seconds, (v) => v.toFixed(1));
    table.add(label('burst: workers that ran some'), byWorker.size, (v) => v.toFixed(0));
  });
}

async function chain(): Promise<void> {
  await withWorkers({ count: 1 }, async (client) => {
    const t0 = performance.now();
    for (let i = 0; i < CHAIN; i++) {
      const run = await runDeployment('bench-nap/nap', { client, parameters: { ms: 10 }, timeout: 120 });
      if (run.state.type !== 'COMPLETED') throw new Error(`chain link ${i} ended ${run.state.type}`);
    }
    table.add(label(`chain of ${CHAIN} × 10 ms runDeployment, total (s)`), (performance.now() - t0) / 1000, (v) => v.toFixed(1));
  });
}

// The docker pool: the same noop flow, each run in a container of an image that deploy() builds
// once per bench run FROM `--docker-base` (default drover-node-base:20, which scripts/docker.sh
// makes from this machine's node), with node_modules copied from this workspace's install (no
// registry is reachable). Containers use the host's network: the engine reaches the server on
// 127.0.0.1. The workers run in this process, 4 × limit 4 as the process pool's burst:
// lib/workerMain.mjs serves process pools only.
const DOCKER_BASE = arg('docker-base') ?? 'drover-node-base:20';
const DOCKER_IMAGE = `drover-bench:${process.pid}`;
let dockerProject: string | undefined;

async function withDockerWorkers<T>(workers: { count: number; limit?: number }, body: (client: DroverClient) => Promise<T>): Promise<T> {
  const server = await startServerProcess();
  const running: { worker: Worker; stopped: Promise<void> }[] = [];
  try {
    const client = new DroverClient({ apiUrl: server.url, apiKey: '' });
    await client.workPools.create({ name: POOL, type: 'docker' });
    const build = dockerProject === undefined;
    if (dockerProject === undefined) {
      dockerProject = mkdtempSync(join(tmpdir(), 'drover-bench-docker-'));
      writeDockerProject(dockerProject, { 'flows.mjs': readFileSync(join(benchDir, 'flows/flows.mjs'), 'utf8') });
    }
    const deployment = RunnerDeployment.fromFlow(noop, {
      name: 'noop',
      entrypoint: 'flows.mjs:noop',
      workPoolName: POOL,
      jobVariables: { networks: ['host'] },
    });
    // deploy() builds the project of the current folder, with the legacy builder (BuildKit would look for a registry).
    const cwd = process.cwd();
    process.env.DOCKER_BUILDKIT ??= '0';
    process.chdir(dockerProject);
    try {
      const [name, tag] = DOCKER_IMAGE.split(':');
      const image = { name: name as string, tag, buildArgs: { DROVER_BASE_IMAGE: DOCKER_BASE } };
      await deploy(deployment, { image, build, push: false, printNextSteps: false, client, print: () => {} });
    } finally {
      process.chdir(cwd);
    }
    for (let i = 0; i < workers.count; i++) {
      const worker = new Worker({
        workPoolName: POOL,
        type: 'docker',
        name: `bench-docker-worker-${i + 1}`,
        limit: workers.limit,
        client: new DroverClient({ apiUrl: server.url, apiKey: '' }),
        print: () => {},
      });
      const stopped = worker.start();
      running.push({ worker, stopped });
      await worker.ready;
    }
    return await body(client);
  } finally {
    await Promise.all(running.map(({ worker, stopped }) => worker.stop().then(() => stopped)));
    await server.close();
  }
}

/** The docker pool's triggered and burst rows, once per round (the modes are the process launcher's). */
async function docker(): Promise<void> {
  if (mode !== MODES[0]) return;
  await withDockerWorkers({ count: 1 }, async (client) => {
    const late: number[] = [];
    const launch: number[] = [];
    for (let i = 0; i < TRIGGERED; i++) {
      const run = await final(client, await client.flowRuns.create({ deployment: 'bench-noop/noop' }));
      late.push(lateness(run));
      const history = await client.flowRuns.history(run.id);
      const at = (type: string) => Date.parse(history.find((state) => state.type === type)?.timestamp as string);
      launch.push(at('RUNNING') - at('PENDING'));
      await sleep(100);
    }
    const s = summarize(late);
    table.add('docker pool: triggered: scheduled time → first line p50 (ms)', s.p50);
    table.add('docker pool: triggered: scheduled time → first line p99 (ms)', s.p99);
    table.add('docker pool:   PENDING → RUNNING (container start) p50 (ms)', summarize(launch).p50);
  });
  await withDockerWorkers({ count: BURST_WORKERS, limit: BURST_LIMIT }, async (client) => {
    const t0 = performance.now();
    const runs: FlowRun[] = [];
    for (let i = 0; i < BURST; i++) runs.push(await client.flowRuns.create({ deployment: 'bench-noop/noop' }));
    const finals = await Promise.all(runs.map((run) => final(client, run, 600)));
    const seconds = (performance.now() - t0) / 1000;
    table.add(`docker pool: burst: runs/s, ${BURST} runs, ${BURST_WORKERS} workers × limit ${BURST_LIMIT}`, BURST / seconds, (v) => v.toFixed(1));
    table.add('docker pool: burst: workers that ran some', new Set(finals.map((r) => r.workerName)).size, (v) => v.toFixed(0));
  });
}

/** Removes the image and project the docker rows built. */
function removeDockerImage(): void {
  if (dockerProject === undefined) return;
  spawnSync('docker', ['image', 'rm', '--force', DOCKER_IMAGE], { stdio: 'ignore' });
  rmSync(dockerProject, { recursive: true, force: true });
}

console.log(`# Process worker (worker.ts): ${machineLine()}`);
console.log(`  reproduce: ${COMMAND}`);
for (let round = 1; round <= ROUNDS; round++) {
  const phases = { triggered, scheduled, burst, chain, docker };
  for (mode of MODES) for (const [name, phase] of Object.entries(phases)) if (!ONLY || ONLY.includes(name)) await phase();
  console.log(`  round ${round} done (load average ${machineLine().split('load average ')[1]})`);
}
removeDockerImage();
table.add('peak RSS of one worker process (VmHWM)', peakWorkerRss, mb);
console.log(`\n  Medians of ${ROUNDS} round(s):`);
table.print();
console.log('\n  Aim: scheduled runs start within 50 ms of their time (p99); triggered runs under 500 ms including the node process start.');
console.log('  Aim, warm: triggered → first line p50 ≤ 50 ms, p99 ≤ 150 ms; chain ≤ 2 s; burst ≥ 5× the cold 4.2 runs/s.');
