/**
 * @drover/cli: the `drover` command line. `run(argv, io)` runs one command and resolves with
 * its exit code (0 ok, 1 failure, 2 bad usage); `createProgram(io)` gives the commander program.
 * Both touch nothing of the process but what `io` hands them (streams, environment, working
 * directory, stop signal), so the shipped binary (apps/cli) and tests drive the same code.
 *
 * @example
 * import { run } from '@drover/cli';
 * const stop = new AbortController();
 * process.once('SIGINT', () => stop.abort('SIGINT'));
 * process.exitCode = await run(process.argv.slice(2), {
 *   stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), signal: stop.signal,
 * });
 */
export { UsageError } from './errors.js';
export { type Env, Output, type OutStream } from './output.js';
export { type CliIo, type Context, createProgram, run, VERSION } from './program.js';
