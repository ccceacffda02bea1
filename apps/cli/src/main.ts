#!/usr/bin/env node
/**
 * The `drover` binary: runs @drover/cli against this process. SIGINT and SIGTERM ask a
 * long-running command (server, worker, a watch) to stop gracefully; a second one exits at once.
 */
import { run } from '@drover/cli';

const stop = new AbortController();
const onSignal = (signal: NodeJS.Signals) => {
  if (stop.signal.aborted) process.exit(130);
  stop.abort(signal);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: stop.signal,
});
// Nothing may keep the process alive once the command is done (a spinner timer, an idle socket).
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
