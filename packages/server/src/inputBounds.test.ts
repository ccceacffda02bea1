// Bad input never stalls the server: user regular expressions run in linear time, schemas are
// compiled when deployed, bodies are capped, authenticated before they are read and timed, JSON
// depth is bounded, long answers are streamed, and connections are capped.
import { once } from 'node:events';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHttpServer, listen } from './http.js';
import { createRpcHandler } from './rpcHandler.js';
import { snapshot, withApiServer, withTestServer } from './testHarness.js';
import { procedure, router } from './trpc.js';

const errorOf = (body: unknown) => (body as { error: { message: string; data: { code: string; droverCode: string } } }).error;

/** Sends headers (and `body`, if any) without ending the request; resolves with the answer and whether the socket then closed. */
function partialPost(url: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; body: unknown; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } });
    req.on('error', () => {});
    req.on('response', async (res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      const closed = req.socket?.destroyed ? Promise.resolve() : once(req.socket as NodeJS.EventEmitter, 'close').then(() => {});
      resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()), closed });
      req.destroy();
    });
    req.on('error', reject);
    req.flushHeaders();
    if (body) req.write(body);
  });
}

describe('parameter schemas', () => {
  it('runs a catastrophic pattern in linear time', async () => {
    await withApiServer(async ({ api }) => {
      const parameterSchema = {
        type: 'object',
        properties: { name: { type: 'string', pattern: '^(a+)+$' } },
        patternProperties: { '^(b+)+$': { type: 'string' } },
      };
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'nightly', parameterSchema });
      // With V8's backtracking engine, 40 characters take about 20 minutes.
      const name = `${'a'.repeat(40)}!`;
      await expect(api.flowRuns.create.mutate({ deployment: 'etl/nightly', parameters: { name } })).rejects.toMatchObject({
        message: 'Parameters for deployment "etl/nightly" do not match its schema: name must match pattern "^(a+)+$"',
      });
      await expect(api.flowRuns.create.mutate({ deployment: 'etl/nightly', parameters: { name: 'aaa', [`${'b'.repeat(40)}!`]: 1 } })).resolves.toMatchObject({
        parameters: { name: 'aaa' },
      });
    });
  });

  it('leaves a pattern RE2 cannot run (a lookahead) to the flow: the deployment is saved, the server does not check it', async () => {
    await withApiServer(async ({ api }) => {
      const parameterSchema = { type: 'object', properties: { password: { type: 'string', pattern: '^(?=.*\\d).{8,}$' } } };
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'nightly', parameterSchema });
      await expect(api.flowRuns.create.mutate({ deployment: 'etl/nightly', parameters: { password: 'no digits here' } })).resolves.toMatchObject({
        parameters: { password: 'no digits here' },
      });
    });
  });

  it.each([
    [
      { type: 'nonsense' },
      'Invalid parameterSchema for deployment "etl/nightly": data/type must be equal to one of the allowed values, data/type must be array, data/type must match a schema in anyOf (expected a JSON Schema, draft 2020-12)',
    ],
    [
      { type: 'object', required: 'name' },
      'Invalid parameterSchema for deployment "etl/nightly": data/required must be array (expected a JSON Schema, draft 2020-12)',
    ],
  ])('refuses at deploy and at update a schema that does not compile: %j', async (parameterSchema, message) => {
    await withApiServer(async (server) => {
      const { api } = server;
      await expect(api.deployments.upsert.mutate({ flowName: 'etl', name: 'nightly', parameterSchema })).rejects.toMatchObject({
        message,
        data: { code: 'BAD_REQUEST', droverCode: 'VALIDATION_ERROR' },
      });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'nightly' });
      const before = await snapshot(server);
      await expect(api.deployments.update.mutate({ deployment: 'etl/nightly', changes: { parameterSchema } })).rejects.toMatchObject({ message });
      expect(await snapshot(server)).toEqual(before);
    });
  });
});

