/**
 * How the PostgreSQL store should keep a pool's concurrency limit when claimers on several
 * replicas claim at once (issue 12): the two designs the issue names, measured with the
 * statements each needs, on this machine's PostgreSQL, through `pg` with named statements (the
 * driver bench/pgDriver.ts chose).
 *
 *   pnpm --filter @drover/bench exec tsx pgClaimLimits.ts [--rounds=3] [--runs=8000] [--limit=100] [--url=… or DROVER_TEST_PG_URL]
 *
 * - lock and count: a claim locks the pool's row (`FOR UPDATE`), counts the pool's PENDING and
 *   RUNNING runs, and claims at most what the limit leaves, with `FOR UPDATE SKIP LOCKED`, in one
 *   transaction. Claimers of one pool take turns; the count is exact.
 * - slot leases: the pool has `limit` slot rows; a claim takes free slots with `FOR UPDATE SKIP
 *   LOCKED`, as many due runs, and writes each run's id on its slot; a final state frees the slot.
 *   Claimers of one pool need not wait for each other; a slot whose holder crashed must be freed
 *   by the run-health service.
 * 4 claimers share one pool of limit `--limit` over `--runs` due runs; each claims up to 50 at a
 * time and finishes what it claimed at once (COMPLETED, slot freed), so the limit binds. Figures:
 * runs claimed per second, the p50/p99 of each claim that got runs, and, checked after each claim
 * in its own transaction, the most runs PENDING or RUNNING at once (must not pass the limit) and the runs
 * claimed twice (must be 0).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { arg, machineLine, summarize, Table } from './lib/harness.js';
import { withDatabase } from './lib/postgres.js';

const ROUNDS = Number(arg('rounds') ?? 3);
const RUNS = Number(arg('runs') ?? 8000);
const LIMIT = Number(arg('limit') ?? 100);
const CLAIMERS = 4;
const BATCH = 50;
const COMMAND = `pnpm --filter @drover/bench exec tsx pgClaimLimits.ts --rounds=${ROUNDS} --runs=${RUNS} --limit=${LIMIT}`;

const SCHEMA = [
  'CREATE TABLE work_pools (id uuid PRIMARY KEY, concurrency_limit integer NOT NULL)',
  `CREATE TABLE flow_runs (id uuid PRIMARY KEY, pool_id uuid NOT NULL REFERENCES work_pools (id), state_type text NOT NULL,
     expected_start_time timestamptz NOT NULL, worker_name text)`,
  'CREATE INDEX flow_runs_claim ON flow_runs (pool_id, state_type, expected_start_time)',
  'CREATE TABLE pool_slots (pool_id uuid NOT NULL REFERENCES work_pools (id), slot integer NOT NULL, flow_run_id uuid, PRIMARY KEY (pool_id, slot))',
  'CREATE INDEX pool_slots_run ON pool_slots (flow_run_id)',
];

/** One design: claims up to `count` due runs of `pool` for `worker`, inside the caller's transaction; the ids claimed. */
type Claim = (client: pg.PoolClient, pool: string, worker: string, count: number) => Promise<string[]>;
/** Ends `ids` (COMPLETED), freeing what their claim held. */
type Finish = (client: pg.PoolClient, ids: string[]) => Promise<void>;

const DUE = `SELECT id FROM flow_runs WHERE pool_id = $1 AND state_type = 'SCHEDULED' AND expected_start_time <= now()
  ORDER BY expected_start_time LIMIT $2 FOR UPDATE SKIP LOCKED`;

const lockAndCount: { claim: Claim; finish: Finish } = {
  async claim(client, pool, worker, count) {
    const { rows: limit } = await client.query({ name: 'lc_lock', text: 'SELECT concurrency_limit FROM work_pools WHERE id = $1 FOR UPDATE', values: [pool] });
    const { rows: active } = await client.query({
      name: 'lc_count',
      text: "SELECT count(*)::int AS n FROM flow_runs WHERE pool_id = $1 AND state_type IN ('PENDING', 'RUNNING')",
      values: [pool],
    });
    const room = Math.min(count, (limit[0]?.concurrency_limit as number) - (active[0]?.n as number));
    if (room <= 0) return [];
    const { rows } = await client.query({
      name: 'lc_claim',
      text: `UPDATE flow_runs SET state_type = 'PENDING', worker_name = $3 WHERE id IN (${DUE}) RETURNING id`,
      values: [pool, room, worker],
    });
    return rows.map((row) => row.id as string);
  },
  async finish(client, ids) {
    await client.query({ name: 'lc_finish', text: "UPDATE flow_runs SET state_type = 'COMPLETED' WHERE id = ANY($1)", values: [ids] });
  },
};

