// The standing adversarial test: a real server, two real workers and their jobs, all real
// processes, SIGKILLed and restarted at random moments while runs are created by hand and by a
// schedule, fail and retry, and queue behind a deployment's concurrency limit. Afterwards the
// flows' own records and the server's state histories must show that no run ever executed twice
// at the same time, no limit was exceeded, every acknowledged run exists and reached a final
// state, and none completed twice. DROVER_CHAOS_SEED replays a run's choices.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type DroverClient, getClient } from '@drover/client';
import { type FlowRun, isTerminal } from '@drover/schemas';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, freePort, killHard, random, spawnDrover, untilAnswered } from './testCli.js';

const LIMIT = 2;
const CHAOS_MS = 40_000;
const HEARTBEAT_TIMEOUT_SECONDS = 4;

const requireHere = createRequire(import.meta.url);
const clientEntry = requireHere.resolve('@drover/client');
const zodEntry = join(dirname(requireHere.resolve('zod')), 'index.js');

/**
 * The flows record each attempt's start and end in a shared file, and at its start each checks
 * the record for another live process running the same run, or for the limited deployment
 * running more than its limit: what the server promises never happens, seen from the jobs.
 */
const FLOWS = `import { appendFileSync, readFileSync } from 'node:fs';
import { flow } from '${clientEntry}';
import { z } from '${zodEntry}';
const alive = (pid) => { try { return readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1]?.[0] !== 'Z'; } catch { return false; } };
const record = (log, entry) => appendFileSync(log, JSON.stringify({ ...entry, at: Date.now() }) + '\\n');
const parameters = z.object({ log: z.string(), ms: z.number(), fail: z.boolean().default(false) });
const body = (deployment) => async ({ log, ms, fail }, ctx) => {
  const key = ctx.flowRunId + ':' + process.pid + ':' + ctx.attempt;
  record(log, { ev: 'start', key, run: ctx.flowRunId, pid: process.pid, deployment });
  const lines = readFileSync(log, 'utf8').trim().split('\\n').map((line) => JSON.parse(line));
  const ended = new Set(lines.filter((l) => l.ev === 'end').map((l) => l.key));
  const live = lines.filter((l) => l.ev === 'start' && l.key !== key && !ended.has(l.key) && alive(l.pid));
  const twice = live.filter((l) => l.run === ctx.flowRunId);
  if (twice.length > 0) record(log, { ev: 'overlap', run: ctx.flowRunId, pids: twice.map((l) => l.pid) });
  const running = live.filter((l) => l.deployment === 'limited').length + 1;
  if (deployment === 'limited' && running > ${LIMIT}) record(log, { ev: 'overlimit', run: ctx.flowRunId, running });
  await new Promise((resolve) => setTimeout(resolve, ms));
  record(log, { ev: 'end', key, run: ctx.flowRunId });
  if (fail && ctx.attempt === 1) throw new Error('planned failure');
  return { ok: true };
};
export const limited = flow({ name: 'limited', parameters, retries: 6 }, body('limited'));
export const retrying = flow({ name: 'retrying', parameters, retries: 6 }, body('retrying'));
export const ticking = flow({ name: 'ticking', parameters, retries: 6 }, body('ticking'));
`;

const home = mkdtempSync(join(tmpdir(), 'drover-chaos-'));
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

