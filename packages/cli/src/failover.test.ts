// Servers that replace each other: three `drover server start` replicas on one fresh PostgreSQL
// database, four served runners that each know all three (in another order), and 5,000 runs,
// scheduled by the services leader and triggered through the replicas, while the leader is
// SIGKILLed in the middle of a scheduler pass, then another replica is killed, and both come back
// on their ports. Afterwards the database must show every acknowledged run, each run once (one
// RUNNING, one COMPLETED), no concurrency limit exceeded, nothing left PENDING or RUNNING and no
// scheduled time made twice; the output says how long the services had no leader.
// DROVER_FAILOVER_SEED replays a run's random choices (which deployment each run goes to, how
// long the second replica stays down), not its timing.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DroverClient } from '@drover/client';
import { isDroverError } from '@drover/schemas';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, freePort, killHard, random, repoRoot } from './testCli.js';

const TOTAL_RUNS = 5000;
const LIMIT = 5;
const HEARTBEAT_TIMEOUT_SECONDS = 5;
/** Callers creating runs at once, each a batch of BATCH every 200 ms at most: up to 200 runs/s, fewer on a busy machine. */
const CREATORS = 8;
const BATCH = 5;
/** After the chaos, how long the runs get to reach a final state. */
const SETTLE_MS = 180_000;

/** The server tests' PostgreSQL (see packages/server/src/testPostgres.ts): DROVER_TEST_PG_URL, or the machine's, trust auth on loopback. */
const ADMIN_URL = process.env.DROVER_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const droverMain = join(repoRoot, 'apps/cli/dist/main.js');

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`No PostgreSQL answers at ${ADMIN_URL} (${(error as Error).message}): run \`bash scripts/postgres.sh\` (scripts/test.sh does)`);
  }
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

const clientEntry = createRequire(import.meta.url).resolve('@drover/client');

/**
 * Each runner serves the same three deployments of no-op flows: `ticking` on two schedules,
 * `limited` (a limit of LIMIT, and a schedule of its own) and `free`. `limited` sleeps a little,
 * so its runs overlap and the limit is what holds them back. Prefetch is short: a run claimed ahead
 * of its time holds a slot while it waits.
 */
const RUNNER = `import { flow, Runner, RunnerDeployment } from '${clientEntry}';
export const ticking = flow({ name: 'ticking' }, async () => ({ ok: true }));
export const limited = flow({ name: 'limited' }, async () => {
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { ok: true };
});
export const free = flow({ name: 'free' }, async () => ({ ok: true }));
const runner = new Runner(
  [
    RunnerDeployment.fromFlow(ticking, { entrypoint: 'runner.mjs:ticking', schedules: [{ interval: 1, slug: 'every-second' }, { interval: 2, slug: 'every-2s' }] }),
    RunnerDeployment.fromFlow(limited, { entrypoint: 'runner.mjs:limited', concurrencyLimit: ${LIMIT}, schedule: { interval: 2, slug: 'limited-2s' } }),
    RunnerDeployment.fromFlow(free, { entrypoint: 'runner.mjs:free' }),
  ],
  { limit: 25, prefetchSeconds: 1, pollWaitSeconds: 2, runHeartbeatSeconds: 1, shutdownGraceSeconds: 1, printStartingMessage: false },
);
runner.ready.then(() => console.log('READY'), () => {});
await runner.start();
`;

interface Replica {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly log: string;
  child?: ChildProcess;
}

const home = mkdtempSync(join(tmpdir(), 'drover-failover-'));
const database = `drover_failover_${process.pid}_${randomBytes(4).toString('hex')}`;
const children = new Set<ChildProcess>();
let databaseMade = false;
let db: pg.Client | undefined;
afterAll(async () => {
  await Promise.all([...children].map((child) => killHard(child)));
  await db?.end().catch(() => {});
  if (databaseMade) await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  rmSync(home, { recursive: true, force: true });
}, 60_000);

