/**
 * The server's store and API under load, through the real HTTP API with the SDK's `DroverClient`.
 *
 *   pnpm build && pnpm --filter @drover/bench exec tsx server.ts [--rounds=3] [--client=http|sdk|both] [--store=sqlite|postgres] [--only=floor,noop,create,claim,lifecycle] [--limits=100,10] [--log=info] [--server=PATH]
 *
 * The server runs in a child process, as in production (callers and workers are other processes):
 * `startServer` on 127.0.0.1 over a fresh SQLite file in a temp folder (WAL checkpoints on as by
 * default), or with `--store=postgres` over a fresh database on the machine's PostgreSQL (`--url=`,
 * DROVER_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/postgres; see lib/postgres.ts),
 * services off, logging silent. The clients run in this process, each with its own
 * connection, each awaiting its calls one after another. Two kinds of client:
 *  - `sdk`: the SDK's `DroverClient` (tRPC client over `fetch`): what flow authors and workers use;
 *  - `http`: one `node:http` keep-alive connection per client sending tRPC's wire format itself
 *    (`POST /flowRuns.create` with the JSON input), the same requests at a fraction of the
 *    client's CPU. On 2 cores the client shares the machine with the server, and `fetch` costs
 *    more CPU per call than the server's whole request, so this is the one that shows what the
 *    server can do.
 * `--log=info` has the server log as the server app does at its default level (a line per request),
 * into a file with synchronous writes as pino does to stdout, to see what logging costs.
 * `--server=PATH` serves from another build's `dist/index.js` (a copy of an older `packages/server`
 * with its `node_modules` linked), to compare two builds under the same load.
 * `--only` runs some of the phases below, and `--limits` sets the claim phases' limits (the
 * PostgreSQL store is slow enough that a full round takes a quarter of an hour on 2 cores).
 * Every phase runs once per round on fresh pools, after an untimed warm-up (the JIT compiles the
 * hot paths during the first few hundred requests); each figure is the median of the rounds, with
 * the slowest and fastest beside it.
 *
 * - floor: `GET /health`, answered before tRPC (http client only): what node:http costs.
 * - no-op: `version`, a procedure that does nothing: what HTTP + tRPC + the client cost alone,
 *   the bound on any request rate.
 * - create: `flowRuns.create` by 1 client, then by 16 at once.
 * - claim: 4 workers drain 20,000 due runs from one pool with `workPools.claimRuns` (limit 100,
 *   then limit 10), and every run must come out exactly once.
 * - life cycle: 4, then 16, loops of create → claim → RUNNING → COMPLETED, each on its own queue
 *   (2,000 cycles in all): 4 loops show a cycle's latency, 16 what the server does at capacity.
 *
 * CPU columns say where the time goes: CPU µs spent per operation by the server process and by
 * this (client) process. A process near 1 s of CPU per second of wall time is the bottleneck.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DroverClient } from '@drover/client';
import type { FlowRun, StateProposal } from '@drover/schemas';
import type { startServer as StartServer } from '@drover/server';
import { pino } from 'pino';
import { databaseBytes, storeArg, withDatabase } from './lib/postgres.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const ROUNDS = Number(arg('rounds') ?? 3);
const STORE = storeArg();
const CLIENT_KINDS = (arg('client') ?? 'both') === 'both' ? (['http', 'sdk'] as const) : ([arg('client') as 'http' | 'sdk'] as const);
const PHASES = ['floor', 'noop', 'create', 'claim', 'lifecycle'] as const;
const ONLY = arg('only')?.split(',') ?? PHASES;
const CLAIM_LIMITS = (arg('limits') ?? '100,10').split(',').map(Number);
const unknownPhase = ONLY.find((phase) => !(PHASES as readonly string[]).includes(phase));
if (unknownPhase) throw new Error(`Invalid --only phase "${unknownPhase}": expected some of ${PHASES.join(',')}`);
const runs = (phase: (typeof PHASES)[number]) => ONLY.includes(phase);
const CREATES = 5000;
const CLAIM_RUNS = 20_000;
const CLAIM_WORKERS = 4;
const LIFECYCLE_LOOPS = [4, 16] as const;
const LIFECYCLES = 2000;
const NOOP_CALLS = 2000;

// ---------------------------------------------------------------------------------------------
// The server process: starts the server, answers the parent's questions about itself, and stops
// when told to or when the parent goes away.

type Ask = { id: number; cmd: 'usage' | 'close' };
/** The database and WAL sizes are the SQLite files' (0 on PostgreSQL, whose size the parent asks the database for). */
type Usage = { cpuMicros: number; rssBytes: number; maxRssBytes: number; databaseBytes: number; walBytes: number };