describe('Drover under SIGKILLs of its server, workers and jobs', () => {
  it('never runs a run twice at once, never exceeds a limit, loses no run and completes none twice', { timeout: 540_000 }, async () => {
    const seed = Number(process.env.DROVER_CHAOS_SEED ?? Date.now() % 1_000_000);
    const rand = random(seed);
    const pick = <T>(items: readonly T[]) => items[Math.floor(rand() * items.length)] as T;
    const log = join(home, 'attempts.jsonl');
    writeFileSync(log, '');
    writeFileSync(join(home, 'flows.mjs'), FLOWS);
    const port = await freePort();
    const apiUrl = `http://127.0.0.1:${port}`;
    const env = {
      DROVER_HOME: join(home, 'drover'),
      DROVER_API_URL: apiUrl,
      DROVER_LOG_LEVEL: 'warn',
      DROVER_RUN_HEARTBEAT_TIMEOUT_SECONDS: String(HEARTBEAT_TIMEOUT_SECONDS),
      DROVER_CANCELLATION_GRACE_SECONDS: '5',
      DROVER_SCHEDULER_MIN_SECONDS: '60',
      DROVER_SCHEDULER_MAX_RUNS: '30',
      // Jobs inherit it from their worker: they beat well within the timeout.
      DROVER_RUN_HEARTBEAT_SECONDS: '0.5',
    };
    const start = (args: string[]) => {
      const child = spawnDrover(args, env, home);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    };
    const client: DroverClient = getClient({ apiUrl });
    const startServer = async () => {
      const server = start(['server', 'start', '--port', String(port)]);
      await untilAnswered(() => client.health());
      return server;
    };
    const startWorker = () => start(['worker', 'start', '--pool', 'chaos', '--limit', '4', '--prefetch-seconds', '1']);

    let server = await startServer();
    await client.workPools.create({ name: 'chaos', type: 'process' });
    const deployment = (name: string, extra: object = {}) =>
      client.deployments.upsert({ flowName: name, name, entrypoint: `flows.mjs:${name}`, workPoolName: 'chaos', jobVariables: { workingDir: home }, ...extra });
    await deployment('limited', { concurrencyLimit: LIMIT });
    await deployment('retrying');
    await deployment('ticking', { parameters: { log, ms: 100 }, schedules: [{ schedule: { interval: 2 } }] });
    const workers = [startWorker(), startWorker()];

    // Runs created by hand during the chaos; an id is known only once the server acknowledged it.
    const acknowledged: string[] = [];
    let creating = true;
    const creator = (async () => {
      for (let i = 0; creating; i++) {
        const limitedRun = rand() < 0.5;
        const input = {
          deployment: limitedRun ? 'limited/limited' : 'retrying/retrying',
          parameters: { log, ms: 100 + Math.floor(rand() * 900), fail: !limitedRun && rand() < 0.5 },
          idempotencyKey: `chaos-${i}`,
        };
        acknowledged.push((await untilAnswered(() => client.flowRuns.create(input))).id);
        await new Promise((resolve) => setTimeout(resolve, 40 + rand() * 120));
      }
    })();

    const events: string[] = [];
    const chaosEnds = Date.now() + CHAOS_MS;
    while (Date.now() < chaosEnds) {
      await new Promise((resolve) => setTimeout(resolve, 800 + rand() * 2000));
      const what = pick(['server', 'worker', 'job', 'job'] as const);
      if (what === 'server') {
        // Down for up to twice the heartbeat timeout: healthy jobs must outlive the outage.
        const downMs = Math.floor(rand() * HEARTBEAT_TIMEOUT_SECONDS * 2000);
        await killHard(server);
        await new Promise((resolve) => setTimeout(resolve, downMs));
        server = await startServer();
        events.push(`server down ${downMs} ms`);
      } else if (what === 'worker') {
        const index = Math.floor(rand() * workers.length);
        await killHard(workers[index] as ChildProcess);
        workers[index] = startWorker();
        events.push(`worker ${index} killed`);
      } else {
        const lines = readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line));
        const ended = new Set(lines.filter((l) => l.ev === 'end').map((l) => l.key));
        const running = lines.filter((l) => l.ev === 'start' && !ended.has(l.key) && alive(l.pid));
        if (running.length === 0) continue;
        const victim = pick(running);
        process.kill(victim.pid, 'SIGKILL');
        events.push(`job ${victim.pid} of run ${victim.run} killed`);
      }
    }
    creating = false;
    await creator;
    await untilAnswered(() => client.deployments.pause('ticking/ticking'));

    // Every run reaches a final state once the chaos is over.
    const everyRun = async () => {
      const all: FlowRun[] = [];
      for (let offset = 0; ; offset += 100) {
        const page = await untilAnswered(() => client.flowRuns.list({ page: { limit: 100, offset } }));
        all.push(...page);
        if (page.length < 100) return all;
      }
    };
    // Room for the backlog the chaos left to drain on a loaded machine (CI runs this beside the
    // PostgreSQL suite and the failover test): what is asserted is where runs end, not how fast.
    const settledBy = Date.now() + 360_000;
    let runs: FlowRun[] = await everyRun();
    while (runs.some((r) => !isTerminal(r.state.type)) && Date.now() < settledBy) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      runs = await everyRun();
    }
    const context = `seed ${seed}; events: ${events.join(', ')}`;
    expect(
      runs.filter((r) => !isTerminal(r.state.type)).map((r) => `${r.id} ${r.state.type} ${r.state.name}`),
      context,
    ).toEqual([]);

    // Nothing lost: every acknowledged create is there.
    const ids = new Set(runs.map((r) => r.id));
    expect(
      acknowledged.filter((id) => !ids.has(id)),
      context,
    ).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(50);
    expect(runs.filter((r) => r.autoScheduled).length).toBeGreaterThan(5);

    // Nothing doubled, seen from the jobs: no run ran in two live processes at once, no limit passed.
    const lines = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(
      lines.filter((l) => l.ev === 'overlap' || l.ev === 'overlimit'),
      context,
    ).toEqual([]);
    expect(events.some((e) => e.startsWith('job'))).toBe(true);

    // ...and from the server's histories: at most one COMPLETED, nothing after a final state, and
    // never more than LIMIT of the limited deployment's runs holding a slot at once.
    const histories = await Promise.all(runs.map(async (r) => ({ run: r, states: await untilAnswered(() => client.flowRuns.history(r.id)) })));
    for (const { run, states } of histories) {
      expect(states.filter((s) => s.type === 'COMPLETED').length, `${run.id}: ${context}`).toBeLessThanOrEqual(1);
      expect(
        states.findIndex((s) => isTerminal(s.type)),
        `${run.id}: ${context}`,
      ).toBe(states.length - 1);
    }
    const changes = histories
      .filter(({ run }) => run.deploymentName === 'limited')
      .flatMap(({ run, states }) => states.map((s) => ({ run: run.id, at: s.timestamp, holds: ['PENDING', 'RUNNING', 'CANCELLING'].includes(s.type) })))
      .sort((a, b) => a.at.localeCompare(b.at) || Number(a.holds) - Number(b.holds));
    const holding = new Set<string>();
    let most = 0;
    for (const change of changes) {
      if (change.holds) holding.add(change.run);
      else holding.delete(change.run);
      most = Math.max(most, holding.size);
    }
    expect(most, context).toBeLessThanOrEqual(LIMIT);

    const completed = runs.filter((r) => r.state.type === 'COMPLETED').length;
    process.stdout.write(`chaos: seed ${seed}, ${runs.length} runs (${completed} COMPLETED), ${events.length} kills: ${events.join(', ')}\n`);
    for (const child of [...workers, server]) child.kill('SIGTERM');
    await Promise.all([...children].map((child) => once(child, 'exit')));
  });
});