/** Starts `node <args>` with `env`, its output appended to `log`. */
function start(args: readonly string[], env: Record<string, string>, log: string): ChildProcess {
  const out = openSync(log, 'a');
  const child = spawn(process.execPath, args, { cwd: home, env: childEnv(env), stdio: ['ignore', out, out] });
  closeSync(out);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
const tail = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-30).join('\n') : '');

/** The inode of the TCP socket whose local port is `port` and remote port `remotePort` (from /proc/net/tcp). */
function socketInode(port: number, remotePort: number): string | undefined {
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = Number.parseInt(fields[1]?.split(':')[1] ?? '', 16);
      const remote = Number.parseInt(fields[2]?.split(':')[1] ?? '', 16);
      if (local === port && remote === remotePort && fields[9] !== '0') return fields[9];
    }
  }
  return undefined;
}

/** Whether process `pid` has socket `inode` open. */
function owns(pid: number, inode: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
      } catch {
        return false; // closed meanwhile
      }
    });
  } catch {
    return false;
  }
}

describe('several servers on one PostgreSQL database', () => {
  it('lose no run, run none twice and exceed no limit while the services leader and another replica are SIGKILLed and restarted', {
    timeout: 480_000,
  }, async () => {
    const seed = Number(process.env.DROVER_FAILOVER_SEED ?? Date.now() % 1_000_000);
    const rand = random(seed);
    const began = Date.now();
    await admin(`CREATE DATABASE ${database}`);
    databaseMade = true;
    const databaseUrl = new URL(ADMIN_URL);
    databaseUrl.pathname = `/${database}`;
    const pgPort = Number(databaseUrl.port || 5432);
    // Commits need not wait for the disk: the test never survives a crash of PostgreSQL itself.
    databaseUrl.searchParams.set('options', '-c synchronous_commit=off');
    const checks = new pg.Client({ connectionString: databaseUrl.href });
    checks.on('error', () => {}); // the database is dropped under it when the test fails
    db = checks;

    const serverEnv = {
      DROVER_HOME: join(home, 'drover'),
      DROVER_DATABASE_URL: databaseUrl.href,
      DROVER_LOG_LEVEL: 'warn',
      DROVER_RUN_HEARTBEAT_TIMEOUT_SECONDS: String(HEARTBEAT_TIMEOUT_SECONDS),
      // Compressed time: schedules every 1-2 s, kept 75-120 s ahead, so every full pass (each
      // minute, and at once on a new leader) and every schedule change inserts runs.
      DROVER_SCHEDULER_MIN_RUNS: '3',
      DROVER_SCHEDULER_MAX_RUNS: '120',
      DROVER_SCHEDULER_MIN_SECONDS: '75',
      DROVER_SCHEDULER_MAX_SECONDS: '120',
    };
    const replicas: Replica[] = [];
    for (const name of ['a', 'b', 'c']) {
      const port = await freePort();
      replicas.push({ name, port, url: `http://127.0.0.1:${port}`, log: join(home, `server-${name}.log`) });
    }
    const startReplica = async (replica: Replica) => {
      const child = start([droverMain, 'server', 'start', '--port', String(replica.port)], serverEnv, replica.log);
      replica.child = child;
      const direct = new DroverClient({ apiUrl: replica.url, apiKey: '' });
      for (;;) {
        if (exited(child)) throw new Error(`Server ${replica.name} exited ${child.exitCode ?? child.signalCode} while starting:\n${tail(replica.log)}`);
        try {
          await direct.health();
          return;
        } catch (error) {
          if (!isDroverError(error, 'SERVER_UNREACHABLE')) throw error;
          await sleep(200);
        }
      }
    };
    // All three at once on the empty database: they race to migrate it, as replicas deployed together do.
    await Promise.all(replicas.map(startReplica));
    await checks.connect();

    const everyUrl = replicas.map((r) => r.url);
    const client = new DroverClient({ apiUrl: everyUrl.join(','), apiKey: '' });
    writeFileSync(join(home, 'runner.mjs'), RUNNER);
    const orders = [
      [0, 1, 2],
      [1, 2, 0],
      [2, 0, 1],
      [0, 2, 1],
    ];
    const runners = orders.map((order, index) => {
      const log = join(home, `runner-${index}.log`);
      const env = { DROVER_HOME: join(home, `runner-${index}`), DROVER_API_URL: order.map((i) => everyUrl[i]).join(',') };
      return { log, child: start([join(home, 'runner.mjs')], env, log) };
    });
    for (const runner of runners) {
      while (!readFileSync(runner.log, 'utf8').includes('READY')) {
        if (exited(runner.child)) throw new Error(`A runner exited ${runner.child.exitCode ?? runner.child.signalCode} while starting:\n${tail(runner.log)}`);
        await sleep(100);
      }
    }

    /** The live replica whose connection to the database goes out from local port `clientPort`. */
    const replicaOf = (clientPort: number): Replica | undefined => {
      const inode = socketInode(clientPort, pgPort);
      return inode ? replicas.find((r) => r.child?.pid !== undefined && !exited(r.child) && owns(r.child.pid, inode)) : undefined;
    };
    /** The replica whose connection holds the services lock now, if any. */
    const leader = async (): Promise<Replica | undefined> => {
      const { rows } = await checks.query<{ client_port: number }>(
        `SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'drover-services-leader' AND a.datname = current_database()`,
      );
      return rows.map((row) => replicaOf(row.client_port)).find((replica) => replica !== undefined);
    };
    /** Waits for a leader other than `not`; returns it and when it was seen. */
    const nextLeader = async (not?: Replica): Promise<{ replica: Replica; at: number }> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const found = await leader();
        if (found && found !== not) return { replica: found, at: Date.now() };
        if (Date.now() > deadline) throw new Error(`No server took the services lock within 60 s${not ? ` of server ${not.name}'s death` : ''}`);
        await sleep(20);
      }
    };

    // Runs created by the test; an id counts once a replica acknowledged it. The SDK gives each
    // create an idempotency key and sends it again after a lost answer; a create that found no
    // replica at all is sent again here (with a new key), and counted.
    const acknowledged: string[] = [];
    let resent = 0;
    let scheduledDue = 0;
    let creating = true;
    let creatorError: unknown;
    const progress = () => (acknowledged.length + scheduledDue) / TOTAL_RUNS;
    const create = async (deployment: string) => {
      for (;;) {
        try {
          return await client.flowRuns.create({ deployment });
        } catch (error) {
          if (!isDroverError(error, 'SERVER_UNREACHABLE')) throw error;
          resent++;
          await sleep(200);
        }
      }
    };
    const counter = (async () => {
      while (creating) {
        const { rows } = await checks.query<{ n: number }>('SELECT count(*)::int AS n FROM flow_runs WHERE auto_scheduled AND expected_start_time <= $1', [
          new Date().toISOString(),
        ]);
        scheduledDue = rows[0]?.n ?? 0;
        if (progress() >= 1) creating = false;
        else await sleep(500);
      }
    })().catch((error: unknown) => {
      creatorError = error;
      creating = false;
    });
    const creators = Array.from({ length: CREATORS }, async () => {
      try {
        while (creating) {
          const started = Date.now();
          // One turn of the event loop: the batch travels as one request.
          const runs = await Promise.all(Array.from({ length: BATCH }, () => create(rand() < 0.1 ? 'limited/limited' : 'free/free')));
          acknowledged.push(...runs.map((run) => run.id));
          await sleep(Math.max(0, 200 - (Date.now() - started)));
        }
      } catch (error) {
        creatorError = error;
        creating = false;
      }
    });
    const untilProgress = async (share: number) => {
      while (progress() < share && creating) await sleep(100);
      if (creatorError) throw creatorError;
    };

    const events: string[] = [];
    const failovers: number[] = [];

    // 1. The leader dies in a scheduler pass. A transaction here holds the `ticking` flow's row,
    // which the foreign key check of every insert of a `ticking` run must share, and a new schedule
    // makes the leader insert its runs: the pass then waits inside its insert transaction, where
    // it is SIGKILLed. Nothing else writes that row or inserts `ticking` runs meanwhile.
    await untilProgress(0.2);
    const barrier = new pg.Client({ connectionString: databaseUrl.href });
    barrier.on('error', () => {});
    await barrier.connect();
    const { rows: barrierRows } = await barrier.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await barrier.query('BEGIN');
    await barrier.query(`SELECT id FROM flows WHERE name = 'ticking' FOR UPDATE`);
    await client.deployments.addSchedule('ticking/ticking', { schedule: { interval: 1 }, slug: 'added' });
    /** The leader once its scheduler pass waits on the barrier. */
    const leaderInPass = async (): Promise<Replica> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { rows } = await checks.query<{ client_port: number; query: string }>(
          'SELECT client_port, query FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
          [barrierRows[0]?.pid],
        );
        // pg_stat_activity keeps a query's first kilobyte: its opening is insertAutoRuns' statement
        // (store/postgres/autoRuns.ts). The pass must be the leader's: a leader that lost its lock
        // (a slow check on a loaded machine) stops, and its successor's first pass waits here too.
        const passes = rows.filter((row) => /^\s*WITH run AS \(\s*insert into "flow_runs"/i.test(row.query)).map((row) => replicaOf(row.client_port));
        const current = await leader();
        if (current && passes.includes(current)) return current;
        if (Date.now() > deadline) {
          const { rows: sessions } = await checks.query(
            `SELECT pid, client_port, application_name, state, wait_event_type, wait_event, pg_blocking_pids(pid) AS blocked_by, left(query, 300) AS query
             FROM pg_stat_activity WHERE datname = current_database()`,
          );
          throw new Error(
            `The leader (server ${current?.name ?? 'none'}) made no scheduler pass within 60 s of a new schedule:\n${JSON.stringify(sessions, null, 1)}`,
          );
        }
        await sleep(20);
      }
    };
    const first = await leaderInPass();
    const killedAt = Date.now();
    await killHard(first.child as ChildProcess);
    await barrier.query('ROLLBACK');
    await barrier.end();
    const second = await nextLeader(first);
    failovers.push(second.at - killedAt);
    events.push(`leader ${first.name} SIGKILLed inside a scheduler pass, ${second.replica.name} led ${second.at - killedAt} ms later`);

    // 2. Another replica dies, the new leader, and comes back on its port a few seconds later.
    await untilProgress(0.4);
    const victim = second.replica;
    const victimKilledAt = Date.now();
    await killHard(victim.child as ChildProcess);
    const third = await nextLeader(victim);
    failovers.push(third.at - victimKilledAt);
    const downMs = Math.round(1000 + rand() * 3000);
    await sleep(downMs);
    await startReplica(victim);
    events.push(`leader ${victim.name} SIGKILLed, ${third.replica.name} led ${third.at - victimKilledAt} ms later; ${victim.name} back after ${downMs} ms`);

    // 3. The first one comes back too.
    await untilProgress(0.6);
    await startReplica(first);
    events.push(`${first.name} back after ${Date.now() - killedAt} ms`);

    await Promise.all([counter, ...creators]);
    if (creatorError) throw creatorError;
    const createdBy = Date.now();

    // No more scheduled runs: each schedule is turned off, which deletes its runs not yet due; the due ones still run.
    for (const name of ['ticking/ticking', 'limited/limited']) {
      const deployment = await client.deployments.read(name);
      for (const schedule of deployment.schedules) await client.deployments.updateSchedule(name, schedule.id, { active: false });
    }

    // Every run due by the cutoff reaches a final state: none is SCHEDULED and due, PENDING or
    // RUNNING. The cutoff leaves room for the runs that runners claimed ahead of their time (1 s)
    // before their schedule was turned off; later scheduled runs should not exist, and those that
    // do are counted apart (see `later` below), so they neither hold up nor fail the checks.
    const cutoff = new Date(Date.now() + 5000).toISOString();
    const unfinished = async () => {
      const { rows } = await checks.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM flow_runs WHERE expected_start_time <= $1
         AND (state_type IN ('PENDING', 'RUNNING', 'CANCELLING') OR (state_type = 'SCHEDULED' AND next_scheduled_start_time <= $2))`,
        [cutoff, new Date().toISOString()],
      );
      return rows[0]?.n ?? 0;
    };
    const settleBy = Date.now() + SETTLE_MS;
    let left = await unfinished();
    while ((left > 0 || new Date().toISOString() <= cutoff) && Date.now() < settleBy) {
      await sleep(500);
      left = await unfinished();
    }
    const settledAt = Date.now();
    // What the servers logged as errors, and the runners said of runs, goes with every failure.
    const linesOf = (file: string, pattern: RegExp) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => pattern.test(line))
        .slice(0, 5);
    const said = [
      ...replicas.flatMap((r) => linesOf(r.log, /"level":(50|60)/).map((line) => `server ${r.name}: ${line}`)),
      ...runners.flatMap((r, index) => linesOf(r.log, /^Run /).map((line) => `runner ${index}: ${line}`)),
    ];
    const context = `seed ${seed}; ${events.join('; ')}${said.length > 0 ? `\n${said.join('\n')}` : ''}`;
    expect(left, `runs still due, PENDING or RUNNING ${SETTLE_MS / 1000} s after the chaos: ${context}`).toBe(0);

    // Nothing lost: every acknowledged create is there, and no create made two runs.
    const { rows: found } = await checks.query<{ id: string }>('SELECT id FROM flow_runs WHERE id = ANY($1)', [acknowledged]);
    const foundIds = new Set(found.map((row) => row.id));
    expect(
      acknowledged.filter((id) => !foundIds.has(id)),
      context,
    ).toEqual([]);
    const { rows: triggered } = await checks.query<{ n: number }>('SELECT count(*)::int AS n FROM flow_runs WHERE NOT auto_scheduled');
    expect(triggered[0]?.n, context).toBeGreaterThanOrEqual(acknowledged.length);
    expect(triggered[0]?.n, context).toBeLessThanOrEqual(acknowledged.length + resent);

    // Each run due by the cutoff ran once: one RUNNING, one COMPLETED, and it ended COMPLETED.
    const { rows: runs } = await checks.query<{
      id: string;
      state: string;
      later: boolean;
      auto: boolean;
      running: number;
      completed: number;
      states: string;
      slug: string | null;
      active: boolean | null;
      changed: string | null;
      made: string;
    }>(
      `SELECT r.id, r.state_type AS state, r.auto_scheduled AS auto, r.expected_start_time > $1 AS later,
              count(*) FILTER (WHERE s.type = 'RUNNING')::int AS running,
              count(*) FILTER (WHERE s.type = 'COMPLETED')::int AS completed,
              string_agg(s.type || ':' || s.name, ' ' ORDER BY s.id) AS states,
              d.slug, d.active, d.updated AS changed, r.created AS made
       FROM flow_runs r LEFT JOIN flow_run_states s ON s.flow_run_id = r.id LEFT JOIN deployment_schedules d ON d.id = r.schedule_id
       GROUP BY r.id, d.id`,
      [cutoff],
    );
    const ran = runs.filter((run) => !run.later);
    const wrong = ran.filter((run) => run.state !== 'COMPLETED' || run.running !== 1 || run.completed !== 1);
    expect(
      wrong.slice(0, 20).map((run) => `${run.id} ${run.state}: ${run.states}`),
      `${wrong.length} runs did not run exactly once: ${context}`,
    ).toEqual([]);
    expect(ran.length, context).toBeGreaterThanOrEqual(TOTAL_RUNS);

    // No limit exceeded: a run of `limited` holds a slot from its PENDING to its final state. The
    // states are taken in the order they were written (their identity), not by their timestamps:
    // three servers' clocks, and a claim's time read before the lock it waits for, can put a
    // state's timestamp before one it follows.
    const { rows: limitedStates } = await checks.query<{ run: string; type: string; at: string }>(
      `SELECT s.flow_run_id AS run, s.type, s.timestamp AS at FROM flow_run_states s
       JOIN flow_runs r ON r.id = s.flow_run_id JOIN deployments d ON d.id = r.deployment_id
       WHERE d.name = 'limited' ORDER BY s.id`,
    );
    const mostAtOnce = (states: readonly { run: string; type: string }[]) => {
      const holding = new Set<string>();
      let most = 0;
      for (const { run, type } of states) {
        if (['PENDING', 'RUNNING', 'CANCELLING'].includes(type)) holding.add(run);
        else holding.delete(run);
        most = Math.max(most, holding.size);
      }
      return most;
    };
    const most = mostAtOnce(limitedStates);
    // By the timestamps instead (stable sort: written order on ties), for the output only.
    const mostByClock = mostAtOnce(limitedStates.toSorted((x, y) => x.at.localeCompare(y.at)));
    expect(most, context).toBeLessThanOrEqual(LIMIT);
    expect(most, 'the limited deployment never had two runs at once: the limit was not tested').toBeGreaterThan(1);

    // No scheduled time made twice, across the leaders.
    const { rows: doubled } = await checks.query<{ schedule_id: string; expected_start_time: string; n: number }>(
      `SELECT schedule_id, expected_start_time, count(*)::int AS n FROM flow_runs WHERE auto_scheduled
       GROUP BY schedule_id, expected_start_time HAVING count(*) > 1`,
    );
    expect(doubled, context).toEqual([]);

    // The pass the killed leader lost was made by a successor: the new schedule has runs.
    const { rows: added } = await checks.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM flow_runs r JOIN deployment_schedules s ON s.id = r.schedule_id WHERE s.slug = 'added'`,
    );
    expect(added[0]?.n, context).toBeGreaterThan(0);

    // Runs scheduled after the cutoff: each schedule was turned off before it, which deletes their
    // runs not yet due, so any such run was inserted by a scheduler pass that read its schedule
    // while it was on (and must not be: see below). Said in the output, by schedule, with when the
    // earliest such pass began.
    const later = new Map<string, { n: number; made: string }>();
    for (const run of runs.filter((r) => r.later)) {
      const key = `schedule ${run.slug} (${run.active ? 'on' : 'off'} since ${run.changed})`;
      const seen = later.get(key);
      later.set(key, { n: (seen?.n ?? 0) + 1, made: seen && seen.made < run.made ? seen.made : run.made });
    }
    const scheduled = ran.filter((run) => run.auto).length;
    process.stdout.write(
      `failover: seed ${seed}; ${ran.length} runs (${scheduled} scheduled, ${ran.length - scheduled} triggered, ${resent} creates resent, ` +
        `${runs.length - ran.length} scheduled after the cutoff${[...later].map(([key, { n, made }]) => ` [${n} of ${key}, made by a pass begun ${made}]`).join('')}), each run once; most limited runs at once ${most}/${LIMIT} (${mostByClock} by the states' timestamps); ` +
        `services failover ${failovers.map((ms) => `${ms} ms`).join(', ')}; ` +
        `created in ${Math.round((createdBy - began) / 1000)} s, settled ${Math.round((settledAt - createdBy) / 1000)} s later; ${events.join('; ')}\n`,
    );

    // A pass that read a schedule before it was turned off inserts nothing after: the store checks, under the rows' locks.
    expect(
      [...later].map(([key, { n }]) => `${n} runs of ${key}`),
      context,
    ).toEqual([]);

    // Everything stops on SIGTERM; what has not within 15 s fails the test (and afterAll kills it).
    for (const child of children) child.kill('SIGTERM');
    const stopped = Promise.all([...children].map((child) => once(child, 'exit')));
    const waited = new AbortController();
    const stuck = await Promise.race([stopped.then(() => false), sleep(15_000, true, { signal: waited.signal })]);
    waited.abort();
    expect(stuck, 'a server or runner did not stop within 15 s of SIGTERM').toBe(false);
  });
});
