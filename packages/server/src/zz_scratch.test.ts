import { it } from 'vitest';
import { withServer } from './testHarness.js';
import { createFlowRun } from './store/flowRuns.js';
import { FlowRunCreate } from '@drover/schemas';
it('timing', async () => {
  let t = performance.now();
  const lap = (l: string) => { const n = performance.now(); console.log(l, Math.round(n - t)); t = n; };
  await withServer(async (server) => {
    const { api } = server;
    await api.workPools.create.mutate({ name: 'busy', type: 'process' });
    await api.deployments.upsert.mutate({ flowName: 'etl', name: 'many', workPoolName: 'busy' });
    lap('setup');
    for (let i = 0; i < 200; i++) await createFlowRun(server.store, { deployment: 'etl/many' });
    lap('200 direct');
    for (let i = 0; i < 2000; i++) FlowRunCreate.parse({ deployment: 'etl/many' });
    lap('2000 parse');
    const db = server.store.db.$client;
    for (let i = 0; i < 200; i++) db.transaction(() => { db.prepare("insert into flows(id,name,tags,created) values (?,?,?,?)").run('x'+i, 'n'+i, '[]', 'c'); }).immediate();
    lap('200 raw tx');
  });
  lap('close');
}, 60000);
