import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDroverError, NotFoundError } from '@drover/schemas';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { DroverClient } from './api.js';
import { RunnerDeployment } from './deployments.js';
import { RunWaitTimeoutError } from './errors.js';
import { flow } from './flow.js';
import { type RunDeploymentOptions, runDeployment } from './runDeployment.js';
import { Runner } from './runner.js';
import { closedPort, withSdkServer } from './testServer.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const quiet = { printStartingMessage: false, handleSignals: false, print: () => {}, pollWaitSeconds: 1 };

/** Serves `deployments` while `body` runs, then stops the runner and waits for it. */
async function serving<T>(client: DroverClient, deployments: RunnerDeployment[], options: object, body: (runner: Runner) => Promise<T>): Promise<T> {
  const runner = new Runner(deployments, { client, ...quiet, ...options });
  const done = runner.start();
  await runner.ready;
  try {
    return await body(runner);
  } finally {
    runner.stop();
    await done;
  }
}

const double = flow({ name: 'double', parameters: z.object({ x: z.number(), label: z.string().default('n') }) }, async ({ x, label }, ctx) => {
  console.log(`doubling ${label}=${x}`);
  ctx.logger.info('done soon');
  return { value: x * 2, label };
});

describe('flow()', () => {
  it('infers its parameter type from the schema and runs locally with parsing and retries', async () => {
    expectTypeOf(double).parameter(0).toEqualTypeOf<{ x: number; label?: string }>();
    expectTypeOf(double).returns.resolves.toEqualTypeOf<{ value: number; label: string }>();
    // A run of a RunnerDeployment of this flow is checked against its parameters (any of them may
    // be left to the deployment's defaults). Never called: tsc checks it.
    const typed = RunnerDeployment.fromFlow(double, { entrypoint: 'a.ts:double' });
    expectTypeOf<Parameters<typeof runDeployment<typeof double>>[1]>().toEqualTypeOf<RunDeploymentOptions<{ x?: number; label?: string }> | undefined>();
    const _checks = () => {
      void runDeployment(typed, { parameters: { x: 2 } });
      // @ts-expect-error x is a number
      void runDeployment(typed, { parameters: { x: 'two' } });
      // @ts-expect-error the flow has no parameter y
      void runDeployment(typed, { parameters: { y: 1 } });
      void runDeployment('double/anything', { parameters: { y: 1 } });
    };
    expect(await double({ x: 21 })).toEqual({ value: 42, label: 'n' });
    await expect(double({ x: 'a' } as never)).rejects.toThrow(/expected number/);
    let calls = 0;
    const flaky = flow({ name: 'flaky', retries: 2 }, async () => {
      calls++;
      if (calls < 3) throw new Error(`try ${calls}`);
      return calls;
    });
    expect(await flaky({})).toBe(3);
    const slow = flow({ name: 'slow', timeoutSeconds: 0.05 }, (_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));
    await expect(slow({})).rejects.toThrow('Flow run timed out after 0.05 s');
    expect(double.name).toBe('double');
    expect(double.parameterSchema()).toMatchObject({
      type: 'object',
      properties: { x: { type: 'number' }, label: { type: 'string', default: 'n' } },
      required: ['x'],
    });
  });
});

