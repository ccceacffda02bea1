// What the web UI asks of the server: its files at `/` and its pages' paths (beside the API, which
// keeps its own paths and its API key), runs by state per hour, counts of runs, and a search through a run's logs.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRPCClientError } from '@trpc/client';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { withApiServer, withTestServer } from './testHarness.js';

const T0 = '2026-03-01T12:00:00.000Z';

describe('flowRuns.activity', () => {
  it('counts the runs expected in each hour of the window by their state now, and leaves out empty hours', async () => {
    await withApiServer(
      async ({ api }) => {
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'hourly' });
        const at = (time: string) => api.flowRuns.create.mutate({ deployment: 'etl/hourly', scheduledTime: time });
        await at('2026-03-01T09:59:59.999Z'); // before the window
        await at('2026-03-01T10:00:00.000Z');
        await at('2026-03-01T10:59:00.000Z');
        const cancelled = await at('2026-03-01T10:30:00.000Z');
        await api.flowRuns.cancel.mutate({ id: cancelled.id });
        await at('2026-03-01T12:15:00.000Z');
        await at('2026-03-01T13:00:00.000Z'); // the window's end is exclusive

        const activity = await api.flowRuns.activity.query({ since: '2026-03-01T10:00:00Z', until: '2026-03-01T13:00:00Z' });
        expect(activity).toEqual([
          { hour: '2026-03-01T10:00:00.000Z', counts: { SCHEDULED: 2, CANCELLED: 1 } },
          { hour: '2026-03-01T12:00:00.000Z', counts: { SCHEDULED: 1 } },
        ]);
        // Offsets are instants: the same window written in +02:00 gives the same answer.
        expect(await api.flowRuns.activity.query({ since: '2026-03-01T12:00:00+02:00', until: '2026-03-01T15:00:00+02:00' })).toEqual(activity);
      },
      { clock: new FakeClock(T0) },
    );
  });

  it('refuses a window longer than 7 days or ending before it starts, with the field named', async () => {
    await withApiServer(async ({ api }) => {
      const refusal = async (since: string, until: string) => {
        const error = await api.flowRuns.activity.query({ since, until }).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(TRPCClientError);
        return { code: (error as { data?: { droverCode?: string } }).data?.droverCode, message: (error as Error).message };
      };
      expect(await refusal('2026-03-01T00:00:00Z', '2026-03-08T00:00:01Z')).toEqual({
        code: 'VALIDATION_ERROR',
        message: expect.stringContaining('until: a window of at most 7 days'),
      });
      expect(await refusal('2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z')).toEqual({
        code: 'VALIDATION_ERROR',
        message: expect.stringContaining('until: until must be later than since'),
      });
    });
  });
});

describe('flowRuns.count', () => {
  it('counts the runs a list filter matches, through the same joins (pool, flow)', async () => {
    await withApiServer(
      async ({ api }) => {
        await api.workPools.create.mutate({ name: 'local', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'pooled', workPoolName: 'local', tags: ['a'] });
        await api.deployments.upsert.mutate({ flowName: 'report', name: 'served' });
        for (let i = 0; i < 3; i++) await api.flowRuns.create.mutate({ deployment: 'etl/pooled' });
        const served = await api.flowRuns.create.mutate({ deployment: 'report/served', tags: ['b'] });
        await api.flowRuns.cancel.mutate({ id: served.id });
        const count = async (filter: Parameters<typeof api.flowRuns.count.query>[0]) => (await api.flowRuns.count.query(filter)).count;
        expect(await count({})).toBe(4);
        expect(await count({ workPoolName: 'local' })).toBe(3);
        expect(await count({ flowName: 'report' })).toBe(1);
        expect(await count({ states: ['CANCELLED'] })).toBe(1);
        expect(await count({ tags: ['a'] })).toBe(3);
        expect(await count({ workPoolName: 'local', states: ['PENDING', 'RUNNING', 'CANCELLING'] })).toBe(0);
        expect(await count({ expectedStartAfter: '2026-03-01T12:00:01Z' })).toBe(0);
        // Every filter of `list` counts the same rows `list` returns.
        expect(await count({ flowName: 'etl', tags: ['a'] })).toBe((await api.flowRuns.list.query({ flowName: 'etl', tags: ['a'] })).length);
      },
      { clock: new FakeClock(T0) },
    );
  });
});

