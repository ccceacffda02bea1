import { once } from 'node:events';
import { getDates } from '@drover/scheduling';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock.js';
import { snapshot, type TestServer, withApiServer } from '../testHarness.js';
import { Scheduler } from './scheduler.js';

const silent = pino({ level: 'silent' });

async function times(server: TestServer, deployment: string): Promise<string[]> {
  const { id } = await server.api.deployments.read.query({ deployment });
  const runs = await server.api.flowRuns.list.query({ deploymentId: id, page: { limit: 1000, offset: 0 } });
  return runs.map((r) => r.expectedStartTime);
}

describe('Scheduler', () => {
  it.each([
    ['cron', { cron: '0 9 * * *', timezone: 'America/New_York' }],
    ['interval', { interval: 86_400, anchorDate: '2026-01-01T09:00:00', timezone: 'America/New_York' }],
    ['rrule', { rrule: 'FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0', timezone: 'America/New_York' }],
  ])('keeps 09:00 New York across spring-forward for a %s schedule', async (_kind, schedule) => {
    const clock = new FakeClock('2026-03-06T20:00:00Z');
    await withApiServer(
      async (server) => {
        await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'daily', schedules: [{ schedule }] });
        expect(await server.services.scheduler.pass()).toEqual({ deployments: 1, inserted: 3, full: true });
        expect(await times(server, 'etl/daily')).toEqual(['2026-03-07T14:00:00.000Z', '2026-03-08T13:00:00.000Z', '2026-03-09T13:00:00.000Z']);
      },
      { clock },
    );
  });

  it.each([
    ['cron', { cron: '30 1 * * *', timezone: 'America/New_York' }],
    ['rrule', { rrule: 'FREQ=DAILY;BYHOUR=1;BYMINUTE=30', timezone: 'America/New_York' }],
  ])('fires the repeated 01:30 once on fall-back for a %s schedule', async (_kind, schedule) => {
    const clock = new FakeClock('2026-10-31T12:00:00Z');
    await withApiServer(
      async (server) => {
        await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'night', schedules: [{ schedule }] });
        await server.services.scheduler.pass();
        expect(await times(server, 'etl/night')).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z', '2026-11-03T06:30:00.000Z']);
      },
      { clock },
    );
  });

  it('keeps at least 3 runs and 1 hour ahead, at most maxScheduledRuns', async () => {
    const clock = new FakeClock('2026-05-01T00:00:00Z');
    await withApiServer(
      async (server) => {
        await server.api.deployments.upsert.mutate({
          flowName: 'etl',
          name: 'often',
          schedules: [
            { schedule: { interval: 60 }, slug: 'minutely' },
            { schedule: { cron: '*/5 * * * *' }, slug: 'five', maxScheduledRuns: 4 },
          ],
        });
        await server.services.scheduler.pass();
        const runs = await server.api.flowRuns.list.query({ page: { limit: 1000, offset: 0 } });
        const bySchedule = (slug: string) => runs.filter((r) => r.idempotencyKey?.includes(`:${slug}:`)).length;
        expect(bySchedule('minutely')).toBe(61); // 00:00 .. 01:00 inclusive covers the hour
        expect(bySchedule('five')).toBe(4);
        expect(runs.every((r) => r.autoScheduled && r.tags.includes('auto-scheduled'))).toBe(true);
      },
      { clock },
    );
  });

  it('never duplicates or loses a run through 100 restarts at random moments', async () => {
    const clock = new FakeClock('2026-03-07T00:00:00Z');
    const start = clock.now().toISOString();
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    await withApiServer(
      async (server) => {
        const schedules = [
          { schedule: { cron: '*/7 * * * *', timezone: 'America/New_York' } },
          { schedule: { interval: 1_000 }, slug: 'kilo' },
          { schedule: { rrule: 'FREQ=MINUTELY;INTERVAL=13', timezone: 'Europe/London' } },
        ];
        await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'busy', schedules });
        for (let restart = 0; restart < 100; restart++) {
          const scheduler = new Scheduler({ store: server.store, logger: silent });
          clock.advance(Math.floor(random() * 20 * 60_000));
          if (random() < 0.3) await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'busy', schedules });
          await scheduler.pass();
          if (random() < 0.5) await scheduler.pass();
        }
        const deployment = await server.api.deployments.read.query({ deployment: 'etl/busy' });
        const runs = await server.api.flowRuns.list.query({ deploymentId: deployment.id, page: { limit: 1000, offset: 0 } });
        const keys = runs.map((r) => r.idempotencyKey);
        expect(new Set(keys).size).toBe(keys.length);
        const end = new Date(clock.now().getTime() + 3_600_000);
        for (const s of deployment.schedules) {
          const expected = getDates(s.schedule, { start, end, n: 1000 }).map((d) => d.toISOString());
          const got = runs.filter((r) => r.scheduleId === s.id).map((r) => r.expectedStartTime);
          // Every due time from the first pass on is there, once; passes never reach back before their own now.
          expect(got.length).toBeGreaterThan(0);
          expect(got).toEqual(expected.filter((t) => t >= (got[0] as string) && t <= (got.at(-1) as string)));
        }
      },
      { clock },
    );
  });

  it('changes nothing on a redeploy with the same schedules', async () => {
    const clock = new FakeClock('2026-05-01T00:00:00Z');
    await withApiServer(
      async (server) => {
        const spec = { flowName: 'etl', name: 'a', schedules: [{ schedule: { cron: '0 * * * *' } }, { schedule: { interval: 3600 }, slug: 'hourly' }] };
        await server.api.deployments.upsert.mutate(spec);
        await server.services.scheduler.pass();
        const before = await snapshot(server);
        const { deployments: _d, deployment_schedules: _s, ...beforeRuns } = before;
        await server.api.deployments.upsert.mutate(spec);
        expect(await server.services.scheduler.pass()).toMatchObject({ inserted: 0 });
        const { deployments: _d2, deployment_schedules: _s2, ...afterRuns } = await snapshot(server);
        expect(afterRuns).toEqual(beforeRuns);
      },
      { clock },
    );
  });

  it('remakes future auto-runs when a redeploy changes the parameters or tags they copied', async () => {
    const clock = new FakeClock('2026-05-01T00:00:00Z');
    await withApiServer(
      async (server) => {
        const spec = {
          flowName: 'etl',
          name: 'a',
          parameters: { mode: 'old' },
          tags: ['v1'],
          schedules: [{ schedule: { cron: '*/20 * * * *' }, slug: 'twenty' }],
        };
        await server.api.deployments.upsert.mutate(spec);
        await server.services.scheduler.pass();
        clock.advance(30 * 60_000); // 00:00 and 00:20 are now overdue: they keep what they were made with
        await server.services.lateRuns.pass();
        await server.api.deployments.upsert.mutate({ ...spec, parameters: { mode: 'new' }, tags: ['v2'] });
        await server.services.scheduler.pass();
        const runs = await server.api.flowRuns.list.query({ page: { limit: 100, offset: 0 } });
        expect(runs.map((r) => [r.expectedStartTime, r.state.name, r.parameters.mode, r.tags.includes('v2')])).toEqual([
          ['2026-05-01T00:00:00.000Z', 'Late', 'old', false],
          ['2026-05-01T00:20:00.000Z', 'Late', 'old', false],
          ['2026-05-01T00:40:00.000Z', 'Scheduled', 'new', true],
          ['2026-05-01T01:00:00.000Z', 'Scheduled', 'new', true],
          ['2026-05-01T01:20:00.000Z', 'Scheduled', 'new', true],
        ]);
      },
      { clock },
    );
  });

  it('gives the event loop back between pages of deployments', async () => {
    const clock = new FakeClock('2026-05-01T00:00:00Z');
    await withApiServer(
      async (server) => {
        for (let i = 0; i < 5; i++)
          await server.api.deployments.upsert.mutate({ flowName: 'etl', name: `d${i}`, schedules: [{ schedule: { cron: '0 * * * *' } }] });
        const scheduler = new Scheduler({ store: server.store, logger: silent }, { batchSize: 2 });
        // Queued before the pass starts: it runs before the pass ends only if the pass yields to
        // the event loop; a pass that held the loop throughout would resolve first.
        let otherWorkRan = false;
        setImmediate(() => {
          otherWorkRan = true;
        });
        const result = await scheduler.pass().then((pass) => ({ pass, otherWorkRan }));
        expect(result).toEqual({ pass: { deployments: 5, inserted: 15, full: true }, otherWorkRan: true });
      },
      { clock },
    );
  });

  it('replaces only future auto-runs when a schedule changes, keeping manual and Late runs', async () => {
    const clock = new FakeClock('2026-05-01T00:00:00Z');
    await withApiServer(
      async (server) => {
        const { deployment } = await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', schedules: [{ schedule: { cron: '*/20 * * * *' } }] });
        await server.services.scheduler.pass();
        const manual = await server.api.flowRuns.create.mutate({ deployment: 'etl/a', scheduledTime: '2026-05-01T00:50:00Z' });
        clock.advance(30 * 60_000); // 00:00 and 00:20 are now overdue
        await server.services.lateRuns.pass();
        const late = (await server.api.flowRuns.list.query({ stateName: 'Late' })).map((r) => r.expectedStartTime);
        expect(late).toEqual(['2026-05-01T00:00:00.000Z', '2026-05-01T00:20:00.000Z']);
        const scheduleId = deployment.schedules[0]?.id as string;
        await server.api.deployments.updateSchedule.mutate({ deployment: 'etl/a', scheduleId, changes: { schedule: { cron: '*/30 * * * *' } } });
        await server.services.scheduler.pass();
        const runs = await server.api.flowRuns.list.query({ page: { limit: 100, offset: 0 } });
        expect(runs.map((r) => [r.expectedStartTime, r.state.name, r.autoScheduled])).toEqual([
          ['2026-05-01T00:00:00.000Z', 'Late', true],
          ['2026-05-01T00:20:00.000Z', 'Late', true],
          ['2026-05-01T00:30:00.000Z', 'Scheduled', true],
          ['2026-05-01T00:50:00.000Z', 'Scheduled', false],
          ['2026-05-01T01:00:00.000Z', 'Scheduled', true],
          ['2026-05-01T01:30:00.000Z', 'Scheduled', true],
        ]);
        expect(runs.find((r) => r.id === manual.id)?.scheduleId).toBeNull();
      },
      { clock },
    );
  });

  it('deletes future runs when a deployment is paused and makes them again on resume', async () => {
    const clock = new FakeClock('2026-05-01T00:00:00Z');
    await withApiServer(
      async (server) => {
        await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', schedules: [{ schedule: { cron: '0 * * * *' } }] });
        await server.services.scheduler.pass();
        expect(await times(server, 'etl/a')).toHaveLength(3);
        await server.api.deployments.pause.mutate({ deployment: 'etl/a' });
        await server.services.scheduler.pass();
        expect(await times(server, 'etl/a')).toEqual([]);
        await server.api.deployments.resume.mutate({ deployment: 'etl/a' });
        await server.services.scheduler.pass();
        expect(await times(server, 'etl/a')).toEqual(['2026-05-01T00:00:00.000Z', '2026-05-01T01:00:00.000Z', '2026-05-01T02:00:00.000Z']);
      },
      { clock },
    );
  });

  it('schedules a changed deployment within a second, without waiting for the next full pass', async () => {
    const clock = new FakeClock('2026-05-01T00:00:00Z');
    await withApiServer(
      async (server) => {
        const scheduler = new Scheduler({ store: server.store, logger: silent }, { intervalMs: 3_600_000 });
        const first = once(scheduler, 'pass');
        scheduler.start();
        expect((await first)[0]).toMatchObject({ full: true, inserted: 0 });
        const next = once(scheduler, 'pass');
        await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', schedules: [{ schedule: { cron: '0 * * * *' } }] });
        expect((await next)[0]).toEqual({ deployments: 1, inserted: 3, full: false });
        await scheduler.stop();
        expect(scheduler.state).toBe('stopped');
      },
      { clock },
    );
  });
});
