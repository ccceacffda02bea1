/**
 * The scheduler service over many deployments: one pass that fills an empty database with every
 * schedule's runs, then steady passes that find nothing to add.
 *
 *   pnpm build && pnpm --filter @drover/bench exec tsx scheduler.ts [--deployments=10000] [--rounds=3] [--store=sqlite|postgres] [--server=PATH]
 *
 * Set-up (not timed): a server on 127.0.0.1 over a fresh SQLite file, or with `--store=postgres` a
 * fresh database on the machine's PostgreSQL (`--url=`, DROVER_TEST_PG_URL or
 * postgres://postgres@127.0.0.1:5432/postgres; see lib/postgres.ts), and the deployments upserted
 * through the API with the SDK, one cron schedule each (`M * * * *`, the minute M = i mod 60, so
 * run times spread over the hour; time zones rotate over UTC, America/New_York, Europe/Berlin and
 * Asia/Kathmandu). The database is then closed and copied once per round (the file, or a new
 * PostgreSQL database made with it as TEMPLATE), and each round runs in its own process:
 * `startServer` on the copy with services off and a fixed clock, one
 * `server.services.scheduler.pass()` from empty, then 5 passes that have nothing to add. The clock
 * does not move, so a steady pass is a pure check of what exists. Peak RSS is that process's.
 * `--server=PATH` runs the passes with another build's `dist/index.js`, to compare builds.
 */
import { fork } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DroverClient } from '@drover/client';
import type { FakeClock as FakeClockClass, startServer as StartServer } from '@drover/server';
import { pino } from 'pino';
import { storeArg, withDatabase } from './lib/postgres.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const DEPLOYMENTS = Number(arg('deployments') ?? 10_000);
const ROUNDS = Number(arg('rounds') ?? 3);
const STORE = storeArg();
const STEADY_PASSES = 5;
const NOW = '2026-01-01T00:00:30Z';
const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kathmandu'];

type Server = typeof import('@drover/server');
const loadServer = async () => (await import(arg('server') ?? '@drover/server')) as { startServer: typeof StartServer; FakeClock: typeof FakeClockClass };

interface PassReport {
  readonly fillMs: number;
  readonly inserted: number;
  readonly deployments: number;
  readonly steadyMs: number[];
  readonly steadyInserted: number;
  readonly rssBeforeBytes: number;
  readonly maxRssBytes: number;
}

/** A database as the round processes are given it: a SQLite file, or a PostgreSQL URL. */
const databaseOption = (database: string) => (/^postgres(ql)?:/.test(database) ? { postgresUrl: database } : { databaseFile: database });

/** One round, in its own process: the passes over a copy of the prepared database. */
async function passes(database: string): Promise<void> {
  const { startServer, FakeClock } = await loadServer();
  const server = await startServer({
    ...databaseOption(database),
    port: 0,
    logger: pino({ level: 'silent' }),
    services: { enabled: [] },
    clock: new FakeClock(NOW),
  });
  try {
    const rssBeforeBytes = process.memoryUsage().rss;
    const t0 = performance.now();
    const fill = await server.services.scheduler.pass();
    const fillMs = performance.now() - t0;
    const steadyMs: number[] = [];
    let steadyInserted = 0;
    for (let i = 0; i < STEADY_PASSES; i++) {
      const t = performance.now();
      const pass = await server.services.scheduler.pass();
      steadyMs.push(performance.now() - t);
      steadyInserted += pass.inserted;
    }
    const report: PassReport = {
      fillMs,
      inserted: fill.inserted,
      deployments: fill.deployments,
      steadyMs,
      steadyInserted,
      rssBeforeBytes,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
    };
    process.send?.(report);
  } finally {
    await server.close();
  }
}

