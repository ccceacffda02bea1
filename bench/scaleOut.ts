/**
 * Drover on PostgreSQL with several servers on one database: throughput across replicas against
 * graphile-worker on the same PostgreSQL, trigger → first line across replicas, and how long the
 * background services stop when the server running them dies.
 *
 *   pnpm build && pnpm --filter @drover/bench exec tsx scaleOut.ts [--rounds=3] [--runs=3000] [--replicas=1,2,3] [--runner=one|list] [--rate=200] [--seconds=10] [--only=throughput,graphile,steady,failover] [--url=postgres://…]
 *
 * Where things run: each server in its own process (lib/serverMain.mjs: `startServer` on
 * 127.0.0.1, logging silent, plain node), every replica of a phase on one fresh database on the
 * machine's PostgreSQL (`--url=`, DROVER_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/postgres;
 * see lib/postgres.ts). The runner (`new Runner([...], { limit: 1000 })`, `serve()`'s other
 * defaults), the no-op flow (flows/flows.mjs) and the callers share this process, as in client.ts,
 * so a run's trigger and its first line are taken on one monotonic clock.
 *
 * Phases, every round, each on fresh databases:
 * - throughput (services off): for each count in `--replicas`, that many servers; 16 callers
 *   create `--runs` runs as fast as they can, caller i through replica i mod N (one client per
 *   replica, as client.ts has one for all its callers), while one runner runs them through replica
 *   0 (`--runner=list`: through the list of every replica, as DROVER_API_URL takes it; the client
 *   asks the one that answered last). Runs/s from the first create to the last run's end; every run
 *   must end COMPLETED with its full state history (checked on a sample). With 1 replica this is
 *   client.ts's throughput phase on PostgreSQL.
 * - graphile: graphile-worker 0.17 on the same PostgreSQL, in a fresh database, doing the same
 *   no-op job: 16 callers add jobs (`addJob` through one WorkerUtils with a pool of 16, each caller
 *   awaiting its adds one after another) while one worker (`run()` in this process) runs them.
 *   The worker has the configuration of graphile-worker's own performance page
 *   (worker.graphile.org/docs/performance: concurrentJobs 24, maxPoolSize 25, localQueue 500,
 *   completion and failure batching at 0 ms): the runner's limit of 1000 would only add idle
 *   workers, as a no-op job never waits. Jobs/s from the first add to the last job's completion
 *   (its row deleted: the jobs table empty); every job must have run exactly once.
 * - steady (services off): 2 servers; the runner on replica 0, the callers on replica 1, so every
 *   run's wake-up crosses servers (LISTEN/NOTIFY). Runs created open loop at `--rate`/s for
 *   `--seconds` after an untimed 2 s warm-up; trigger → first line p50/p99 from the time each
 *   create was due, as client.ts's steady phase.
 * - failover (services on): 3 servers on one database with 100 deployments, each with an hourly
 *   cron schedule (`M * * * *`, M = i mod 60, as in scheduler.ts). Once one server runs the
 *   services (the one whose `services.scheduler.state` is 'running', asked over IPC) and its passes
 *   have made every deployment's runs, it gets SIGKILL; the figure is the time from the kill to
 *   the next scheduler pass completed by another server (its `pass` event, which
 *   lib/serverMain.mjs reports over IPC with the wall clock). The other servers try the services'
 *   lock every 2 s (DEFAULT_LEADER_SETTINGS), so the takeover itself should take at most that.
 *
 * Figures are medians over rounds, with the range beside them.
 */
import { DroverClient } from '@drover/client';
import { Logger, makeWorkerUtils, run as runGraphileWorker } from 'graphile-worker';
import pg from 'pg';
import { arg, machineLine, type ServerProcess, sleep, summarize, Table } from './lib/harness.js';
import { withDatabase } from './lib/postgres.js';
import { checkCompleted, deploymentId, firstLines, NOOP, openLoop, type Servers, startRunner, untilDone, withServers } from './lib/runs.js';

const ROUNDS = Number(arg('rounds') ?? 3);
const RUNS = Number(arg('runs') ?? 3000);
const REPLICAS = (arg('replicas') ?? '1,2,3').split(',').map(Number);
const RUNNER = arg('runner') ?? 'one';
const RATE = Number(arg('rate') ?? 200);
const SECONDS = Number(arg('seconds') ?? 10);
const ONLY = arg('only')?.split(',');
const CALLERS = 16;
const WARM_UP_SECONDS = 2;
const FAILOVER_SERVERS = 3;
const FAILOVER_DEPLOYMENTS = 100;
const GRAPHILE = { concurrentJobs: 24, maxPoolSize: 25, localQueueSize: 500 } as const;
const COMMAND = `pnpm --filter @drover/bench exec tsx scaleOut.ts --rounds=${ROUNDS} --runs=${RUNS} --replicas=${REPLICAS.join(',')} --runner=${RUNNER} --rate=${RATE} --seconds=${SECONDS}${ONLY ? ` --only=${ONLY.join(',')}` : ''}`;

