/**
 * Which PostgreSQL driver the PostgreSQL store should use (issue 12): `pg` (node-postgres) or
 * `postgres` (postgres.js), measured on the two paths that carry a run, with the statements a
 * store makes for them, on this machine's PostgreSQL.
 *
 *   pnpm --filter @drover/bench exec tsx pgDriver.ts [--rounds=3] [--creates=4000] [--claims=8000] [--url=postgres://postgres@127.0.0.1:5432/postgres, or DROVER_TEST_PG_URL]
 *
 * - create: `--creates` runs made by 16 concurrent callers, each a transaction of two inserts (the
 *   run and its first state), as `flowRuns.create` writes them: creates/s and each create's p50/p99.
 * - claim: `--claims` due runs claimed by 4 claimers, 100 at a time, each claim a transaction that
 *   moves the runs PENDING under `FOR UPDATE SKIP LOCKED` and inserts their states in one
 *   statement: runs claimed/s, each claim's p50/p99, and the runs claimed twice (must be 0).
 * Drivers: `pg` with unnamed statements (what drizzle-orm/node-postgres sends by default), `pg`
 * with named (prepared) statements, and postgres.js (which prepares every statement by default),
 * also with a create's two inserts pipelined (sent before the first one's answer).
 * Each round makes a fresh database, runs every driver on each path in turn, and drops it; the
 * figures are medians over rounds, with the range.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import postgres from 'postgres';
import { arg, machineLine, summarize, Table } from './lib/harness.js';
import { withDatabase } from './lib/postgres.js';

const ROUNDS = Number(arg('rounds') ?? 3);
const CREATES = Number(arg('creates') ?? 4000);
const CLAIMS = Number(arg('claims') ?? 8000);
const CREATORS = 16;
const CLAIMERS = 4;
const BATCH = 100;
const COMMAND = `pnpm --filter @drover/bench exec tsx pgDriver.ts --rounds=${ROUNDS} --creates=${CREATES} --claims=${CLAIMS}`;

const SCHEMA = [
  `CREATE TABLE flow_runs (
     id uuid PRIMARY KEY, deployment_id uuid NOT NULL, name text NOT NULL, parameters jsonb NOT NULL,
     state_type text NOT NULL, expected_start_time timestamptz NOT NULL, worker_name text, claim_token text,
     created timestamptz NOT NULL DEFAULT now())`,
  'CREATE INDEX flow_runs_due ON flow_runs (state_type, expected_start_time)',
  `CREATE TABLE flow_run_states (
     id bigserial PRIMARY KEY, flow_run_id uuid NOT NULL REFERENCES flow_runs (id), type text NOT NULL,
     timestamp timestamptz NOT NULL DEFAULT now())`,
  'CREATE INDEX flow_run_states_run ON flow_run_states (flow_run_id)',
];
const INSERT_RUN = "INSERT INTO flow_runs (id, deployment_id, name, parameters, state_type, expected_start_time) VALUES ($1, $2, $3, $4, 'SCHEDULED', now())";
const INSERT_STATE = "INSERT INTO flow_run_states (flow_run_id, type) VALUES ($1, 'SCHEDULED')";
const CLAIM = `WITH claimed AS (
    UPDATE flow_runs SET state_type = 'PENDING', worker_name = $1, claim_token = $2
    WHERE id IN (SELECT id FROM flow_runs WHERE state_type = 'SCHEDULED' AND expected_start_time <= now()
                 ORDER BY expected_start_time LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
    RETURNING id)
  INSERT INTO flow_run_states (flow_run_id, type) SELECT id, 'PENDING' FROM claimed RETURNING flow_run_id`;

/** What each driver must do, so both paths run the same statements through each. */
interface Driver {
  readonly name: string;
  /** One create: a transaction of the run's insert and its state's. */
  create(id: string, deploymentId: string): Promise<void>;
  /** One claim of up to BATCH due runs; the ids claimed. */
  claim(worker: string): Promise<string[]>;
  end(): Promise<void>;
}

function pgDriver(url: string, named: boolean): Driver {
  const pool = new pg.Pool({ connectionString: url, max: CREATORS });
  pool.on('error', () => {}); // an idle connection ended by the round's DROP DATABASE
  const statement = (name: string, text: string, values: unknown[]) => (named ? { name, text, values } : { text, values });
  return {
    name: named ? 'pg, named statements' : 'pg',
    async create(id, deploymentId) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(statement('insert_run', INSERT_RUN, [id, deploymentId, `run-${id.slice(0, 8)}`, '{"n":1}']));
        await client.query(statement('insert_state', INSERT_STATE, [id]));
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },
    async claim(worker) {
      const { rows } = await pool.query<{ flow_run_id: string }>(statement('claim', CLAIM, [worker, randomUUID()]));
      return rows.map((row) => row.flow_run_id);
    },
    end: () => pool.end(),
  };
}