function runRound(database: string): Promise<PassReport> {
  return new Promise((resolve, reject) => {
    // The child inherits this process's execArgv, which carries tsx's loader.
    const child = fork(fileURLToPath(import.meta.url), ['passes', database, ...process.argv.filter((a) => a.startsWith('--server='))], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let report: PassReport | undefined;
    child.on('message', (m: PassReport) => {
      report = m;
    });
    child.on('exit', (code) => (report && code === 0 ? resolve(report) : reject(new Error(`pass process exited with ${code}`))));
  });
}

/** Creates the deployments through the API, 100 upserts to a request, 4 clients at once. */
async function prepare(server: Server, database: string): Promise<number> {
  const running = await server.startServer({
    ...databaseOption(database),
    port: 0,
    logger: pino({ level: 'silent' }),
    services: { enabled: [] },
    clock: new server.FakeClock(NOW),
  });
  const t0 = performance.now();
  try {
    const clients = Array.from({ length: 4 }, () => new DroverClient({ apiUrl: running.url }));
    await (clients[0] as DroverClient).workPools.create({ name: 'scheduled', type: 'process' });
    let next = 0;
    await Promise.all(
      clients.map(async (client) => {
        while (next < DEPLOYMENTS) {
          const batch = Array.from({ length: Math.min(100, DEPLOYMENTS - next) }, () => next++);
          // Calls made in the same tick travel in one HTTP request (the client's batch link).
          await Promise.all(
            batch.map((i) =>
              client.deployments.upsert({
                flowName: `flow-${Math.floor(i / 100)}`,
                name: `deployment-${i}`,
                workPoolName: 'scheduled',
                schedules: [{ schedule: { cron: `${i % 60} * * * *`, timezone: ZONES[i % ZONES.length] as string } }],
              }),
            ),
          );
        }
      }),
    );
  } finally {
    await running.close();
  }
  return (performance.now() - t0) / 1000;
}

/**
 * The prepared database and, for each round, a copy of it: a copied file, or a PostgreSQL database
 * made with the prepared one as its template (PostgreSQL copies the data; the set-up through the
 * API, minutes for 10,000 deployments, runs once).
 */
async function withDatabases<T>(
  body: (prepared: string, withCopy: (use: (copy: string) => Promise<PassReport>) => Promise<PassReport>) => Promise<T>,
): Promise<T> {
  if (STORE === 'postgres') {
    return withDatabase('drover_bench_scheduler', [], (prepared) => body(prepared, (use) => withDatabase('drover_bench_scheduler', [], use, prepared)));
  }
  const home = mkdtempSync(join(tmpdir(), 'drover-bench-scheduler-'));
  let round = 0;
  try {
    const prepared = join(home, 'prepared.db');
    return await body(prepared, async (use) => {
      const file = join(home, `round-${round++}.db`);
      copyFileSync(prepared, file);
      try {
        return await use(file);
      } finally {
        rmSync(file, { force: true });
      }
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `node ${process.version}, ${cpus().length} cores, load average ${load()} at start, TZ=${process.env.TZ ?? '(unset)'}, ${ROUNDS} rounds, store: ${STORE}, server: ${arg('server') ?? '@drover/server'}`,
  );
  await withDatabases(async (prepared, withCopy) => {
    const setupSeconds = await prepare(await import('@drover/server'), prepared);
    console.log(`set-up: ${DEPLOYMENTS} deployments upserted through the API in ${setupSeconds.toFixed(1)} s (not timed below); clock fixed at ${NOW}`);
    const reports: PassReport[] = [];
    for (let round = 0; round < ROUNDS; round++) reports.push(await withCopy(runRound));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}..${Math.max(...xs).toFixed(1)}`;
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    const fills = reports.map((r) => r.fillMs);
    const steady = reports.flatMap((r) => r.steadyMs);
    const first = reports[0] as PassReport;
    console.log(`\nmedian of ${ROUNDS} rounds (slowest..fastest)`);
    console.log(
      `fill pass (empty → full):  ${median(fills).toFixed(1)} ms (${range(fills)}), ${first.inserted} runs inserted for ${first.deployments} deployments, ${((first.inserted / median(fills)) * 1000).toFixed(0)} runs/s`,
    );
    console.log(
      `steady pass (nothing new): ${median(steady).toFixed(1)} ms (${range(steady)}) over ${steady.length} passes, ${reports.reduce((a, r) => a + r.steadyInserted, 0)} runs inserted`,
    );
    console.log(
      `peak RSS of the pass process: ${mib(median(reports.map((r) => r.maxRssBytes)))} (${mib(median(reports.map((r) => r.rssBeforeBytes)))} before the fill pass)`,
    );
    const ok = reports.every((r) => r.inserted === first.inserted && r.steadyInserted === 0);
    console.log(`check: ${ok ? 'OK' : 'FAILED'}: every round inserted the same runs, and no steady pass inserted any`);
    console.log(`load average at end: ${load()}`);
    console.log(
      `reproduce: pnpm build && pnpm --filter @drover/bench exec tsx scheduler.ts --deployments=${DEPLOYMENTS} --rounds=${ROUNDS} --store=${STORE}${arg('server') ? ` --server=${arg('server')}` : ''}`,
    );
    if (!ok) process.exitCode = 1;
  });
}

if (process.argv[2] === 'passes') await passes(process.argv[3] as string);
else await main();