if (RUNNER !== 'one' && RUNNER !== 'list')
  throw new Error(`Invalid --runner=${RUNNER}: expected --runner=one (replica 0) or --runner=list (every replica's URL)`);

const table = new Table();
const rate = (v: number) => v.toFixed(0);
/** This round's runs/s per replica count and graphile-worker's jobs/s, for the ratios. */
let roundRates: { drover: Map<number, number>; graphile?: number };

const cpuOfServers = async (servers: Servers) => (await Promise.all(servers.map((s) => s.usage()))).reduce((sum, u) => sum + u.cpuMicros, 0);

async function throughput(replicas: number): Promise<void> {
  await withServers('postgres', replicas, {}, async (servers) => {
    const callers = servers.map((server) => new DroverClient({ apiUrl: server.url, apiKey: '' }));
    const runnerClient = RUNNER === 'list' ? new DroverClient({ apiUrl: servers.map((s) => s.url).join(','), apiKey: '' }) : (callers[0] as DroverClient);
    const { runner, stopped } = await startRunner(runnerClient);
    firstLines.clear();
    try {
      const cpu0 = process.cpuUsage();
      const serverCpu0 = await cpuOfServers(servers);
      const t0 = performance.now();
      let created = 0;
      await Promise.all(
        Array.from({ length: CALLERS }, async (_, caller) => {
          const client = callers[caller % replicas] as DroverClient;
          while (created < RUNS) {
            created++;
            await client.flowRuns.create({ deployment: NOOP });
          }
        }),
      );
      const creating = performance.now() - t0;
      await untilDone(runner, () => firstLines.size, RUNS, 900);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const serverCpu = (await cpuOfServers(servers)) - serverCpu0;
      await checkCompleted(runnerClient, await deploymentId(runnerClient, NOOP), RUNS);
      const label = `${replicas} replica${replicas === 1 ? '' : 's'}`;
      roundRates.drover.set(replicas, RUNS / seconds);
      table.add(`throughput, ${label}: runs/s, create + run at once`, RUNS / seconds, rate);
      table.add(`  ${label}: of which creating took (s)`, creating / 1000, (v) => v.toFixed(2));
      table.add(`  ${label}: CPU per run, this process (µs)`, (cpu.user + cpu.system) / RUNS, rate);
      table.add(`  ${label}: CPU per run, all servers (µs)`, serverCpu / RUNS, rate);
    } finally {
      runner.stop();
      await stopped;
    }
  });
}