describe('where a flow is defined', () => {
  it('is the file that called flow(), also with source maps on (as under tsx)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-defined-'));
    try {
      const file = join(dir, 'flows.mjs');
      writeFileSync(file, `import { flow } from ${JSON.stringify(`${packageDir}dist/index.js`)};\nconsole.log(flow({ name: 'here' }, () => 1).definedIn);\n`);
      for (const flags of [[], ['--enable-source-maps']]) {
        expect(execFileSync(process.execPath, [...flags, file], { encoding: 'utf8' }).trim()).toBe(file);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('serve() and runDeployment()', () => {
  it('runs a served deployment to COMPLETED with merged parameters, its result and its logs', async () => {
    await withSdkServer(async (_server, client) => {
      const deployment = RunnerDeployment.fromFlow(double, { name: 'served', parameters: { label: 'dflt' }, entrypoint: 'src/client.test.ts:double' });
      await serving(client, [deployment], {}, async () => {
        const run = await runDeployment('double/served', { parameters: { x: 5 }, client, timeout: 30 });
        expect(run).toMatchObject({ state: { type: 'COMPLETED' }, result: { value: 10, label: 'dflt' }, parameters: { x: 5, label: 'dflt' }, runCount: 1 });
        const logs = await client.flowRuns.logs({ flowRunId: run.id });
        expect(logs.map((l) => [l.level, l.message])).toEqual([
          ['info', 'doubling dflt=5'],
          ['info', 'done soon'],
        ]);
        expect((await client.flowRuns.history(run.id)).map((s) => s.type)).toEqual(['SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED']);
      });
    });
  });

  it('validates parameters on the server, keeps idempotency, and times out with the run id', async () => {
    await withSdkServer(async (_server, client) => {
      const sleepy = flow({ name: 'sleepy', parameters: z.object({ ms: z.number() }) }, (p) => new Promise((resolve) => setTimeout(resolve, p.ms)));
      await serving(client, [RunnerDeployment.fromFlow(sleepy, { entrypoint: 'src/x.ts:sleepy' })], {}, async () => {
        await expect(runDeployment('sleepy/sleepy', { parameters: { ms: 'x' }, client })).rejects.toMatchObject({
          code: 'PARAMETERS_INVALID',
          message: 'Parameters for deployment "sleepy/sleepy" do not match its schema: ms must be number',
        });
        const first = await runDeployment('sleepy/sleepy', { parameters: { ms: 1 }, idempotencyKey: 'once', client, timeout: 0 });
        const again = await runDeployment('sleepy/sleepy', { parameters: { ms: 1 }, idempotencyKey: 'once', client, timeout: 0 });
        expect(again.id).toBe(first.id);
        const error = await runDeployment('sleepy/sleepy', { parameters: { ms: 3000 }, client, timeout: 0.3 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RunWaitTimeoutError);
        expect((error as RunWaitTimeoutError).lastState.type).toMatch(/^(PENDING|RUNNING)$/);
        expect((error as RunWaitTimeoutError).message).toMatch(/^Flow run [0-9a-f-]{36} did not finish within 0.3 s \(last state: (PENDING|RUNNING) \w+\)$/);
      });
      const missing = await runDeployment('nope/nope', { client }).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(NotFoundError);
      expect((missing as NotFoundError).code).toBe('DEPLOYMENT_NOT_FOUND');
      expect(isDroverError(missing, 'DEPLOYMENT_NOT_FOUND')).toBe(true);
      expect((missing as Error).message).toBe('Deployment "nope/nope" not found');
    });
  });

  it('retries a failing flow (AwaitingRetry, then Retrying) and fails a timed-out one as TimedOut', async () => {
    await withSdkServer(async (_server, client) => {
      let attempts = 0;
      const flaky = flow({ name: 'flaky', retries: 1, retryDelaySeconds: 0 }, async (_p, ctx) => {
        attempts++;
        if (ctx.attempt === 1) throw new Error('first try fails');
        return ctx.attempt;
      });
      const slow = flow({ name: 'slow', timeoutSeconds: 0.2 }, () => new Promise((resolve) => setTimeout(resolve, 5000)));
      const deployments = [RunnerDeployment.fromFlow(flaky, { entrypoint: 'a.ts:flaky' }), RunnerDeployment.fromFlow(slow, { entrypoint: 'a.ts:slow' })];
      await serving(client, deployments, {}, async () => {
        const run = await runDeployment('flaky/flaky', { client, timeout: 30 });
        expect(run).toMatchObject({ state: { type: 'COMPLETED' }, result: 2, runCount: 2 });
        expect(attempts).toBe(2);
        const names = (await client.flowRuns.history(run.id)).map((s) => s.name);
        expect(names).toEqual(['Scheduled', 'Pending', 'Running', 'AwaitingRetry', 'Retrying', 'Completed']);
        const timedOut = await runDeployment('slow/slow', { client, timeout: 30 });
        expect(timedOut.state).toMatchObject({ type: 'FAILED', name: 'TimedOut', message: 'Flow run timed out after 0.2 s' });
      });
    });
  });

  it('never runs more than `limit` flows at once', async () => {
    await withSdkServer(async (_server, client) => {
      let now = 0;
      let peak = 0;
      const busy = flow({ name: 'busy' }, async () => {
        peak = Math.max(peak, ++now);
        await new Promise((resolve) => setTimeout(resolve, 50));
        now--;
      });
      await serving(client, [RunnerDeployment.fromFlow(busy, { entrypoint: 'a.ts:busy' })], { limit: 2 }, async () => {
        const runs = await Promise.all(Array.from({ length: 8 }, () => runDeployment('busy/busy', { client, timeout: 30 })));
        expect(runs.every((r) => r.state.type === 'COMPLETED')).toBe(true);
      });
      expect(peak).toBe(2);
    });
  });

  it('runs more than 10 flows at once without a MaxListenersExceededWarning', async () => {
    await withSdkServer(async (_server, client) => {
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const held = flow({ name: 'held' }, () => gate);
      process.on('warning', onWarning);
      try {
        await serving(client, [RunnerDeployment.fromFlow(held, { entrypoint: 'a.ts:held' })], {}, async (runner) => {
          const runs = await Promise.all(Array.from({ length: 12 }, () => runDeployment('held/held', { client, timeout: 0 })));
          for (let i = 0; i < 1000 && runner.running < 12; i++) await new Promise((r) => setTimeout(r, 10));
          expect(runner.running).toBe(12);
          release();
          const finals = await Promise.all(runs.map((run) => client.flowRuns.wait(run.id, 20_000)));
          expect(finals.map((r) => r.state.type)).toEqual(runs.map(() => 'COMPLETED'));
        });
        await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
      } finally {
        process.off('warning', onWarning);
      }
      expect(warnings).toEqual([]);
    });
  });

  it('cancels a running flow when cancellation is requested through the server', async () => {
    await withSdkServer(async (_server, client) => {
      const forever = flow(
        { name: 'forever' },
        (_p, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      );
      await serving(client, [RunnerDeployment.fromFlow(forever, { entrypoint: 'a.ts:forever' })], { runHeartbeatSeconds: 0.2 }, async () => {
        const run = await runDeployment('forever/forever', { client, timeout: 0 });
        while ((await client.flowRuns.read(run.id)).state.type !== 'RUNNING') await new Promise((r) => setTimeout(r, 20));
        expect((await client.flowRuns.cancel(run.id)).state.type).toBe('CANCELLING');
        // The engine learns of it at its next heartbeat.
        const final = await client.flowRuns.wait(run.id, 20_000);
        expect(final.state).toMatchObject({ type: 'CANCELLED', message: 'Cancellation requested through the server' });
      });
    });
  });

  it('on shutdown lets running flows finish within the grace period, then cancels the rest; pauses only when asked', async () => {
    await withSdkServer(async (_server, client) => {
      const quick = flow({ name: 'quick' }, () => new Promise((resolve) => setTimeout(() => resolve('ok'), 200)));
      const stuck = flow({ name: 'stuck' }, (_p, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
      const deployments = [RunnerDeployment.fromFlow(quick, { entrypoint: 'a.ts:quick' }), RunnerDeployment.fromFlow(stuck, { entrypoint: 'a.ts:stuck' })];
      const runner = new Runner(deployments, { client, ...quiet, shutdownGraceSeconds: 1, pauseOnShutdown: true });
      const done = runner.start();
      await runner.ready;
      const a = await runDeployment('quick/quick', { client, timeout: 0 });
      const b = await runDeployment('stuck/stuck', { client, timeout: 0 });
      while (runner.running < 2) await new Promise((r) => setTimeout(r, 10));
      runner.stop();
      await done;
      expect((await client.flowRuns.read(a.id)).state.type).toBe('COMPLETED');
      expect((await client.flowRuns.read(b.id)).state).toMatchObject({ type: 'CANCELLED' });
      expect((await client.deployments.read('quick/quick')).paused).toBe(true);
    });
  });

  it('leaves its deployments unpaused on shutdown by default', async () => {
    await withSdkServer(async (_server, client) => {
      const quick = flow({ name: 'quick' }, () => 'ok');
      const runner = new Runner([RunnerDeployment.fromFlow(quick, { entrypoint: 'a.ts:quick', schedule: { interval: 3600 } })], { client, ...quiet });
      const done = runner.start();
      await runner.ready;
      runner.stop();
      await done;
      expect((await client.deployments.read('quick/quick')).paused).toBe(false);
    });
  });
});

describe('the engine as a process', () => {
  it('loads the entrypoint, runs the flow and stores the result; a failing flow ends FAILED with its message', async () => {
    await withSdkServer(async (server, client) => {
      const run = async (entrypoint: string, parameters: Record<string, unknown>) => {
        await client.deployments.upsert({ flowName: 'fixtures', name: entrypoint.split(':')[1] as string, entrypoint });
        const created = await client.flowRuns.create({ deployment: `fixtures/${entrypoint.split(':')[1]}`, parameters });
        const child = spawn(process.execPath, [`${packageDir}/dist/engineMain.js`], {
          cwd: packageDir,
          env: { ...process.env, DROVER_API_URL: server.url, DROVER_FLOW_RUN_ID: created.id },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (c) => {
          stderr += c;
        });
        const [code] = await once(child, 'exit');
        return { code, stderr, run: await client.flowRuns.read(created.id) };
      };
      const ok = await run('src/testFixtures/flows.ts:add', { a: 2 });
      expect(ok.code).toBe(0);
      expect(ok.run).toMatchObject({ state: { type: 'COMPLETED' }, result: { sum: 3 } });
      const logs = await client.flowRuns.logs({ flowRunId: ok.run.id });
      expect(logs.map((l) => l.message)).toEqual(['adding 2 and 1', 'about to return']);
      const failed = await run('src/testFixtures/flows.ts:explode', {});
      expect([failed.code, failed.run.state.type, failed.run.state.message]).toEqual([0, 'FAILED', 'Error: kaboom']);
      // The state says what failed; the stack is in the run's logs.
      expect((await client.flowRuns.logs({ flowRunId: failed.run.id })).map((l) => [l.level, l.message.split('\n').slice(0, 2).join('\n')])).toEqual([
        ['error', expect.stringMatching(/^Error: kaboom\n {4}at .*testFixtures\/flows\.ts/)],
      ]);
      // No parameter schema on this deployment, so the server takes `a: "two"`; the flow's own schema refuses it.
      const invalid = await run('src/testFixtures/flows.ts:add', { a: 'two' });
      expect([invalid.code, invalid.run.state.type]).toEqual([0, 'FAILED']);
      expect(invalid.run.state.message).toMatch(/^Invalid parameters for flow "add": a: /);
      const missing = await run('src/testFixtures/flows.ts:notAFlow', {});
      expect(missing.run.state).toMatchObject({
        type: 'FAILED',
        message: `Cannot load flow "src/testFixtures/flows.ts:notAFlow": ${packageDir}src/testFixtures/flows.ts has no flow exported as "notAFlow" (its flows: add, explode)`,
      });
    });
  }, 30_000);
});

describe('the client', () => {
  it('names the URL and how to start a server when none answers', async () => {
    const port = await closedPort();
    const error = await new DroverClient({ apiUrl: `http://127.0.0.1:${port}`, apiKey: 'k' }).health().catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'SERVER_UNREACHABLE',
      message: `Cannot reach the Drover server at http://127.0.0.1:${port} (connection refused): start one with \`drover server start\`, or point DROVER_API_URL at a running server`,
    });
  });

  it('sends the calls of one turn in one request, answering each its own way, and splits a batch of queries too long for a URL', async () => {
    await withSdkServer(async (_server, client) => {
      await client.flows.createOrRead({ name: 'known' });
      // 60 reads of 190-character names: about 14 KB of query string at once, past what one URL may carry.
      const names = Array.from({ length: 60 }, (_, i) => (i === 7 ? 'known' : `${String(i).padStart(3, '0')}-${'x'.repeat(186)}`));
      const answers = await Promise.allSettled([
        ...names.map((name) => client.flows.read(name)),
        client.version(),
        client.flowRuns.create({ deployment: 'no/such' }),
      ]);
      expect(answers.filter((a) => a.status === 'fulfilled').map((a) => (a.value as { name?: string; version?: string }).name ?? 'version')).toEqual([
        'known',
        'version',
      ]);
      const refused = answers.flatMap((a) => (a.status === 'rejected' ? [(a.reason as { code: string }).code] : []));
      expect(refused).toEqual([...Array(59).fill('FLOW_NOT_FOUND'), 'DEPLOYMENT_NOT_FOUND']);
    });
  });

  it('ships no type that names @drover/server', () => {
    // What the package publishes: dist without the test files (see "files" in package.json).
    const dts = readdirSync(`${packageDir}/dist`).filter((f) => f.endsWith('.d.ts') && !f.includes('.test.') && !f.startsWith('test'));
    expect(dts.length).toBeGreaterThan(5);
    const offenders = dts.filter((f) => readFileSync(`${packageDir}/dist/${f}`, 'utf8').includes('@drover/server'));
    expect(offenders).toEqual([]);
  });
});
