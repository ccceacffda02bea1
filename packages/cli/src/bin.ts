#!/usr/bin/env node
/**
 * The `drover` binary (`"bin": { "drover": "./dist/bin.js" }`, so `npm i -g @drover/cli` gives
 * the command): runs @drover/cli against this process. SIGINT and SIGTERM ask a long-running
 * command (server, worker, a watch) to stop gracefully; a second one exits at once. The only
 * module of this package with side effects: import `run` from the package instead.
 */
import { run } from './program.js';

const stop = new AbortController();
const onSignal = (signal: NodeJS.Signals) => {
  if (stop.signal.aborted) process.exit(130);
  stop.abort(signal);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A reader that goes away (`drover --help | head`) ends the command quietly, as other command
// lines do, rather than with an EPIPE stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit();
    throw error;
  });
}

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
