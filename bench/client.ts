/**
 * Runs through a served runner (`Runner`, what `serve()` runs), end to end over the real API.
 *
 *   pnpm build && pnpm --filter @drover/bench exec tsx client.ts [--rounds=3] [--runs=3000] [--rate=200] [--seconds=10] [--store=sqlite|postgres]
 *
 * Where things run: the server in a child process (lib/serverMain.mjs: `startServer` on
 * 127.0.0.1, a fresh database per phase, services off, plain node): a SQLite file, or with
 * `--store=postgres` a database made on the machine's PostgreSQL (`--url=`, DROVER_TEST_PG_URL or
 * postgres://postgres@127.0.0.1:5432/postgres; see lib/postgres.ts). Several servers on one
 * PostgreSQL database are measured in scaleOut.ts. The runner, the flows and the callers that
 * trigger runs share this process, so a run's trigger and its flow's first line are taken on one
 * monotonic clock (`performance.now()`). The flows (flows/flows.mjs) are no-ops
 * whose first statement takes the time. The runner: `new Runner([...], { limit: 1000 })`, every
 * other option as `serve()` has it (prefetch 10 s, poll wait 10 s, heartbeat 10 s).
 *
 * Phases (each on a fresh server and runner, every round):
 * - throughput: 16 callers create `--runs` runs as fast as they can while the runner runs them;
 *   runs/s from the first create to the last COMPLETED. Then "drain": the same number of runs
 *   created first, then one runner started: the runner's side alone. Every run must end
 *   COMPLETED with a full state history (SCHEDULED → PENDING → RUNNING → COMPLETED, checked on a
 *   sample).
 * - steady: an open-loop generator creates a run every 1000/`--rate` ms for `--seconds` (not
 *   waiting for answers, catching up if a timer fires late); trigger-to-first-line is measured
 *   from the time each create was due to be sent (so a late generator counts against us), p50/p99.
 * - runDeployment: 300 sequential `runDeployment()` calls of the no-op flow, from call to the
 *   returned COMPLETED run, p50/p99.
 * - chain: 40 sequential `runDeployment()` calls of a flow that sleeps 10 ms; total.
 *
 * `--only=steady,runDeployment,throughput,drain` runs some phases. BENCH_SERVER_NODE_OPTIONS
 * (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) is passed to the server process's node.
 *
 * Peak RSS: this process (runner + callers + the tsx loader) and the server, as the kernel's
 * maxRSS. The median over rounds is printed, with the range beside it.
 */
import { DroverClient, type Runner, type RunnerDeployment, runDeployment } from '@drover/client';
import { arg, machineLine, mb, type ServerProcess, summarize, Table } from './lib/harness.js';
import { storeArg } from './lib/postgres.js';
import { checkCompleted, deploymentId, deployments, firstLines, NAP, NOOP, openLoop, startRunner, untilDone, withServers } from './lib/runs.js';

const ROUNDS = Number(arg('rounds') ?? 3);
const RUNS = Number(arg('runs') ?? 3000);
const RATE = Number(arg('rate') ?? 200);
const SECONDS = Number(arg('seconds') ?? 10);
const STORE = storeArg();
const WARM_UP_SECONDS = 2;
const ONLY = arg('only')?.split(',');
const CREATORS = 16;
const RUN_DEPLOYMENT_CALLS = 300;
const CHAIN = 40;
const COMMAND = `pnpm --filter @drover/bench exec tsx client.ts --rounds=${ROUNDS} --runs=${RUNS} --rate=${RATE} --seconds=${SECONDS} --store=${STORE}${ONLY ? ` --only=${ONLY.join(',')}` : ''}`;

let peakSelfRss = 0;
let peakServerRss = 0;
const table = new Table();

interface Served {
  readonly server: ServerProcess;
  readonly client: DroverClient;
  readonly runner: Runner;
}

/** A fresh server and a runner serving the bench flows; both stopped after. */
async function withServed<T>(body: (served: Served) => Promise<T>): Promise<T> {
  return withServers(STORE, 1, {}, async ([server]) => {
    const client = new DroverClient({ apiUrl: server.url, apiKey: '' });
    const { runner, stopped } = await startRunner(client);
    firstLines.clear();
    try {
      return await body({ server, client, runner });
    } finally {
      runner.stop();
      await stopped;
      peakServerRss = Math.max(peakServerRss, (await server.usage()).maxRssBytes);
      peakSelfRss = Math.max(peakSelfRss, process.resourceUsage().maxRSS * 1024);
    }
  });
}

async function throughput(): Promise<void> {
  await withServed(async ({ server, client, runner }) => {
    const cpu0 = process.cpuUsage();
    const serverCpu0 = (await server.usage()).cpuMicros;
    const t0 = performance.now();
    let created = 0;
    await Promise.all(
      Array.from({ length: CREATORS }, async () => {
        while (created < RUNS) {
          created++;
          await client.flowRuns.create({ deployment: NOOP });
        }
      }),
    );
    const createdAt = performance.now() - t0;
    await untilDone(runner, () => firstLines.size, RUNS, 120);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const serverCpu = (await server.usage()).cpuMicros - serverCpu0;
    await checkCompleted(client, await deploymentId(client, NOOP), RUNS);
    table.add('throughput: runs/s, create + run at once', RUNS / seconds, (v) => v.toFixed(0));
    table.add('  of which creating took (s)', createdAt / 1000, (v) => v.toFixed(2));
    table.add('  CPU per run, this process (µs)', (cpu.user + cpu.system) / RUNS, (v) => v.toFixed(0));
    table.add('  CPU per run, server (µs)', serverCpu / RUNS, (v) => v.toFixed(0));
  });
}