const slotLeases: { claim: Claim; finish: Finish } = {
  async claim(client, pool, worker, count) {
    const { rows: slots } = await client.query({
      name: 'sl_slots',
      text: 'SELECT slot FROM pool_slots WHERE pool_id = $1 AND flow_run_id IS NULL LIMIT $2 FOR UPDATE SKIP LOCKED',
      values: [pool, count],
    });
    if (slots.length === 0) return [];
    const { rows } = await client.query({
      name: 'sl_claim',
      text: `UPDATE flow_runs SET state_type = 'PENDING', worker_name = $3 WHERE id IN (${DUE}) RETURNING id`,
      values: [pool, slots.length, worker],
    });
    const ids = rows.map((row) => row.id as string);
    if (ids.length > 0) {
      await client.query({
        name: 'sl_take',
        text: `UPDATE pool_slots SET flow_run_id = taken.run FROM unnest($2::int[], $3::uuid[]) AS taken (slot, run)
               WHERE pool_slots.pool_id = $1 AND pool_slots.slot = taken.slot`,
        values: [pool, slots.slice(0, ids.length).map((s) => s.slot), ids],
      });
    }
    return ids;
  },
  async finish(client, ids) {
    await client.query({ name: 'sl_finish', text: "UPDATE flow_runs SET state_type = 'COMPLETED' WHERE id = ANY($1)", values: [ids] });
    await client.query({ name: 'sl_free', text: 'UPDATE pool_slots SET flow_run_id = NULL WHERE flow_run_id = ANY($1)', values: [ids] });
  },
};

async function transaction<T>(client: pg.PoolClient, body: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await body();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

async function measure(url: string, name: string, design: { claim: Claim; finish: Finish }, table: Table): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: CLAIMERS + 1 });
  pool.on('error', () => {}); // an idle connection ended by the round's DROP DATABASE
  const poolId = randomUUID();
  await pool.query('TRUNCATE pool_slots, flow_runs, work_pools');
  await pool.query('INSERT INTO work_pools (id, concurrency_limit) VALUES ($1, $2)', [poolId, LIMIT]);
  await pool.query('INSERT INTO pool_slots (pool_id, slot) SELECT $1, s FROM generate_series(1, $2) AS s', [poolId, LIMIT]);
  await pool.query(
    `INSERT INTO flow_runs (id, pool_id, state_type, expected_start_time)
     SELECT gen_random_uuid(), $1, 'SCHEDULED', now() - (i || ' milliseconds')::interval FROM generate_series(1, $2) AS i`,
    [poolId, RUNS],
  );
  await pool.query('VACUUM ANALYZE');
  const claimed: string[] = [];
  const latencies: number[] = [];
  let mostActive = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLAIMERS }, async (_, index) => {
      const client = await pool.connect();
      try {
        while (claimed.length < RUNS) {
          const started = performance.now();
          const ids = await transaction(client, () => design.claim(client, poolId, `worker-${index}`, BATCH));
          if (ids.length > 0) latencies.push(performance.now() - started);
          // What is PENDING or RUNNING now, committed: never more than the limit.
          const { rows } = await client.query({
            name: 'active',
            text: "SELECT count(*)::int AS n FROM flow_runs WHERE pool_id = $1 AND state_type IN ('PENDING', 'RUNNING')",
            values: [poolId],
          });
          mostActive = Math.max(mostActive, rows[0]?.n as number);
          if (ids.length === 0) {
            const { rows: left } = await client.query({
              name: 'left',
              text: "SELECT count(*)::int AS n FROM flow_runs WHERE pool_id = $1 AND state_type IN ('SCHEDULED', 'PENDING')",
              values: [poolId],
            });
            if (left[0]?.n === 0) return;
            continue;
          }
          claimed.push(...ids);
          await transaction(client, () => design.finish(client, ids));
        }
      } finally {
        client.release();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await pool.end();
  const s = summarize(latencies);
  table.add(`${name}: runs claimed/s (${CLAIMERS} claimers, limit ${LIMIT})`, claimed.length / seconds, (v) => v.toFixed(0));
  table.add(`${name}: claim p50 (ms)`, s.p50);
  table.add(`${name}: claim p99 (ms)`, s.p99);
  table.add(`${name}: most runs active at once (limit ${LIMIT})`, mostActive, (v) => v.toFixed(0));
  table.add(`${name}: runs claimed twice`, claimed.length - new Set(claimed).size, (v) => v.toFixed(0));
  if (new Set(claimed).size !== RUNS) throw new Error(`${name} claimed ${new Set(claimed).size} of ${RUNS} runs`);
}

const table = new Table();
console.log(`# Pool limits across claimers on PostgreSQL (pgClaimLimits.ts): ${machineLine()}`);
console.log(`  reproduce: ${COMMAND}`);
for (let round = 1; round <= ROUNDS; round++) {
  await withDatabase('drover_bench_limits', SCHEMA, async (url) => {
    const designs = [['lock and count', lockAndCount] as const, ['slot leases', slotLeases] as const];
    for (const [name, design] of round % 2 ? designs : [...designs].reverse()) await measure(url, name, design, table);
  });
  console.log(`  round ${round} done (${machineLine().split(', ').at(-1)})`);
}
console.log(`\n  Medians of ${ROUNDS} round(s):`);
table.print();