/** postgres.js; `pipelined`: the transaction's two inserts are sent without waiting for the first's answer, which postgres.js can do and pg cannot. */
function postgresJsDriver(url: string, pipelined: boolean): Driver {
  const sql = postgres(url, { max: CREATORS, onnotice: () => {} });
  return {
    name: pipelined ? 'postgres.js, pipelined' : 'postgres.js',
    async create(id, deploymentId) {
      await sql.begin(async (tx) => {
        const run = tx.unsafe(INSERT_RUN, [id, deploymentId, `run-${id.slice(0, 8)}`, '{"n":1}'], { prepare: true });
        if (!pipelined) await run;
        await Promise.all([run, tx.unsafe(INSERT_STATE, [id], { prepare: true })]);
      });
    },
    async claim(worker) {
      const rows = await sql.unsafe<{ flow_run_id: string }[]>(CLAIM, [worker, randomUUID()], { prepare: true });
      return rows.map((row) => row.flow_run_id);
    },
    end: () => sql.end(),
  };
}

async function truncate(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('TRUNCATE flow_run_states, flow_runs');
  await client.query('VACUUM ANALYZE');
  await client.end();
}

async function createPath(driver: Driver, table: Table): Promise<void> {
  const deploymentId = randomUUID();
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CREATORS }, async () => {
      while (next < CREATES) {
        next++;
        const started = performance.now();
        await driver.create(randomUUID(), deploymentId);
        latencies.push(performance.now() - started);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const s = summarize(latencies);
  table.add(`${driver.name}: create, runs/s (${CREATORS} callers)`, CREATES / seconds, (v) => v.toFixed(0));
  table.add(`${driver.name}: create p50 (ms)`, s.p50);
  table.add(`${driver.name}: create p99 (ms)`, s.p99);
}

async function claimPath(url: string, driver: Driver, table: Table): Promise<void> {
  // The due runs, made in one statement so only the claims are timed.
  const seed = new pg.Client({ connectionString: url });
  await seed.connect();
  await seed.query(
    `INSERT INTO flow_runs (id, deployment_id, name, parameters, state_type, expected_start_time)
     SELECT gen_random_uuid(), gen_random_uuid(), 'due-' || i, '{}', 'SCHEDULED', now() - (i || ' milliseconds')::interval
     FROM generate_series(1, $1) AS i`,
    [CLAIMS],
  );
  await seed.query('ANALYZE flow_runs');
  await seed.end();
  const claimed: string[] = [];
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLAIMERS }, async (_, worker) => {
      for (;;) {
        const started = performance.now();
        const ids = await driver.claim(`worker-${worker}`);
        latencies.push(performance.now() - started);
        if (ids.length === 0) return;
        claimed.push(...ids);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const s = summarize(latencies);
  table.add(`${driver.name}: claim, runs/s (${CLAIMERS} claimers × ${BATCH})`, claimed.length / seconds, (v) => v.toFixed(0));
  table.add(`${driver.name}: claim p50 (ms)`, s.p50);
  table.add(`${driver.name}: claim p99 (ms)`, s.p99);
  table.add(`${driver.name}: runs claimed twice`, claimed.length - new Set(claimed).size, (v) => v.toFixed(0));
  if (new Set(claimed).size !== CLAIMS) throw new Error(`${driver.name} claimed ${new Set(claimed).size} of ${CLAIMS} due runs`);
}

const table = new Table();
console.log(`# PostgreSQL drivers (pgDriver.ts): ${machineLine()}`);
console.log(`  reproduce: ${COMMAND}`);
for (let round = 1; round <= ROUNDS; round++) {
  await withDatabase('drover_bench_driver', SCHEMA, async (url) => {
    // The order of the drivers turns each round, so none is always first on a cold database.
    const makers = [() => pgDriver(url, false), () => pgDriver(url, true), () => postgresJsDriver(url, false), () => postgresJsDriver(url, true)];
    const order = [...makers.slice(round % makers.length), ...makers.slice(0, round % makers.length)];
    for (const make of order) {
      const driver = make();
      try {
        await truncate(url);
        await createPath(driver, table);
        await truncate(url);
        await claimPath(url, driver, table);
      } finally {
        await driver.end();
      }
    }
  });
  console.log(`  round ${round} done (${machineLine().split(', ').at(-1)})`);
}
console.log(`\n  Medians of ${ROUNDS} round(s):`);
table.print();