describe('flowRuns.logs with search', () => {
  it('finds lines by text without regard to case, takes % and _ literally, and pages on with afterId', async () => {
    await withApiServer(
      async ({ api }) => {
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'adhoc' });
        const run = await api.flowRuns.create.mutate({ deployment: 'etl/adhoc' });
        const line = (message: string) => ({ flowRunId: run.id, timestamp: T0, level: 'info' as const, message });
        await api.flowRuns.appendLogs.mutate([line('Hello, World'), line('loading 100% done'), line('hello again'), line('row_count=3'), line('other')]);
        const search = async (text: string, afterId = 0) => (await api.flowRuns.logs.query({ flowRunId: run.id, search: text, afterId })).map((l) => l.message);
        expect(await search('HELLO')).toEqual(['Hello, World', 'hello again']);
        expect(await search('%')).toEqual(['loading 100% done']);
        expect(await search('_')).toEqual(['row_count=3']);
        // As patterns, 'o%d' and 'g_1' would match 'Hello, World' and 'loading 100%': taken literally, nothing does.
        expect(await search('o%d')).toEqual([]);
        expect(await search('g_1')).toEqual([]);
        const [first] = await api.flowRuns.logs.query({ flowRunId: run.id, search: 'hello', limit: 1 });
        expect(await search('hello', first?.id)).toEqual(['hello again']);
        expect(await search('nothing like it')).toEqual([]);
      },
      { clock: new FakeClock(T0) },
    );
  });
});

/** A GET as a browser sends it, path kept exactly as written (fetch would normalise `..`). */
function get(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.path = path;
    req.on('error', reject);
    req.end();
  });
}

describe('the UI files, served beside the API', () => {
  const uiRoot = mkdtempSync(join(tmpdir(), 'drover-ui-files-'));
  mkdirSync(join(uiRoot, 'assets'));
  writeFileSync(join(uiRoot, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(uiRoot, 'assets', 'app-1234.js'), 'console.log("app")');
  afterAll(() => rmSync(uiRoot, { recursive: true, force: true }));

  it('answers the UI pages with index.html and its assets with long caching, locked down by CSP', async () => {
    await withTestServer(
      async (server) => {
        for (const path of ['/', '/runs', '/runs/0190a3d0-0000-7000-8000-000000000000', '/runs?state=FAILED&window=24h', '/deployments/x', '/pools/local']) {
          const page = await get(server.url, path);
          expect([path, page.status, page.body]).toEqual([path, 200, '<!doctype html><div id="root"></div>']);
          expect(page.headers['content-security-policy']).toMatch(/^default-src 'self';.*frame-ancestors 'none'/);
          expect(page.headers['cache-control']).toBe('no-cache');
          expect(page.headers['x-content-type-options']).toBe('nosniff');
        }
        const script = await get(server.url, '/assets/app-1234.js');
        expect([script.status, script.body, script.headers['cache-control']]).toEqual([200, 'console.log("app")', 'public, max-age=31536000, immutable']);
        expect(script.headers['content-type']).toContain('javascript');
        expect((await get(server.url, '/assets/missing.js')).status).toBe(404);
        // Out of the folder: never a file of the machine.
        for (const path of ['/assets/../../../../etc/passwd', '/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/runs/../../../etc/passwd']) {
          const outside = await get(server.url, path);
          expect(outside.body, path).not.toContain('root:');
        }
        // The API's own paths stay the API's.
        const api = await get(server.url, '/workPools.list');
        expect([api.status, api.headers['content-type']]).toEqual([200, 'application/json']);
        expect((await get(server.url, '/health')).body).toBe('{"result":{"data":{"status":"ok"}}}');
      },
      { uiRoot },
    );
  });

  it('serves the files without the API key, which the API still requires', async () => {
    await withTestServer(
      async (server) => {
        expect((await get(server.url, '/')).status).toBe(200);
        expect((await get(server.url, '/assets/app-1234.js')).status).toBe(200);
        expect((await get(server.url, '/workPools.list')).status).toBe(401);
        expect((await get(server.url, '/workPools.list', { authorization: 'Bearer secret-key-123' })).status).toBe(200);
      },
      { uiRoot, apiKey: 'secret-key-123' },
    );
  });

  it('without UI files, leaves / to the API', async () => {
    await withTestServer(async (server) => {
      const root = await get(server.url, '/');
      expect(root.status).toBe(404);
      expect(root.headers['content-type']).toBe('application/json');
    });
  });
});
