// tRPC's HTTP protocol as Drover's server speaks it, sent by hand: what the typed client never
// sends (wrong methods, mixed batches, oversize bodies, hang-ups) gets tRPC's own answers.
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { snapshot, type TestServer, withApiServer } from './testHarness.js';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

async function send(server: TestServer, path: string, init: { method?: string; body?: string; contentType?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers['content-type'] = init.contentType ?? 'application/json';
  const res = await fetch(`${server.url}/${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body });
  const text = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers), body: text ? JSON.parse(text) : null };
}

/** The tRPC code and Drover code of an error answer. */
const codes = (answer: unknown) => {
  const { error } = answer as { error: { message: string; data: { code: string; droverCode: string; httpStatus: number } } };
  return { code: error.data.code, droverCode: error.data.droverCode, httpStatus: error.data.httpStatus, message: error.message };
};

describe('the HTTP protocol', () => {
  it('answers a query by GET and a mutation by POST, each alone and in batches', async () => {
    await withApiServer(async (server) => {
      expect(await send(server, 'version')).toMatchObject({ status: 200, body: { result: { data: { version: expect.any(String) } } } });
      const created = await send(server, 'workPools.create', { body: JSON.stringify({ name: 'p', type: 'process' }) });
      expect(created).toMatchObject({ status: 200, body: { result: { data: { name: 'p', type: 'process' } } } });
      const input = encodeURIComponent(JSON.stringify({ 0: { name: 'p' }, 1: {} }));
      const both = await send(server, `workPools.read,version?batch=1&input=${input}`);
      expect(both).toMatchObject({ status: 200, body: [{ result: { data: { name: 'p' } } }, { result: { data: { version: expect.any(String) } } }] });
      expect(both.headers['content-length']).toBe(String(Buffer.byteLength(JSON.stringify(both.body))));
    });
  });

  it('answers a batch whose calls partly fail with 207, each call with its own answer, and keeps what succeeded', async () => {
    await withApiServer(async (server) => {
      await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'daily' });
      const body = JSON.stringify({ 0: { deployment: 'etl/daily' }, 1: { deployment: 'etl/nope' }, 2: { deployment: 'etl/daily', tags: ['b'] } });
      const reply = await send(server, 'flowRuns.create,flowRuns.create,flowRuns.create?batch=1', { body });
      expect(reply.status).toBe(207);
      const [first, second, third] = reply.body as unknown[];
      expect(codes(second)).toEqual({ code: 'NOT_FOUND', droverCode: 'DEPLOYMENT_NOT_FOUND', httpStatus: 404, message: 'Deployment "etl/nope" not found' });
      const ids = [first, third].map((answer) => (answer as { result: { data: { id: string } } }).result.data.id);
      const stored = await server.api.flowRuns.list.query({});
      expect(stored.map((run) => run.id).sort()).toEqual([...ids].sort());
    });
  });

  it('refuses, writing nothing, what the protocol does not allow', async () => {
    await withApiServer(async (server) => {
      await server.api.workPools.create.mutate({ name: 'p', type: 'process' });
      const before = snapshot(server);
      const pool = JSON.stringify({ name: 'q', type: 'process' });

      const byGet = await send(server, `workPools.create?input=${encodeURIComponent(pool)}`);
      expect([byGet.status, byGet.headers.allow, codes(byGet.body).code]).toEqual([405, 'POST', 'METHOD_NOT_SUPPORTED']);
      expect(codes(byGet.body)).toMatchObject({
        droverCode: 'VALIDATION_ERROR',
        message:
          'Unsupported GET-request to mutation procedure at path "workPools.create": send queries with GET and mutations with POST, as tRPC\'s httpLink does',
      });

      const queryByPost = await send(server, 'workPools.list', { body: '{}' });
      expect([queryByPost.status, queryByPost.headers.allow]).toEqual([405, 'GET']);

      const mixed = await send(server, 'workPools.create,version?batch=1', { body: JSON.stringify({ 0: JSON.parse(pool) }) });
      expect([mixed.status, codes(mixed.body).message]).toEqual([400, 'Cannot mix procedure types in call: mutation, query']);

      const unknown = await send(server, 'workPools.destroy', { body: pool });
      expect([unknown.status, codes(unknown.body).code]).toEqual([404, 'NOT_FOUND']);

      const form = await send(server, 'workPools.create', { body: 'name=q', contentType: 'application/x-www-form-urlencoded' });
      expect([form.status, codes(form.body)]).toEqual([
        415,
        {
          code: 'UNSUPPORTED_MEDIA_TYPE',
          droverCode: 'VALIDATION_ERROR',
          httpStatus: 415,
          message: 'Unsupported content-type "application/x-www-form-urlencoded"',
        },
      ]);

      const notAnObject = await send(server, 'workPools.create?batch=1', { body: JSON.stringify([JSON.parse(pool)]) });
      expect([notAnObject.status, codes((notAnObject.body as unknown[])[0]).message]).toEqual([400, '"input" needs to be an object when doing a batch call']);

      const huge = await send(server, 'workPools.create', { body: JSON.stringify({ name: 'q', type: 'process', description: 'x'.repeat(17 * 1024 * 1024) }) });
      expect([huge.status, codes(huge.body).code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);

      const malformed = await send(server, 'workPools.%E0%A4%A', { body: pool });
      expect([malformed.status, codes(malformed.body).code]).toEqual([400, 'BAD_REQUEST']);

      expect((await fetch(`${server.url}/version`, { method: 'HEAD' })).status).toBe(204);
      expect(snapshot(server)).toEqual(before);
    });
  });

  it('ends a long-poll claim when its caller hangs up, handing it nothing', async () => {
    await withApiServer(async (server) => {
      await server.api.workPools.create.mutate({ name: 'p', type: 'process' });
      await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'daily', workPoolName: 'p' });
      const scheduledBefore = new Date(Date.now() + 60_000).toISOString();
      const body = JSON.stringify({ workPoolName: 'p', workerName: 'gone', scheduledBefore, waitMs: 30_000 });
      // A claimer that waits, then hangs up before any run is due.
      const hungUp = new Promise<void>((resolve) => {
        const req = request(`${server.url}/workPools.claimRuns`, { method: 'POST', headers: { 'content-type': 'application/json' } });
        req.on('error', () => resolve());
        req.end(body);
        setTimeout(() => req.destroy(), 200);
      });
      await hungUp;
      const run = await server.api.flowRuns.create.mutate({ deployment: 'etl/daily' });
      // Had the hung-up claim still been waiting, the create would have woken it and it would own the run.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await server.api.flowRuns.read.query({ id: run.id })).state.type).toBe('SCHEDULED');
      const claimed = await server.api.workPools.claimRuns.mutate({ workPoolName: 'p', workerName: 'here', scheduledBefore });
      expect(claimed.map((r) => [r.id, r.workerName])).toEqual([[run.id, 'here']]);
    });
  });
});
