import { spawnSync } from 'node:child_process';
import { DroverClient, RunnerDeployment } from '@drover/client';
import { noop } from './flows/flows.mjs';
import { benchDir, startServerProcess } from './lib/harness.js';
const ENGINE = '/work/main/packages/client/dist/engineMain.js';
const server = await startServerProcess();
const client = new DroverClient({ apiUrl: server.url, apiKey: '' });
await client.workPools.create({ name: 'bench', type: 'process' });
await client.deployments.upsert(await RunnerDeployment.fromFlow(noop, { name: 'noop', entrypoint: 'flows/flows.mjs:noop', workPoolName: 'bench' }).toCreate());
const extra = process.argv.slice(2);
for (let i = 0; i < 6; i++) {
  const run = await client.flowRuns.create({ deployment: 'bench-noop/noop' });
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [...extra, ENGINE], { cwd: benchDir, env: { ...process.env, NODE_OPTIONS: '', DROVER_API_URL: server.url, DROVER_FLOW_RUN_ID: run.id }, encoding: 'utf8' });
  const wall = Date.now() - t0;
  const final = await client.flowRuns.read(run.id);
  const first = (final.result as any).firstLineAt - t0;
  console.log(`wall ${wall} ms, spawn→first line ${first} ms, state ${final.state.type} completedAt +${Date.parse(final.endTime) - t0} ${r.stderr.replace(/\n/g, " ")}`);
}
await server.close();
