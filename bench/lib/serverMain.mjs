// The Drover server for the run benchmarks, in its own process as in production: `startServer`
// on 127.0.0.1 over a fresh SQLite file in a temp folder, services off, logging silent, WAL
// checkpoints as by default. Plain JavaScript (no tsx loader in the server). It sends its URL to
// the parent, answers `usage` (CPU and peak RSS), and stops on `close` or when the parent goes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '@drover/server';
import { pino } from 'pino';

const home = mkdtempSync(join(tmpdir(), 'drover-bench-runs-'));
const server = await startServer({ databaseFile: join(home, 'drover.db'), port: 0, logger: pino({ level: 'silent' }), services: { enabled: [] } });
let closing;
const close = () => {
  closing ??= server.close().then(() => rmSync(home, { recursive: true, force: true }));
  return closing;
};
process.on('message', (ask) => {
  if (ask.cmd === 'usage') {
    const cpu = process.cpuUsage();
    process.send?.({ id: ask.id, cpuMicros: cpu.user + cpu.system, maxRssBytes: process.resourceUsage().maxRSS * 1024 });
  } else if (ask.cmd === 'close') {
    void close().then(() => process.send?.({ id: ask.id }, () => process.exit(0)));
  }
});
process.on('disconnect', () => void close().then(() => process.exit(0)));
process.send?.({ url: server.url });