async function serve(): Promise<void> {
  const { startServer } = (await import(arg('server') ?? '@drover/server')) as { startServer: typeof StartServer };
  const home = mkdtempSync(join(tmpdir(), 'drover-bench-'));
  const databaseFile = join(home, 'drover.db');
  const size = (file: string) => statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  const logger = arg('log') === 'info' ? pino({ level: 'info' }, pino.destination({ dest: join(home, 'server.log'), sync: true })) : pino({ level: 'silent' });
  const postgresUrl = arg('postgres-url');
  const server = await startServer({
    ...(postgresUrl ? { postgresUrl } : { databaseFile }),
    port: 0,
    logger,
    services: { enabled: [] },
  });
  const usage = (): Usage => {
    const cpu = process.cpuUsage();
    return {
      cpuMicros: cpu.user + cpu.system,
      rssBytes: process.memoryUsage().rss,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      databaseBytes: size(databaseFile),
      walBytes: size(`${databaseFile}-wal`),
    };
  };
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await server.close();
    rmSync(home, { recursive: true, force: true });
  };
  process.on('message', (ask: Ask) => {
    if (ask.cmd === 'usage') process.send?.({ id: ask.id, ...usage() });
    else void close().then(() => process.send?.({ id: ask.id }, () => process.exit(0)));
  });
  process.on('disconnect', () => void close().then(() => process.exit(0)));
  process.send?.({ url: server.url });
}

// ---------------------------------------------------------------------------------------------
// The client side.

interface ServerProcess {
  readonly url: string;
  usage(): Promise<Usage>;
  close(): Promise<void>;
}

async function spawnServer(postgresUrl: string | undefined): Promise<ServerProcess> {
  const args = [
    'serve',
    ...process.argv.filter((a) => a.startsWith('--server=') || a.startsWith('--log=')),
    ...(postgresUrl ? [`--postgres-url=${postgresUrl}`] : []),
  ];
  // The child inherits this process's execArgv, which carries tsx's loader.
  const child = fork(fileURLToPath(import.meta.url), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (reply: Record<string, unknown>) => void>();
  let next = 0;
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server process exited with ${code} before listening`)));
    child.once('message', (m: { url: string }) => resolve(m.url));
  });
  child.on('message', (m: { id?: number }) => {
    if (m.id !== undefined) pending.get(m.id)?.(m as Record<string, unknown>);
  });
  const ask = (cmd: Ask['cmd']) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      child.send({ id, cmd } satisfies Ask);
    });
  return {
    url,
    usage: async () => (await ask('usage')) as unknown as Usage,
    close: async () => {
      await ask('close');
      child.disconnect();
    },
  };
}

/** The calls the phases make; the setup and the checks always use the SDK. */
interface Api {
  /** `GET /health`, which the server answers before tRPC; absent for the SDK, whose `health()` goes through tRPC. */
  floor?(): Promise<unknown>;
  noop(): Promise<unknown>;
  create(deployment: string): Promise<FlowRun>;
  claim(input: { workPoolName: string; workQueueNames?: string[]; workerName: string; scheduledBefore: string; limit: number }): Promise<FlowRun[]>;
  setState(flowRunId: string, state: { type: 'RUNNING' | 'COMPLETED'; result?: StateProposal['result'] }): Promise<{ status: string }>;
}

function sdkApi(client: DroverClient): Api {
  return {
    noop: () => client.version(),
    create: (deployment) => client.flowRuns.create({ deployment }),
    claim: (input) => client.workPools.claimRuns(input),
    setState: (flowRunId, state) => client.flowRuns.setState({ flowRunId, state }),
  };
}

/** tRPC's wire format without a transformer: queries are GET with `?input=`, mutations POST the JSON input. */
function httpApi(url: string): Api {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const call = (method: 'GET' | 'POST', path: string, input: unknown, unwrap = true) =>
    new Promise<unknown>((resolve, reject) => {
      const body = method === 'POST' ? JSON.stringify(input) : undefined;
      const query = method === 'GET' && input !== undefined ? `?input=${encodeURIComponent(JSON.stringify(input))}` : '';
      const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const req = request(`${url}/${path}${query}`, { method, agent, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${path}: HTTP ${res.statusCode} ${text}`));
          else resolve(unwrap ? (JSON.parse(text) as { result: { data: unknown } }).result.data : JSON.parse(text));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  return {
    floor: () => call('GET', 'health', undefined, false),
    noop: () => call('GET', 'version', undefined),
    create: async (deployment) => (await call('POST', 'flowRuns.create', { deployment })) as FlowRun,
    claim: async (input) => (await call('POST', 'workPools.claimRuns', input)) as FlowRun[],
    setState: async (flowRunId, state) => (await call('POST', 'flowRuns.setState', { flowRunId, state })) as { status: string },
  };
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;

