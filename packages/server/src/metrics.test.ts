import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { sqliteStoreOf, type TestServer, withApiServer } from './testHarness.js';

const T0 = '2026-06-01T00:00:00.000Z';

/**
 * Prometheus' text format (0.0.4), checked line by line (NaN in any case, as Prometheus' own parser
 * reads it: prom-client writes `Nan`): HELP and TYPE comments, then samples
 * `name{label="value",...} value`. Returns the samples by `name{labels}` as prom-client writes them.
 */
function parseExposition(text: string): Map<string, number> {
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const label = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
  const sample = new RegExp(`^(${name}(?:\\{${label}(?:,${label})*\\})?) ([Nn][Aa][Nn]|[+-]Inf|[-+]?\\d+(?:\\.\\d+)?(?:e[-+]?\\d+)?)$`);
  const help = new RegExp(`^# HELP ${name} .+$`);
  const type = new RegExp(`^# TYPE ${name} (counter|gauge|histogram|summary|untyped)$`);
  const samples = new Map<string, number>();
  const lines = text.split('\n');
  expect(lines.at(-1)).toBe(''); // ends with a newline
  for (const line of lines.slice(0, -1)) {
    if (line.startsWith('#')) {
      expect(help.test(line) || type.test(line), `comment line: ${line}`).toBe(true);
      continue;
    }
    if (line === '') continue;
    const match = sample.exec(line);
    expect(match, `sample line: ${line}`).not.toBeNull();
    samples.set((match as RegExpExecArray)[1] as string, Number((match as RegExpExecArray)[2]));
  }
  return samples;
}

