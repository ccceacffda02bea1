import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DroverClient } from '@drover/client';
import { withTemporaryServer } from '@drover/server';
import { describe, expect, it } from 'vitest';
import { allFinal, fixtureDeployment, packageDir, warmEngines } from './testHelpers.js';

interface ExportedSpan {
  readonly service: string;
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly status: number;
}

/** A real OTLP/HTTP receiver (JSON protocol) on 127.0.0.1: every span posted to /v1/traces. */
async function startReceiver() {
  const spans: ExportedSpan[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      expect(req.url).toBe('/v1/traces');
      expect(req.headers['content-type']).toBe('application/json');
      for (const rs of JSON.parse(body).resourceSpans ?? []) {
        const service = rs.resource.attributes.find((a: { key: string }) => a.key === 'service.name')?.value.stringValue;
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? [])
            spans.push({ service, name: s.name, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', status: s.status?.code ?? 0 });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, spans, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('traces (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  it('follows a run from its trigger on the server through the worker and the job, retries and a child run included', async () => {
    const receiver = await startReceiver();
    try {
      await withTemporaryServer(
        async (server) => {
          const client = new DroverClient({ apiUrl: server.url, apiKey: '' });
          await client.workPools.create({ name: 'local', type: 'process' });
          await client.deployments.upsert(fixtureDeployment('traced', 'parent', { entrypoint: 'src/testFixtures/tracedFlows.mjs:parent' }));
          await client.deployments.upsert(fixtureDeployment('child', 'quick'));
          const worker = spawn(process.execPath, [`${packageDir}/dist/testWorkerMain.js`], {
            env: { ...process.env, DROVER_API_URL: server.url, WORKER_NAME: 'w1', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' },
            stdio: ['ignore', 'ignore', 'inherit'],
          });
          try {
            // Traced, the worker still starts engines for its deployments first, and the run gets one.
            let waiting: number[] = [];
            while (waiting.length < 2) {
              await new Promise((resolve) => setTimeout(resolve, 50));
              waiting = warmEngines(worker.pid as number);
            }
            const run = await client.flowRuns.create({ deployment: 'parent/traced' });
            const [done] = await allFinal(client, [run]);
            expect(done?.state.type).toBe('COMPLETED');
            expect(waiting).toContain(Number(done?.infrastructureId?.split(':')[2]));
            expect(done?.traceContext).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
          } finally {
            worker.kill('SIGTERM');
            await once(worker, 'exit');
          }
        },
        { otlpTracesUrl: `${receiver.url}/v1/traces` },
      );
      const { spans } = receiver;
      const one = (service: string, name: string, parent?: ExportedSpan) => {
        const found = spans.filter((s) => s.service === service && s.name === name && (!parent || s.parentSpanId === parent.spanId));
        expect(found, `${service} ${name} under ${parent?.name}: ${JSON.stringify(spans.map((s) => [s.service, s.name]))}`).toHaveLength(1);
        return found[0] as ExportedSpan;
      };
      const creates = spans.filter((s) => s.service === 'drover-server' && s.name === 'drover.flowRun.create');
      expect(creates).toHaveLength(2);
      const create = creates.find((s) => s.parentSpanId === '') as ExportedSpan;
      one('drover-worker', 'claim', create);
      const job = one('drover-worker', 'job', create);
      one('drover-worker', 'launch', job);
      one('drover-engine', 'pull steps', job);
      one('drover-engine', 'load flow', job);
      const flowSpan = one('drover-engine', 'flow parent', job);
      expect(one('drover-engine', 'attempt 1', flowSpan).status).toBe(2); // ERROR
      const second = one('drover-engine', 'attempt 2', flowSpan);
      const trigger = one('drover-engine', 'runDeployment quick/child', second);
      const childCreate = one('drover-server', 'drover.flowRun.create', trigger);
      const childJob = one('drover-worker', 'job', childCreate);
      one('drover-engine', 'flow quick', childJob);
      expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([create.traceId]));
    } finally {
      await receiver.close();
    }
  }, 90_000);
});
