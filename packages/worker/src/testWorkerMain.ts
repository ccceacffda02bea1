// A worker as its own process, for the tests of workers running side by side (not shipped).
import { Worker } from './worker.js';

const worker = new Worker({
  workPoolName: 'local',
  name: process.env.WORKER_NAME,
  limit: process.env.WORKER_LIMIT ? Number(process.env.WORKER_LIMIT) : undefined,
  pollWaitSeconds: 5,
  runHeartbeatSeconds: 0.2,
  shutdownGraceSeconds: Number(process.env.SHUTDOWN_GRACE ?? 30),
});
process.once('SIGTERM', () => void worker.stop());
await worker.start();
