/**
 * The web UI at 100,000 runs: how fast the API answers the calls the runs page and the dashboard
 * make, how soon the runs page shows its first rows in headless Chromium, and the weight of the
 * built JavaScript.
 *
 *   pnpm build && pnpm --filter @drover/bench exec tsx ui.ts [--runs=100000] [--calls=200] [--loads=5]
 *
 * Set-up (not timed): a server on 127.0.0.1 (services off) over a fresh SQLite file, serving the
 * built UI; 20 deployments of 5 flows, and `--runs` runs created through the store, expected over
 * the last 30 days. Their states are then set by one SQL statement (90% COMPLETED, 5% FAILED,
 * the rest left SCHEDULED), which no API offers: the set-up needs realistic states in seconds, not
 * 100,000 runs' worth of claims. Timed: each call `--calls` times over HTTP, one at a time, as the
 * page sends it (GET, tRPC's query form), after 5 warm-up calls; the runs page loaded `--loads` times, each in a new
 * browser context (cold cache): the time from the navigation's start to the frame that paints the
 * first table row (measured in the page), and playwright's own `goto` until the row is visible; the gzipped
 * size of every .js file of packages/ui/dist/app. Aims (issue 13): p99 ≤ 50 ms, < 1 s, ≤ 300 KB.
 */
/// <reference lib="dom" />
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type SqliteStore, startServer } from '@drover/server';
import { uiRoot } from '@drover/ui';
import { pino } from 'pino';
// The UI tests' launcher: Debian's Chromium with this machine's flags.
import { launchChromium } from '../packages/cli/src/testBrowser.js';
import { arg, machineLine, summarize } from './lib/harness.js';

const RUNS = Number(arg('runs') ?? 100_000);
const CALLS = Number(arg('calls') ?? 200);
const LOADS = Number(arg('loads') ?? 5);
const DAY_MS = 24 * 3_600_000;

