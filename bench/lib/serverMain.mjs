// The Drover server for the run benchmarks, in its own process as in production: `startServer`
// on 127.0.0.1, logging silent, WAL checkpoints as by default. Plain JavaScript (no tsx loader in
// the server). Configured by the parent through env:
// - BENCH_POSTGRES_URL: serve this PostgreSQL database (made by the parent, migrated here at
//   start; several of these processes may share it, as replicas). Absent: a fresh SQLite file in
//   a temp folder.
// - BENCH_SERVICES=on: run the background services (on PostgreSQL only while this server holds
//   their lock) and tell the parent of each scheduler pass, as `{ schedulerPass: { at, ... } }`
//   with `at` on the wall clock (Date.now(): the parent compares it with its own). Otherwise off.
// It sends its URL to the parent, answers `usage` (CPU and peak RSS) and `services` (the
// scheduler's state: 'running' only on the server that runs the services), and stops on `close`
// or when the parent goes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '@drover/server';
import { pino } from 'pino';

const postgresUrl = process.env.BENCH_POSTGRES_URL || undefined;
const home = postgresUrl ? undefined : mkdtempSync(join(tmpdir(), 'drover-bench-runs-'));
const server = await startServer({
  ...(postgresUrl ? { postgresUrl } : { databaseFile: join(home, 'drover.db') }),
  port: 0,
  logger: pino({ level: 'silent' }),
  services: process.env.BENCH_SERVICES === 'on' ? {} : { enabled: [] },
});
server.services.scheduler.on('pass', (pass) => process.send?.({ schedulerPass: { at: Date.now(), ...pass } }));
let closing;
const close = () => {
  closing ??= server.close().then(() => home && rmSync(home, { recursive: true, force: true }));
  return closing;
};
process.on('message', (ask) => {
  if (ask.cmd === 'usage') {
    const cpu = process.cpuUsage();
    process.send?.({ id: ask.id, cpuMicros: cpu.user + cpu.system, maxRssBytes: process.resourceUsage().maxRSS * 1024 });
  } else if (ask.cmd === 'services') {
    process.send?.({ id: ask.id, scheduler: server.services.scheduler.state });
  } else if (ask.cmd === 'close') {
    void close().then(() => process.send?.({ id: ask.id }, () => process.exit(0)));
  }
});
process.on('disconnect', () => void close().then(() => process.exit(0)));
process.send?.({ url: server.url });
