/** What every command is given: the io it may touch, its outputs, the API client, the exit code. */
import type { DroverClient } from '@drover/client';
import type { Command } from 'commander';
import type { Env, Output, OutStream } from './output.js';

/** What the CLI may touch: nothing else from the process is read or written. */
export interface CliIo {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly env: Env;
  /** Where relative paths (entrypoints, drover.yaml, files) start. */
  readonly cwd: string;
  /**
   * Aborted when the user asks a long-running command (`server start`, `worker start`, a watch)
   * to stop; the binary aborts it on SIGINT and SIGTERM. Never aborted when absent.
   */
  readonly signal?: AbortSignal;
}

/** What each command gets: the io, its outputs, a lazily built API client, and the exit code to return. */
export interface Context {
  readonly io: CliIo;
  /** stdout: results, tables, JSON. */
  readonly out: Output;
  /** stderr: progress, warnings, errors, spinners. */
  readonly err: Output;
  readonly signal: AbortSignal;
  /** The API client for `DROVER_API_URL` / `DROVER_API_KEY`, else the profile, else the local default. */
  client(): DroverClient;
  /** Set by a command that ends without an error but must not exit 0 (a watched run that failed). */
  exitCode: number;
}

/** Adds `Example:` lines to a command's help. */
export function examples(command: Command, ...lines: string[]): Command {
  return command.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((line) => `  $ ${line}`).join('\n')}`);
}