const home = mkdtempSync(join(tmpdir(), 'drover-bench-ui-'));
const server = await startServer({ databaseFile: join(home, 'drover.db'), port: 0, logger: pino({ level: 'silent' }), services: { enabled: [] }, uiRoot });
try {
  console.log(`machine: ${machineLine()}`);
  const setupStart = performance.now();
  await server.store.workPools.create({ name: 'local', type: 'process' });
  const deploymentIds: string[] = [];
  for (let i = 0; i < 20; i++) {
    const { deployment } = await server.store.deployments.upsert({
      flowName: `flow-${i % 5}`,
      name: `deployment-${i}`,
      workPoolName: 'local',
      tags: [`team-${i % 3}`],
    });
    deploymentIds.push(deployment.id);
  }
  const now = Date.now();
  const batch: Promise<unknown>[] = [];
  for (let i = 0; i < RUNS; i++) {
    const scheduledTime = new Date(now - Math.floor((i / RUNS) * 30 * DAY_MS)).toISOString();
    batch.push(server.store.flowRuns.create({ deployment: deploymentIds[i % 20] as string, scheduledTime }));
    if (batch.length === 1000) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  // The bench runs on SQLite: its file is set up directly.
  const sqlite = (server.store as SqliteStore).db.$client;
  sqlite
    .prepare(
      `UPDATE flow_runs SET
         state_type = CASE WHEN abs(random()) % 20 = 0 THEN 'FAILED' ELSE 'COMPLETED' END,
         state_name = 'Done', next_scheduled_start_time = NULL, start_time = expected_start_time, end_time = expected_start_time, run_count = 1
       WHERE abs(random()) % 20 != 0 AND expected_start_time < ?`,
    )
    .run(new Date(now - 60_000).toISOString());
  sqlite.prepare("UPDATE flow_runs SET state_name = CASE state_type WHEN 'FAILED' THEN 'Failed' WHEN 'COMPLETED' THEN 'Completed' ELSE state_name END").run();
  const counts = sqlite.prepare('SELECT state_type AS state, count(*) AS n FROM flow_runs GROUP BY state_type').all() as {
    state: string;
    n: number;
  }[];
  console.log(
    `set-up: ${RUNS} runs (${counts.map((c) => `${c.n} ${c.state}`).join(', ')}) in ${((performance.now() - setupStart) / 1000).toFixed(1)} s, not timed below`,
  );

  const minute = Math.floor(now / 60_000) * 60_000;
  const week = new Date(minute - 7 * DAY_MS).toISOString();
  const day = new Date(minute - DAY_MS).toISOString();
  const until = new Date(minute + 60_000).toISOString();
  const page = { limit: 51, offset: 0 };
  const calls: [string, string, unknown][] = [
    ['runs page: flowRuns.list, 7 days', 'flowRuns.list', { expectedStartAfter: week, sort: 'EXPECTED_START_DESC', page }],
    ['runs page: flowRuns.count, 7 days', 'flowRuns.count', { expectedStartAfter: week }],
    ['runs page: page 20 (offset 950)', 'flowRuns.list', { expectedStartAfter: week, sort: 'EXPECTED_START_DESC', page: { limit: 51, offset: 950 } }],
    ['runs page: state FAILED', 'flowRuns.list', { states: ['FAILED'], expectedStartAfter: week, sort: 'EXPECTED_START_DESC', page }],
    ['runs page: one deployment', 'flowRuns.list', { deploymentId: deploymentIds[3], expectedStartAfter: week, sort: 'EXPECTED_START_DESC', page }],
    ['runs page: one flow', 'flowRuns.list', { flowName: 'flow-2', expectedStartAfter: week, sort: 'EXPECTED_START_DESC', page }],
    ['runs page: a tag', 'flowRuns.list', { tags: ['team-1'], expectedStartAfter: week, sort: 'EXPECTED_START_DESC', page }],
    ['runs page: any time', 'flowRuns.list', { sort: 'EXPECTED_START_DESC', page }],
    ['runs page: deployments.list', 'deployments.list', { page: { limit: 1000, offset: 0 } }],
    ['runs page: flows.list', 'flows.list', { limit: 1000, offset: 0 }],
    ['dashboard: activity, 24 h', 'flowRuns.activity', { since: day, until }],
    ['dashboard: recent runs', 'flowRuns.list', { sort: 'EXPECTED_START_DESC', expectedStartBefore: until, page: { limit: 10, offset: 0 } }],
    [
      'dashboard: failed, 24 h',
      'flowRuns.list',
      { states: ['FAILED', 'CRASHED'], expectedStartAfter: day, sort: 'EXPECTED_START_DESC', page: { limit: 10, offset: 0 } },
    ],
  ];
  console.log(`\nAPI calls, ${CALLS} each, one at a time over HTTP (ms)`);
  console.log(`  ${'call'.padEnd(36)}  ${'p50'.padStart(6)}  ${'p99'.padStart(6)}  ${'max'.padStart(6)}  rows`);
  let worstP99 = 0;
  for (const [label, path, input] of calls) {
    const url = `${server.url}/${path}?input=${encodeURIComponent(JSON.stringify(input))}`;
    const times: number[] = [];
    let rows = 0;
    // The first calls of each kind compile its statement and read its pages from disk: left out.
    for (let i = 0; i < 5; i++) await fetch(url).then((response) => response.arrayBuffer());
    for (let i = 0; i < CALLS; i++) {
      const t = performance.now();
      const response = await fetch(url);
      const body = (await response.json()) as { result?: { data: unknown[] | { count: number } }; error?: unknown };
      times.push(performance.now() - t);
      if (!body.result) throw new Error(`${path} failed: ${JSON.stringify(body.error)}`);
      const data = body.result.data;
      rows = Array.isArray(data) ? data.length : data.count;
    }
    const { p50, p99, max } = summarize(times);
    worstP99 = Math.max(worstP99, p99);
    console.log(`  ${label.padEnd(36)}  ${p50.toFixed(1).padStart(6)}  ${p99.toFixed(1).padStart(6)}  ${max.toFixed(1).padStart(6)}  ${rows}`);
  }

  const browser = await launchChromium();
  const loads: number[] = [];
  const walls: number[] = [];
  try {
    for (let i = 0; i < LOADS + 1; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const tab = await context.newPage();
      // In the page: the frame after the first row enters the DOM, from the navigation's start (the page's time 0).
      await tab.addInitScript(() => {
        new MutationObserver((_, observer) => {
          if (!document.querySelector('table tbody tr')) return;
          observer.disconnect();
          requestAnimationFrame(() => {
            (window as unknown as { firstRowPainted: number }).firstRowPainted = performance.now();
          });
        }).observe(document, { childList: true, subtree: true });
      });
      const t = performance.now();
      await tab.goto(`${server.url}/runs?window=7d`);
      await tab.locator('table tbody tr').first().waitFor({ state: 'visible' });
      const wall = performance.now() - t;
      const painted = await tab.evaluate(() => (window as unknown as { firstRowPainted: number }).firstRowPainted);
      // The first load warms the browser process itself, not the page: left out.
      if (i > 0) {
        loads.push(painted);
        walls.push(wall);
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }
  const load = summarize(loads);

  const assets = join(uiRoot, 'assets');
  const scripts = readdirSync(assets).filter((name) => name.endsWith('.js'));
  const gzipped = scripts.map((name) => ({ name, bytes: gzipSync(readFileSync(join(assets, name))).length }));
  const totalKb = gzipped.reduce((sum, file) => sum + file.bytes, 0) / 1024;

  const wall = summarize(walls);
  console.log(
    `\nruns page in headless Chromium, ${LOADS} cold loads: first row painted ${load.p50.toFixed(0)} ms after the navigation started (p50; max ${load.max.toFixed(0)} ms);` +
      ` as playwright sees it (goto until its visibility check passes, polling included): p50 ${wall.p50.toFixed(0)} ms, max ${wall.max.toFixed(0)} ms`,
  );
  console.log(`built JavaScript, gzipped: ${totalKb.toFixed(1)} KB (${gzipped.map((f) => `${f.name} ${(f.bytes / 1024).toFixed(1)} KB`).join(', ')})`);
  const ok = worstP99 <= 50 && load.max < 1000 && totalKb <= 300;
  console.log(
    `check: ${ok ? 'OK' : 'FAILED'}: worst p99 ${worstP99.toFixed(1)} ms (aim ≤ 50), slowest load ${load.max.toFixed(0)} ms (aim < 1000), ${totalKb.toFixed(1)} KB (aim ≤ 300)`,
  );
  console.log(`command: pnpm build && pnpm --filter @drover/bench exec tsx ui.ts --runs=${RUNS} --calls=${CALLS} --loads=${LOADS}`);
} finally {
  await server.close();
  rmSync(home, { recursive: true, force: true });
}
