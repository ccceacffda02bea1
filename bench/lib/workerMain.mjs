// A process worker for the run benchmarks, in its own process as in production, plain JavaScript
// (no tsx loader), so its memory is the worker's own. Configured by the parent through env:
// BENCH_API_URL, BENCH_POOL, BENCH_WORKER_NAME, BENCH_WORKER_LIMIT (optional). Sends `ready`,
// answers `usage` (CPU and peak RSS), and stops on `stop` (or when the parent goes).

import { readFileSync } from 'node:fs';
import { DroverClient } from '@drover/client';
import { ProcessLauncher, Worker } from '@drover/worker';

const env = process.env;
const client = new DroverClient({ apiUrl: env.BENCH_API_URL, apiKey: '' });
let lines = 0;
// BENCH_WARM_PROCESSES: the process launcher's warm engines (0: every job starts cold, as before them).
const launcher = env.BENCH_WARM_PROCESSES === undefined ? undefined : new ProcessLauncher({ warmProcesses: Number(env.BENCH_WARM_PROCESSES) });
const worker = new Worker({
  launchers: launcher ? { process: launcher } : undefined,
  workPoolName: env.BENCH_POOL ?? 'bench',
  type: 'process',
  name: env.BENCH_WORKER_NAME,
  limit: env.BENCH_WORKER_LIMIT ? Number(env.BENCH_WORKER_LIMIT) : undefined,
  client,
  // The worker's own defaults otherwise (poll wait 15 s, prefetch 10 s, launch lead 1 s, run check 5 s).
  print: () => {
    lines++;
  },
});
const stopped = worker.start();
let stopping;
const stop = () => {
  stopping ??= worker.stop().then(() => stopped);
  return stopping;
};
process.on('message', (ask) => {
  if (ask.cmd === 'usage') {
    const cpu = process.cpuUsage();
    process.send?.({ id: ask.id, cpuMicros: cpu.user + cpu.system, maxRssBytes: process.resourceUsage().maxRSS * 1024, lines });
  } else if (ask.cmd === 'warmPool') {
    // The memory the waiting engines hold: the sum of their resident sets.
    void (launcher?.warmPids() ?? Promise.resolve([])).then((pids) => {
      const rss = pids.reduce((sum, pid) => sum + Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024, 0);
      // utime + stime (fields 14 and 15 of /proc/<pid>/stat, in USER_HZ: 100 per second on Linux).
      const cpuMs = pids.map((pid) => {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return (Number(fields[11]) + Number(fields[12])) * 10;
      });
      process.send?.({ id: ask.id, engines: pids.length, rssBytes: rss, cpuMs });
    });
  } else if (ask.cmd === 'stop') {
    void stop().then(() => process.send?.({ id: ask.id }, () => process.exit(0)));
  }
});
process.on('disconnect', () => void stop().then(() => process.exit(0)));
await Promise.race([worker.ready, stopped]);
process.send?.({ ready: worker.name });