async function graphile(): Promise<void> {
  await withDatabase('drover_bench_graphile', [], async (connectionString) => {
    const logger = new Logger(() => () => {});
    const addPool = new pg.Pool({ connectionString, max: CALLERS });
    // pg throws an idle client's error (the server going away) unless the pool and its clients have
    // listeners; graphile-worker checks for both and warns without them.
    addPool.on('error', () => {});
    addPool.on('connect', (client) => client.on('error', () => {}));
    const utils = await makeWorkerUtils({ pgPool: addPool, logger });
    // The worker's pool is ours too, with the same listeners: a pool graphile-worker makes itself
    // had none, and a connection of it that ended only as the database was dropped after the
    // phase crashed the benchmark ("terminating connection due to administrator command").
    const workerPool = new pg.Pool({ connectionString, max: GRAPHILE.maxPoolSize });
    workerPool.on('error', () => {});
    workerPool.on('connect', (client) => client.on('error', () => {}));
    const probe = new pg.Client({ connectionString });
    await probe.connect();
    let worker: Awaited<ReturnType<typeof runGraphileWorker>> | undefined;
    try {
      await utils.migrate();
      const ran = new Set<string>();
      let ranTwice = 0;
      worker = await runGraphileWorker({
        pgPool: workerPool,
        logger,
        noHandleSignals: true,
        concurrency: GRAPHILE.concurrentJobs,
        preset: { worker: { localQueue: { size: GRAPHILE.localQueueSize }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
        taskList: { noop: async () => {} },
      });
      worker.events.on('job:success', ({ job }) => {
        if (ran.has(job.id)) ranTwice++;
        ran.add(job.id);
      });
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let added = 0;
      await Promise.all(
        Array.from({ length: CALLERS }, async () => {
          while (added < RUNS) {
            added++;
            await utils.addJob('noop', {});
          }
        }),
      );
      const adding = performance.now() - t0;
      const deadline = t0 + 300_000;
      while (ran.size < RUNS) {
        if (performance.now() > deadline) throw new Error(`graphile-worker ran only ${ran.size} of ${RUNS} jobs in 300 s`);
        await sleep(2);
      }
      // A job is done once its row is gone: the completion batches have reached the database.
      while (Number((await probe.query<{ n: string }>('SELECT count(*) AS n FROM graphile_worker._private_jobs')).rows[0]?.n) > 0) {
        if (performance.now() > deadline) throw new Error('graphile-worker left jobs in its table for 300 s');
        await sleep(2);
      }
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      if (ran.size !== RUNS || ranTwice > 0) throw new Error(`graphile-worker ran ${ran.size} distinct jobs of ${RUNS}, ${ranTwice} twice`);
      roundRates.graphile = RUNS / seconds;
      table.add('graphile-worker: jobs/s, add + run at once', RUNS / seconds, rate);
      table.add('  graphile-worker: of which adding took (s)', adding / 1000, (v) => v.toFixed(2));
      table.add('  graphile-worker: CPU per job, this process (µs)', (cpu.user + cpu.system) / RUNS, rate);
    } finally {
      await worker?.stop();
      await utils.release();
      await workerPool.end();
      await addPool.end();
      await probe.end();
    }
  });
}

async function steady(): Promise<void> {
  await withServers('postgres', 2, {}, async ([runnerServer, callerServer]) => {
    const runnerClient = new DroverClient({ apiUrl: runnerServer.url, apiKey: '' });
    if (!callerServer) throw new Error('the steady phase needs 2 servers');
    const caller = new DroverClient({ apiUrl: callerServer.url, apiKey: '' });
    const { runner, stopped } = await startRunner(runnerClient);
    firstLines.clear();
    try {
      const generate = (seconds: number) => openLoop(runner, () => caller.flowRuns.create({ deployment: NOOP }), RATE, seconds);
      // Every process starts cold: the first second or so runs while the JIT compiles the hot paths.
      const warmUp = summarize((await generate(WARM_UP_SECONDS)).latencies);
      const { latencies, lag } = await generate(SECONDS);
      const s = summarize(latencies);
      table.add(`steady ${RATE}/s, caller and runner on different replicas: trigger → first line p50 (ms)`, s.p50);
      table.add(`steady ${RATE}/s, caller and runner on different replicas: trigger → first line p99 (ms)`, s.p99);
      table.add(`  steady: trigger → first line max (ms)`, s.max);
      table.add(`  steady: generator's worst lag (ms)`, lag);
      table.add(`  steady: cold start, the untimed first ${WARM_UP_SECONDS} s, p99 (ms)`, warmUp.p99);
    } finally {
      runner.stop();
      await stopped;
    }
  });
}

type SchedulerPass = { at: number; deployments: number; inserted: number; full: boolean };

async function failover(): Promise<void> {
  await withServers('postgres', FAILOVER_SERVERS, { services: true }, async (servers) => {
    const passes = servers.map(() => [] as SchedulerPass[]);
    servers.forEach((server, i) => {
      server.child.process.on('message', (m: { schedulerPass?: SchedulerPass }) => {
        if (m.schedulerPass) passes[i]?.push(m.schedulerPass);
      });
    });
    const client = new DroverClient({ apiUrl: servers[0].url, apiKey: '' });
    await client.workPools.create({ name: 'failover', type: 'process' });
    await Promise.all(
      Array.from({ length: FAILOVER_DEPLOYMENTS }, (_, i) =>
        client.deployments.upsert({
          flowName: 'failover',
          name: `d${i}`,
          workPoolName: 'failover',
          schedules: [{ schedule: { cron: `${i % 60} * * * *`, timezone: 'UTC' } }],
        }),
      ),
    );
    /** The live servers' scheduler states ('killed' for a killed one, which answers nothing). */
    const states = () =>
      Promise.all(
        servers.map(async (s) =>
          s.child.process.exitCode === null && s.child.process.signalCode === null ? ((await s.child.ask('services')).scheduler as string) : 'killed',
        ),
      );
    /** The one server running the scheduler, once it has completed a pass at or after `since` (bounded by `seconds`). */
    const leader = async (seconds: number, since: number) => {
      const deadline = performance.now() + seconds * 1000;
      for (;;) {
        const now = await states();
        const running = now.flatMap((state, i) => (state === 'running' ? [i] : []));
        if (running.length > 1) throw new Error(`servers ${running.join(', ')} all run the scheduler at once`);
        const [index] = running;
        if (index !== undefined && passes[index]?.some((pass) => pass.at >= since)) return index;
        if (performance.now() > deadline) throw new Error(`no server ran a scheduler pass within ${seconds} s (scheduler states: ${now.join(', ')})`);
        await sleep(50);
      }
    };
    // The leader's passes after the upserts make every deployment's runs; kill it once they are
    // done (no pass for 1 s), so that the next pass is a steady one, as in a failover in service.
    const first = await leader(60, Date.now());
    while (Date.now() - (passes[first]?.at(-1)?.at ?? 0) < 1000) await sleep(50);
    const killed = servers[first] as ServerProcess;
    const exited = new Promise((resolve) => killed.child.process.once('exit', resolve));
    const killedAt = Date.now();
    killed.child.process.kill('SIGKILL');
    await exited;
    // Polled every 20 ms: when another server started its services (elected), and its first pass after the kill.
    const deadline = performance.now() + 60_000;
    let electedAt: number | undefined;
    let next: { server: number; pass: SchedulerPass } | undefined;
    while (!next) {
      if (performance.now() > deadline) throw new Error(`no other server completed a scheduler pass within 60 s of the leader's SIGKILL`);
      await sleep(20);
      if (electedAt === undefined && (await states()).includes('running')) electedAt = Date.now();
      next = passes.flatMap((list, server) => (server === first ? [] : list.filter((p) => p.at >= killedAt).map((pass) => ({ server, pass }))))[0];
    }
    const second = await leader(10, killedAt);
    if (second !== next.server) throw new Error(`server ${next.server} completed the pass but server ${second} runs the services`);
    const { deployments, inserted, full } = next.pass;
    console.log(
      `  failover: server ${first} (of ${servers.length}) killed after ${passes[first]?.length} scheduler passes; server ${next.server} took over, its first pass: ${full ? 'full' : 'changed deployments only'}, ${deployments} deployments, ${inserted} runs inserted`,
    );
    table.add('failover: leader SIGKILL → next scheduler pass completed (ms)', next.pass.at - killedAt);
    table.add('  failover: leader SIGKILL → another server runs the services (ms, polled every 20 ms)', (electedAt ?? next.pass.at) - killedAt);
  });
}

console.log(`# Scale-out on PostgreSQL (scaleOut.ts): ${machineLine()}`);
console.log(`  reproduce: ${COMMAND}`);
const ratios: string[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  roundRates = { drover: new Map() };
  if (!ONLY || ONLY.includes('throughput')) for (const replicas of REPLICAS) await throughput(replicas);
  if (!ONLY || ONLY.includes('graphile')) await graphile();
  const { graphile: graphileRate } = roundRates;
  if (graphileRate !== undefined) {
    for (const [replicas, droverRate] of roundRates.drover)
      table.add(
        `Drover with ${replicas} replica${replicas === 1 ? '' : 's'} ÷ graphile-worker, same round`,
        droverRate / graphileRate,
        (v) => `${v.toFixed(2)}x`,
      );
  }
  ratios.push(
    [...roundRates.drover]
      .map(([replicas, r]) => `${replicas}: ${r.toFixed(0)}`)
      .concat(graphileRate === undefined ? [] : [`graphile-worker: ${graphileRate.toFixed(0)}`])
      .join(', '),
  );
  if (!ONLY || ONLY.includes('steady')) await steady();
  if (!ONLY || ONLY.includes('failover')) await failover();
  console.log(`  round ${round} done (load average ${machineLine().split('load average ')[1]}): runs/s by replicas ${ratios.at(-1)}`);
}
console.log(
  `\n  Medians of ${ROUNDS} round(s); ${RUNS} runs per throughput phase (runner ${RUNNER === 'one' ? 'on replica 0' : "given every replica's URL"}), ${RATE}/s for ${SECONDS} s in the steady phase:`,
);
table.print();
console.log(
  '\n  Aim: ≥ 1,000 runs/s with 1 replica and no lower with 2 and 3, ≥ 2x graphile-worker; across replicas at 200/s trigger → first line p50 ≤ 10 ms, p99 ≤ 50 ms.',
);