async function scrape(server: TestServer, apiKey?: string): Promise<Map<string, number>> {
  const response = await fetch(`${server.url}/metrics`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  if (response.status !== 200) throw new Error(await response.text());
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

describe('GET /metrics', () => {
  it('moves as runs are created, claimed and completed, and as workers and the scheduler work', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async (server) => {
        const { api } = server;
        await api.workPools.create.mutate({ name: 'pool', type: 'process', concurrencyLimit: 5 });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool', concurrencyLimit: 1 });
        const first = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        clock.advance(30_000);
        let m = await scrape(server);
        expect(m.get('drover_flow_runs{state="SCHEDULED"}')).toBe(2);
        expect(m.get('drover_flow_runs{state="RUNNING"}')).toBe(0);
        expect(m.get('drover_deployment_flow_runs{deployment="etl/a",state="SCHEDULED"}')).toBe(2);
        expect(m.get('drover_work_queue_due_runs{pool="pool",queue="default"}')).toBe(2);
        expect(m.get('drover_work_queue_oldest_due_run_age_seconds{pool="pool",queue="default"}')).toBe(30);
        expect(m.get('drover_concurrency_slots_in_use{scope="pool",name="pool"}')).toBe(0);
        expect(m.get('drover_concurrency_slots_limit{scope="pool",name="pool"}')).toBe(5);
        expect(m.get('drover_concurrency_slots_limit{scope="deployment",name="etl/a"}')).toBe(1);
        expect(m.get('drover_workers_online{pool="pool"}')).toBe(0);
        expect(m.get('drover_api_request_duration_seconds_count{procedure="flowRuns.create"}')).toBe(2);
        expect(m.get('drover_sqlite_wal_bytes')).toBeGreaterThan(0);

        await api.workers.heartbeat.mutate({ workPoolName: 'pool', name: 'w1', heartbeatIntervalSeconds: 10 });
        const claimed = await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w1', scheduledBefore: clock.now().toISOString() });
        expect(claimed.map((r) => r.id)).toEqual([first.id]); // the deployment's limit of 1
        await api.flowRuns.setState.mutate({ flowRunId: first.id, state: { type: 'RUNNING' } });
        m = await scrape(server);
        expect(m.get('drover_flow_runs{state="SCHEDULED"}')).toBe(1);
        expect(m.get('drover_flow_runs{state="RUNNING"}')).toBe(1);
        expect(m.get('drover_work_queue_due_runs{pool="pool",queue="default"}')).toBe(1);
        expect(m.get('drover_concurrency_slots_in_use{scope="pool",name="pool"}')).toBe(1);
        expect(m.get('drover_concurrency_slots_in_use{scope="queue",name="pool/default"}')).toBe(1);
        expect(m.get('drover_concurrency_slots_in_use{scope="deployment",name="etl/a"}')).toBe(1);
        expect(m.get('drover_workers_online{pool="pool"}')).toBe(1);

        await api.flowRuns.setState.mutate({ flowRunId: first.id, state: { type: 'COMPLETED' } });
        clock.advance(31_000); // three missed heartbeats of 10 s: w1 is OFFLINE
        m = await scrape(server);
        expect(m.get('drover_flow_runs{state="RUNNING"}')).toBe(0);
        expect(m.get('drover_flow_run_state_changes_total{state="COMPLETED"}')).toBe(1);
        expect(m.get('drover_concurrency_slots_in_use{scope="deployment",name="etl/a"}')).toBe(0);
        expect(m.get('drover_work_queue_oldest_due_run_age_seconds{pool="pool",queue="default"}')).toBe(61);
        expect(m.get('drover_workers_online{pool="pool"}')).toBe(0);

        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'hourly', schedules: [{ schedule: { cron: '0 * * * *' } }] });
        await server.services.scheduler.pass();
        m = await scrape(server);
        expect(m.get('drover_scheduler_runs_created_total')).toBe(3);
        expect(m.get('drover_scheduler_pass_duration_seconds_count{full="true"}')).toBe(1);
        expect(m.get('drover_deployment_flow_runs{deployment="etl/hourly",state="SCHEDULED"}')).toBe(3);
      },
      { clock },
    );
  });

  it('needs the API key when the server has one, as the API does', async () => {
    await withApiServer(
      async (server) => {
        for (const headers of [{}, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
          const response = await fetch(`${server.url}/metrics`, { headers });
          expect(response.status).toBe(401);
          expect(await response.text()).toBe(
            'Missing or wrong API key: send Authorization: Bearer <DROVER_API_KEY> (in Prometheus: authorization: { credentials: ... })\n',
          );
        }
        expect((await scrape(server, 's3cret')).get('drover_flow_runs{state="SCHEDULED"}')).toBe(0);
      },
      { apiKey: 's3cret' },
    );
  });

  it('keeps two servers of one process apart', async () => {
    await withApiServer(async (one) => {
      await withApiServer(async (two) => {
        await one.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a' });
        await one.api.flowRuns.create.mutate({ deployment: 'etl/a' });
        expect((await scrape(one)).get('drover_flow_runs{state="SCHEDULED"}')).toBe(1);
        expect((await scrape(two)).get('drover_flow_runs{state="SCHEDULED"}')).toBe(0);
      });
    });
  });

  it('stays cheap with 100,000 runs: every read of flow_runs goes through an index', async () => {
    await withApiServer(async (server) => {
      await server.api.workPools.create.mutate({ name: 'pool', type: 'process' });
      await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool', concurrencyLimit: 3 });
      await server.api.flowRuns.create.mutate({ deployment: 'etl/a' });
      const sqlite = sqliteStoreOf(server).db.$client;
      // 100,000 copies of that run: 99,000 finished, 1,000 due.
      const columns = (sqlite.prepare('PRAGMA table_info(flow_runs)').all() as { name: string }[]).map((c) => c.name);
      const values = columns.map((c) => {
        if (c === 'id') return "'bulk-' || i";
        if (c === 'state_type') return "CASE WHEN i % 100 = 0 THEN 'SCHEDULED' ELSE 'COMPLETED' END";
        if (c === 'next_scheduled_start_time') return 'CASE WHEN i % 100 = 0 THEN next_scheduled_start_time ELSE NULL END';
        return c;
      });
      sqlite.exec(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
         INSERT INTO flow_runs (${columns.join(', ')}) SELECT ${values.join(', ')} FROM n, (SELECT * FROM flow_runs LIMIT 1)`,
      );
      expect((sqlite.prepare('SELECT count(*) AS n FROM flow_runs').get() as { n: number }).n).toBe(100_001);

      // The plan of every query a scrape makes: flow_runs is only ever searched by an index.
      const { SCRAPE_QUERIES } = await import('./metrics.js');
      for (const [name, text] of Object.entries(SCRAPE_QUERIES)) {
        const plan = (sqlite.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...(text.includes('?') ? ['x', T0] : [])) as { detail: string }[]).map(
          (row) => row.detail,
        );
        const runReads = plan.filter((detail) => / flow_runs\b| r\b/.test(detail) && !/^(USE TEMP|SCALAR)/.test(detail));
        for (const detail of runReads) expect(detail, `${name}: ${plan.join(' | ')}`).toMatch(/^SEARCH .*USING (COVERING )?INDEX|^MULTI-INDEX OR/);
      }

      await scrape(server); // warm: statements compiled
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        const m = await scrape(server);
        times.push(performance.now() - started);
        expect(m.get('drover_flow_runs{state="SCHEDULED"}')).toBe(1001);
        expect(m.get('drover_work_queue_due_runs{pool="pool",queue="default"}')).toBe(1001);
      }
      const median = times.sort((a, b) => a - b)[2] as number;
      console.log(`scrape with 100,001 runs: median ${median.toFixed(1)} ms over HTTP`);
      // Loose, for a loaded 2-core machine; the plans above are the real guarantee.
      expect(median).toBeLessThan(250);
    });
  }, 30_000);
});