interface Measure {
  readonly ops: number;
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
  readonly serverCpuPerOp: number;
  readonly clientCpuPerOp: number;
}

/** Runs `loops` concurrent loops of timed calls; `body` times each request it makes with `timed`. */
async function measure(
  server: ServerProcess,
  loops: number,
  body: (loop: number, timed: <T>(call: () => Promise<T>) => Promise<T>) => Promise<number>,
): Promise<Measure> {
  const latencies: number[] = [];
  const timed = async <T>(call: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const value = await call();
    latencies.push(performance.now() - t0);
    return value;
  };
  const serverBefore = await server.usage();
  const clientBefore = process.cpuUsage();
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: loops }, (_, loop) => body(loop, timed)));
  const seconds = (performance.now() - t0) / 1000;
  const clientCpu = process.cpuUsage(clientBefore);
  const serverAfter = await server.usage();
  const ops = counts.reduce((a, b) => a + b, 0);
  latencies.sort((a, b) => a - b);
  return {
    ops,
    seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    serverCpuPerOp: (serverAfter.cpuMicros - serverBefore.cpuMicros) / ops,
    clientCpuPerOp: (clientCpu.user + clientCpu.system) / ops,
  };
}

/** Makes `n` due runs of `deployment` through the SDK, 100 calls to a request, 4 clients at once (not timed). */
async function seedRuns(clients: readonly DroverClient[], deployment: string, n: number): Promise<Set<string>> {
  const ids = new Set<string>();
  let left = n;
  await Promise.all(
    clients.slice(0, 4).map(async (client) => {
      while (left > 0) {
        const batch = Math.min(100, left);
        left -= batch;
        // Calls made in the same tick travel in one HTTP request (the client's batch link).
        const runs = await Promise.all(Array.from({ length: batch }, () => client.flowRuns.create({ deployment })));
        for (const run of runs) ids.add(run.id);
      }
    }),
  );
  return ids;
}

const soon = () => new Date(Date.now() + 10_000).toISOString();

interface ClaimResult extends Measure {
  readonly check: string;
  readonly ok: boolean;
}

/** 4 workers drain the pool; each stops at its first empty answer. Rates are in runs, not requests. */
async function claimAll(
  server: ServerProcess,
  apis: readonly Api[],
  admin: DroverClient,
  pool: string,
  limit: number,
  seeded: Set<string>,
): Promise<ClaimResult> {
  const claimed: FlowRun[] = [];
  let requests = 0;
  const m = await measure(server, CLAIM_WORKERS, async (loop, timed) => {
    const api = apis[loop] as Api;
    const workerName = `worker-${loop}`;
    let runs = 0;
    for (let i = 0; i < CLAIM_RUNS; i++) {
      const page = await timed(() => api.claim({ workPoolName: pool, workerName, scheduledBefore: soon(), limit }));
      requests++;
      if (page.length === 0) break;
      for (const run of page) {
        if (run.workerName !== workerName || run.state.type !== 'PENDING') throw new Error(`claimed run ${run.id} is ${run.state.type} for ${run.workerName}`);
        claimed.push(run);
      }
      runs += page.length;
    }
    return runs;
  });
  const unique = new Set(claimed.map((r) => r.id));
  const missing = [...seeded].filter((id) => !unique.has(id)).length;
  const left = await admin.flowRuns.list({ workPoolName: pool, states: ['SCHEDULED'], page: { limit: 1, offset: 0 } });
  const ok = claimed.length === seeded.size && unique.size === seeded.size && missing === 0 && left.length === 0;
  const check = `${claimed.length} claimed in ${requests} requests, ${unique.size} distinct of ${seeded.size} seeded, ${claimed.length - unique.size} twice, ${missing} never, ${left.length > 0 ? 'some' : 'none'} still SCHEDULED`;
  return { ...m, check, ok };
}

type Row = { name: string; unit: string; rounds: Measure[] };

