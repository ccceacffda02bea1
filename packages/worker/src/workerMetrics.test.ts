import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureDeployment, withSdkServer, working } from './testHelpers.js';

/** The samples of a Prometheus text exposition, by `name{labels}`. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
    expect(match, line).not.toBeNull();
    out.set((match as RegExpExecArray)[1] as string, Number((match as RegExpExecArray)[2]));
  }
  return out;
}

async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return samples(await response.text());
}

describe('worker metrics (--metrics-port)', () => {
  it('serves jobs running, claim and launch latency on 127.0.0.1', async () => {
    const release = join(mkdtempSync(join(tmpdir(), 'drover-metrics-')), 'release');
    // A job that runs until the test releases it, then exits without reporting (the worker then says CRASHED).
    const command = `exec ${process.execPath} -e "const t = setInterval(() => { if (require('node:fs').existsSync('${release}')) clearInterval(t); }, 20)"`;
    await withSdkServer(async (_server, client) => {
      await client.workPools.create({ name: 'local', type: 'process' });
      await client.deployments.upsert(fixtureDeployment('held', 'quick', { jobVariables: { command } }));
      await working(client, { metricsPort: 0, name: 'w1' }, async (worker) => {
        const url = worker.metricsUrl as string;
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
        let m = await scrape(url);
        expect(m.get('drover_worker_jobs_running{pool="local",worker="w1"}')).toBe(0);
        expect(m.get('drover_worker_claim_latency_seconds_count{pool="local",worker="w1"}')).toBe(0);

        const launched = once(worker, 'launched');
        await client.flowRuns.create({ deployment: 'quick/held' });
        await launched;
        m = await scrape(url);
        expect(m.get('drover_worker_jobs_running{pool="local",worker="w1"}')).toBe(1);
        expect(m.get('drover_worker_claim_latency_seconds_count{pool="local",worker="w1"}')).toBe(1);
        expect(m.get('drover_worker_launch_latency_seconds_count{pool="local",worker="w1"}')).toBe(1);
        expect(m.get('drover_worker_launch_latency_seconds_sum{pool="local",worker="w1"}')).toBeLessThan(10);

        const released = once(worker, 'released');
        writeFileSync(release, '');
        await released;
        m = await scrape(url);
        expect(m.get('drover_worker_jobs_running{pool="local",worker="w1"}')).toBe(0);
        expect(m.get('drover_worker_runs_released_total{state="CRASHED",pool="local",worker="w1"}')).toBe(1);
      });
    });
  });
});