async function drain(): Promise<void> {
  await withServers(STORE, 1, {}, async ([server]) => {
    const client = new DroverClient({ apiUrl: server.url, apiKey: '' });
    const [noopDeployment] = deployments('-drain');
    await client.deployments.upsert(await (noopDeployment as RunnerDeployment).toCreate());
    let created = 0;
    await Promise.all(
      Array.from({ length: CREATORS }, async () => {
        while (created < RUNS) {
          created++;
          await client.flowRuns.create({ deployment: 'bench-noop/noop-drain' });
        }
      }),
    );
    firstLines.clear();
    const cpu0 = process.cpuUsage();
    const serverCpu0 = (await server.usage()).cpuMicros;
    const t0 = performance.now();
    const { runner, stopped } = await startRunner(client, '-drain');
    try {
      await untilDone(runner, () => firstLines.size, RUNS, 120);
    } finally {
      runner.stop();
      await stopped;
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const serverCpu = (await server.usage()).cpuMicros - serverCpu0;
    await checkCompleted(client, await deploymentId(client, 'bench-noop/noop-drain'), RUNS);
    table.add('drain: runs/s, runs created beforehand', RUNS / seconds, (v) => v.toFixed(0));
    table.add('  CPU per run, this process (µs) ', (cpu.user + cpu.system) / RUNS, (v) => v.toFixed(0));
    table.add('  CPU per run, server (µs) ', serverCpu / RUNS, (v) => v.toFixed(0));
    peakServerRss = Math.max(peakServerRss, (await server.usage()).maxRssBytes);
  });
}

async function steady(): Promise<void> {
  await withServed(async ({ client, runner }) => {
    const generate = (seconds: number) => openLoop(runner, () => client.flowRuns.create({ deployment: NOOP }), RATE, seconds);
    // Both processes start cold: the first second or so runs while the JIT compiles the hot paths.
    const warmUp = summarize((await generate(WARM_UP_SECONDS)).latencies);
    const { latencies, lag } = await generate(SECONDS);
    const s = summarize(latencies);
    table.add(`steady ${RATE}/s: trigger → first line p50 (ms)`, s.p50);
    table.add(`steady ${RATE}/s: trigger → first line p99 (ms)`, s.p99);
    table.add(`steady ${RATE}/s: trigger → first line max (ms)`, s.max);
    table.add(`steady ${RATE}/s: generator's worst lag (ms)`, lag);
    table.add(`  (cold start: the untimed first ${WARM_UP_SECONDS} s, p99 (ms))`, warmUp.p99);
  });
}

async function runDeploymentLatency(): Promise<void> {
  await withServed(async ({ client }) => {
    for (let i = 0; i < 20; i++) await runDeployment(NOOP, { client, timeout: 30 }); // warm-up
    const latencies: number[] = [];
    for (let i = 0; i < RUN_DEPLOYMENT_CALLS; i++) {
      const t0 = performance.now();
      const run = await runDeployment(NOOP, { client, timeout: 30 });
      latencies.push(performance.now() - t0);
      if (run.state.type !== 'COMPLETED') throw new Error(`runDeployment returned ${run.state.type}`);
    }
    const s = summarize(latencies);
    table.add('runDeployment → COMPLETED p50 (ms)', s.p50);
    table.add('runDeployment → COMPLETED p99 (ms)', s.p99);

    const t0 = performance.now();
    for (let i = 0; i < CHAIN; i++) {
      const run = await runDeployment(NAP, { client, parameters: { ms: 10 }, timeout: 30 });
      if (run.state.type !== 'COMPLETED') throw new Error(`chain link ${i} ended ${run.state.type}`);
    }
    table.add(`chain of ${CHAIN} × 10 ms runDeployment, total (s)`, (performance.now() - t0) / 1000, (v) => v.toFixed(2));
  });
}

console.log(`# Served runner (client.ts), ${STORE === 'postgres' ? 'PostgreSQL' : 'SQLite'}: ${machineLine()}`);
console.log(`  reproduce: ${COMMAND}`);
for (let round = 1; round <= ROUNDS; round++) {
  const phases = { steady, runDeployment: runDeploymentLatency, throughput, drain };
  for (const [name, phase] of Object.entries(phases)) if (!ONLY || ONLY.includes(name)) await phase();
  console.log(`  round ${round} done (load average ${machineLine().split('load average ')[1]})`);
}
table.add('peak RSS, this process (runner + callers + tsx)', peakSelfRss, mb);
table.add('peak RSS, server process', peakServerRss, mb);
console.log(`\n  Medians of ${ROUNDS} round(s); ${RUNS} runs per throughput phase, ${RATE}/s for ${SECONDS} s in the steady phase:`);
table.print();
console.log(`\n  Aim: ≥ 1,000 runs/s with full state history, trigger → first line p50 ≤ 5 ms, p99 ≤ 25 ms.`);