async function main(postgresUrl?: string): Promise<void> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(
    `node ${process.version}, ${cpus().length} cores, load average ${load} at start, TZ=${process.env.TZ ?? '(unset)'}, ${ROUNDS} rounds, store: ${STORE}, clients: ${CLIENT_KINDS.join(', ')}, server: ${arg('server') ?? '@drover/server'}, server log: ${arg('log') ?? 'silent'}`,
  );
  const server = await spawnServer(postgresUrl);
  const atStart = await server.usage();
  const sdkClients = Array.from({ length: 16 }, () => new DroverClient({ apiUrl: server.url }));
  const admin = sdkClients[0] as DroverClient;
  const apisOf = { sdk: sdkClients.map(sdkApi), http: Array.from({ length: 16 }, () => httpApi(server.url)) };
  try {
    await admin.workPools.create({ name: 'create', type: 'process' });
    await admin.deployments.upsert({ flowName: 'bench', name: 'create', workPoolName: 'create' });
    await admin.workPools.create({ name: 'lifecycle', type: 'process' });
    for (let i = 0; i < Math.max(...LIFECYCLE_LOOPS); i++) {
      await admin.deployments.upsert({ flowName: 'bench', name: `lifecycle-${i}`, workPoolName: 'lifecycle', workQueueName: `q${i}` });
    }

    const rows = new Map<string, Row>();
    const add = (name: string, unit: string, m: Measure) => {
      const row = rows.get(name) ?? { name, unit, rounds: [] };
      row.rounds.push(m);
      rows.set(name, row);
    };
    const checks: string[] = [];
    const seedRates: number[] = [];
    let allOk = true;

    // Untimed: lets the JIT compile both processes' hot paths before anything is measured.
    for (const kind of CLIENT_KINDS) {
      const api = apisOf[kind][0] as Api;
      for (let i = 0; i < 300; i++) await api.floor?.();
      for (let i = 0; i < 500; i++) await api.noop();
      for (let i = 0; i < 300; i++) await api.create('bench/create');
      for (let i = 0; i < 10; i++) await api.claim({ workPoolName: 'create', workerName: 'warm-up', scheduledBefore: soon(), limit: 30 });
      for (let i = 0; i < 100; i++) {
        const run = await api.create('bench/lifecycle-0');
        await api.claim({ workPoolName: 'lifecycle', workQueueNames: ['q0'], workerName: 'warm-up', scheduledBefore: soon(), limit: 1 });
        await api.setState(run.id, { type: 'RUNNING' });
        await api.setState(run.id, { type: 'COMPLETED', result: { ok: true } });
      }
    }

    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of CLIENT_KINDS) {
        const apis = apisOf[kind];
        const one = apis[0] as Api;
        if (one.floor && runs('floor')) {
          add(
            `${kind}: floor (GET /health), 16 clients`,
            'requests',
            await measure(server, 16, async (loop, timed) => {
              const n = NOOP_CALLS / 4;
              for (let i = 0; i < n; i++) await timed(async () => (apis[loop] as Api).floor?.());
              return n;
            }),
          );
        }
        if (runs('noop')) {
          add(
            `${kind}: no-op (version), 1 client`,
            'requests',
            await measure(server, 1, async (_loop, timed) => {
              for (let i = 0; i < NOOP_CALLS; i++) await timed(() => one.noop());
              return NOOP_CALLS;
            }),
          );
          add(
            `${kind}: no-op (version), 16 clients`,
            'requests',
            await measure(server, 16, async (loop, timed) => {
              const n = NOOP_CALLS / 4;
              for (let i = 0; i < n; i++) await timed(() => (apis[loop] as Api).noop());
              return n;
            }),
          );
        }
        if (runs('create')) {
          add(
            `${kind}: create, 1 client`,
            'runs',
            await measure(server, 1, async (_loop, timed) => {
              for (let i = 0; i < CREATES; i++) await timed(() => one.create('bench/create'));
              return CREATES;
            }),
          );
          add(
            `${kind}: create, 16 clients`,
            'runs',
            await measure(server, 16, async (loop, timed) => {
              const n = Math.floor(CREATES / 16) + (loop < CREATES % 16 ? 1 : 0);
              for (let i = 0; i < n; i++) await timed(() => (apis[loop] as Api).create('bench/create'));
              return n;
            }),
          );
        }
        for (const limit of runs('claim') ? CLAIM_LIMITS : []) {
          const pool = `claims-${kind}-${round}-${limit}`;
          await admin.workPools.create({ name: pool, type: 'process' });
          await admin.deployments.upsert({ flowName: 'bench', name: pool, workPoolName: pool });
          const t0 = performance.now();
          const seeded = await seedRuns(sdkClients, `bench/${pool}`, CLAIM_RUNS);
          seedRates.push(CLAIM_RUNS / ((performance.now() - t0) / 1000));
          const result = await claimAll(server, apis, admin, pool, limit, seeded);
          add(`${kind}: claim, 4 workers, limit ${limit}`, 'runs', result);
          checks.push(`round ${round + 1}, ${kind}, limit ${limit}: ${result.ok ? 'OK' : 'FAILED'}: ${result.check}`);
          allOk &&= result.ok;
        }
        for (const loops of runs('lifecycle') ? LIFECYCLE_LOOPS : []) {
          const perLoop = LIFECYCLES / loops;
          add(
            `${kind}: life cycle, ${loops} loops`,
            'cycles',
            await measure(server, loops, async (loop, timed) => {
              const api = apis[loop] as Api;
              for (let i = 0; i < perLoop; i++) {
                await timed(async () => {
                  const run = await api.create(`bench/lifecycle-${loop}`);
                  const [claimed] = await api.claim({
                    workPoolName: 'lifecycle',
                    workQueueNames: [`q${loop}`],
                    workerName: `loop-${loop}`,
                    scheduledBefore: soon(),
                    limit: 1,
                  });
                  if (claimed?.id !== run.id) throw new Error(`loop ${loop} claimed ${claimed?.id} instead of ${run.id}`);
                  const running = await api.setState(run.id, { type: 'RUNNING' });
                  const completed = await api.setState(run.id, { type: 'COMPLETED', result: { ok: true } });
                  if (running.status !== 'ACCEPT' || completed.status !== 'ACCEPT') throw new Error(`run ${run.id}: ${running.status}, ${completed.status}`);
                });
              }
              return perLoop;
            }),
          );
        }
      }
    }

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const f = (x: number, digits = 0) => x.toFixed(digits);
    console.log(
      `\nmedian of ${ROUNDS} rounds (slowest..fastest); p50/p99: latency of one request (of one cycle for life cycles) as the client sees it; CPU: µs per run (request for no-ops, cycle for life cycles) in each process`,
    );
    console.log('phase                                | per second (slowest..fastest)  | p50 ms | p99 ms | server CPU µs | client CPU µs');
    console.log('-------------------------------------|--------------------------------|--------|--------|---------------|--------------');
    for (const row of rows.values()) {
      const rates = row.rounds.map((m) => m.ops / m.seconds);
      const range = `(${f(Math.min(...rates))}..${f(Math.max(...rates))})`;
      console.log(
        `${row.name.padEnd(37)}| ${`${f(median(rates)).padStart(6)} ${row.unit}/s`.padEnd(18)}${range.padStart(13)} | ${f(median(row.rounds.map((m) => m.p50)), 2).padStart(6)} | ${f(median(row.rounds.map((m) => m.p99)), 2).padStart(6)} | ${f(median(row.rounds.map((m) => m.serverCpuPerOp))).padStart(13)} | ${f(median(row.rounds.map((m) => m.clientCpuPerOp))).padStart(12)}`,
      );
    }
    console.log(
      `\nruns: ${CREATES} per create phase, ${CLAIM_RUNS} due runs per claim phase, ${LIFECYCLES} life cycles per life-cycle phase (create, claim, RUNNING, COMPLETED: 4 requests each)`,
    );
    if (seedRates.length > 0)
      console.log(`seeding the claim pools (SDK, 4 clients x batches of 100 calls per request, not timed above): median ${f(median(seedRates))} runs/s`);
    if (checks.length > 0) console.log('claim check (every seeded run claimed exactly once, none left):');
    for (const check of checks) console.log(`  ${check}`);
    const usage = await server.usage();
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    console.log(
      `\npeak RSS: server process ${mib(usage.maxRssBytes)} (${mib(atStart.rssBytes)} once listening), client process ${mib(process.resourceUsage().maxRSS * 1024)}`,
    );
    if (postgresUrl) console.log(`database ${mib(await databaseBytes(postgresUrl))} (pg_database_size) at the end`);
    else console.log(`database file ${mib(usage.databaseBytes)}, its WAL ${mib(usage.walBytes)} at the end`);
    console.log(
      `load average at end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const extra = ['only', 'limits', 'log', 'server'].flatMap((name) => (arg(name) ? [` --${name}=${arg(name)}`] : [])).join('');
    console.log(
      `reproduce: pnpm build && pnpm --filter @drover/bench exec tsx server.ts --rounds=${ROUNDS} --client=${arg('client') ?? 'both'} --store=${STORE}${extra}`,
    );
    if (!allOk) process.exitCode = 1;
  } finally {
    await server.close();
  }
}

if (process.argv[2] === 'serve') await serve();
else if (STORE === 'postgres') await withDatabase('drover_bench_server', [], main);
else await main();