describe('request bodies', () => {
  it('refuses a caller without the API key before reading its body', async () => {
    await withApiServer(
      async (server) => {
        // Declares 15 MB and sends 1 KB: the 401 comes without the rest.
        const answer = await partialPost(server.url, 'workPools.create', { 'content-length': String(15 * 1024 * 1024) }, ' '.repeat(1024));
        expect([answer.status, errorOf(answer.body).message]).toEqual([401, 'Missing or wrong API key: send Authorization: Bearer <DROVER_API_KEY>']);
        await answer.closed;
      },
      { apiKey: 'secret' },
    );
  });

  it('refuses a declared length over the limit at once, and stops reading a chunked body at the limit', async () => {
    await withApiServer(async (server) => {
      const declared = await partialPost(server.url, 'workPools.create', { 'content-length': String(17 * 1024 * 1024) });
      expect([declared.status, errorOf(declared.body).data.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
      await declared.closed;
      // 17 MB sent chunked, never ended: answered at the limit, and the connection closed.
      const chunked = await partialPost(server.url, 'workPools.create', { 'transfer-encoding': 'chunked' }, 'x'.repeat(17 * 1024 * 1024));
      expect([chunked.status, errorOf(chunked.body).message]).toEqual([
        413,
        'Request body larger than the limit of 16777216 bytes: send large data by reference (a URL or file path)',
      ]);
      await chunked.closed;
    });
  });

  it('refuses a body that trickles in, closing its connection', async () => {
    await withApiServer(async (server) => {
      const http = createHttpServer({ store: server.store, logger: pino({ level: 'silent' }), bodyTimeoutMs: 200 });
      const { port } = await listen(http, '127.0.0.1', 0);
      try {
        const answer = await partialPost(`http://127.0.0.1:${port}`, 'workPools.create', { 'content-length': '100' }, '{"name":');
        expect([answer.status, errorOf(answer.body).message]).toEqual([408, 'Request body not received within 0.2 s of its headers']);
        await answer.closed;
      } finally {
        http.closeAllConnections();
        await new Promise((resolve) => http.close(resolve));
      }
    });
  });

  it('refuses JSON nested deeper than 64 levels with a 400', async () => {
    await withApiServer(async (server) => {
      const deep = `{"name":"p","type":"process","description":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
      const res = await fetch(`${server.url}/workPools.create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
      expect([res.status, errorOf(await res.json()).message]).toEqual([400, 'Input JSON is nested deeper than 64 levels of arrays and objects: flatten it']);
      // Brackets inside strings are not nesting.
      const quoted = JSON.stringify({ name: 'p', type: 'process', description: '['.repeat(10_000) });
      expect((await fetch(`${server.url}/workPools.create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: quoted })).status).toBe(
        200,
      );
    });
  });

  it('refuses a deployment field over 512 KiB with a 400 naming the field, its size and the limit', async () => {
    await withApiServer(async ({ api }) => {
      await expect(api.deployments.upsert.mutate({ flowName: 'etl', name: 'nightly', jobVariables: { blob: 'x'.repeat(600 * 1024) } })).rejects.toMatchObject({
        message:
          'Invalid input to deployments.upsert: jobVariables: jobVariables is 614411 bytes of JSON, over the limit of 524288 bytes: pass large data by reference (a URL or file path) instead',
        data: { httpStatus: 400, droverCode: 'VALIDATION_ERROR' },
      });
    });
  });

  it('refuses a run whose parameters, job variables or result pass 512 KiB, writing nothing', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'nightly' });
      const blob = { blob: 'x'.repeat(600 * 1024) };
      const before = await snapshot(server);
      for (const field of ['parameters', 'jobVariables'] as const) {
        await expect(api.flowRuns.create.mutate({ deployment: 'etl/nightly', [field]: blob })).rejects.toMatchObject({
          message: `Invalid input to flowRuns.create: ${field}: ${field} is 614411 bytes of JSON, over the limit of 524288 bytes: pass large data by reference (a URL or file path) instead`,
          data: { httpStatus: 400, droverCode: 'VALIDATION_ERROR' },
        });
      }
      expect(await snapshot(server)).toEqual(before);
      const { id } = await api.flowRuns.create.mutate({ deployment: 'etl/nightly' });
      await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'RUNNING' } });
      await expect(api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'COMPLETED', result: blob } })).rejects.toMatchObject({
        data: { httpStatus: 400, droverCode: 'VALIDATION_ERROR' },
      });
      expect((await api.flowRuns.read.query({ id })).state.type).toBe('RUNNING');
    });
  });
});

describe('answers', () => {
  it('streams an answer longer than the longest string V8 can make', async () => {
    const row = 'x'.repeat(1024 * 1024);
    const rows = 520; // 520 MiB of JSON: past V8's 2^29-character string limit
    const testRouter = router({ big: procedure.output(z.array(z.string())).query(() => Array.from({ length: rows }, () => row)) });
    const handler = createRpcHandler({ router: testRouter, createContext: () => ({}) as never, maxBodyBytes: 1024 });
    const { createServer } = await import('node:http');
    const http = createServer(handler);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/big`);
      expect(res.status).toBe(200);
      let bytes = 0;
      let head = '';
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        if (head.length < 30) head += Buffer.from(chunk.subarray(0, 30)).toString();
        bytes += chunk.length;
      }
      expect(head.slice(0, 21)).toBe('{"result":{"data":["x');
      expect(bytes).toBe('{"result":{"data":[]}}'.length + rows * (row.length + 2) + rows - 1);
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  }, 60_000);
});

describe('the HTTP server', () => {
  it('bounds headers, bodies and connections', async () => {
    await withApiServer(async (server) => {
      const http = createHttpServer({ store: server.store, logger: pino({ level: 'silent' }), maxConnections: 50 });
      expect([http.headersTimeout, http.requestTimeout, http.maxConnections]).toEqual([15_000, 45_000, 50]);
    });
  });

  it('warns at start when it listens beyond loopback without an API key', async () => {
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const logger = pino({ level: 'warn' }, sink);
    await withTestServer(async () => {}, { host: '0.0.0.0', logger });
    await withTestServer(async () => {}, { host: '0.0.0.0', logger, apiKey: 'k' });
    await withTestServer(async () => {}, { host: '127.0.0.1', logger });
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      [
        40,
        'Drover server listening on 0.0.0.0, reachable from other machines, with no API key: anyone who can reach it can run flows. Set DROVER_API_KEY, or bind 127.0.0.1',
      ],
    ]);
  });
});
