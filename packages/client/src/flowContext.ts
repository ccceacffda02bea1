/**
 * What a running flow sees: its run's identity, a logger, and a signal that aborts on timeout or
 * cancellation. Console output inside a run is attributed to that run through AsyncLocalStorage,
 * so concurrent runs served by one process keep their logs apart.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';
import type { LogLevel } from '@drover/schemas';

export interface FlowLogger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface FlowContext {
  /** The run's id; `local` when the flow is called directly. */
  readonly flowRunId: string;
  readonly flowRunName: string;
  /** `flow-name/deployment-name`, or null outside a deployment. */
  readonly deploymentName: string | null;
  /** 1 on the first try, 2 on the first retry... */
  readonly attempt: number;
  readonly logger: FlowLogger;
  /** Aborts when the run times out or is cancelled; pass it to fetch and timers. */
  readonly signal: AbortSignal;
}

/** Where a run's log lines go. */
export type LogSink = (level: LogLevel, message: string) => void;

interface Scope {
  readonly sink: LogSink;
  readonly capture: boolean;
  /** Also print captured lines as usual (false when the sink itself writes them to stdout). */
  readonly echo: boolean;
  /** The run this code executes for (`local` when the flow was called directly). */
  readonly flowRunId: string;
}

const scopes = new AsyncLocalStorage<Scope>();

/** A logger that writes to `sink`, and to the console when `echo` is true. */
export function createLogger(sink: LogSink, echo = true): FlowLogger {
  const write =
    (level: LogLevel) =>
    (...args: unknown[]) => {
      const message = format(...args);
      sink(level, message);
      if (echo) original[level](message);
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

const original = {
  debug: console.debug.bind(console),
  info: console.info.bind(console),
  warn: console.warn.bind(console),
  error: console.error.bind(console),
  log: console.log.bind(console),
};
let patched = false;

/** Makes console calls inside `scope` also go to its sink (once per process; cheap outside runs). */
function patchConsole(): void {
  if (patched) return;
  patched = true;
  const route =
    (level: LogLevel, print: (...args: unknown[]) => void) =>
    (...args: unknown[]) => {
      const scope = scopes.getStore();
      if (!scope?.capture || scope.echo) print(...args);
      if (scope?.capture) scope.sink(level, format(...args));
    };
  console.log = route('info', original.log);
  console.info = route('info', original.info);
  console.debug = route('debug', original.debug);
  console.warn = route('warn', original.warn);
  console.error = route('error', original.error);
}

/** Runs `fn` (the body of run `flowRunId`) with console output captured into `sink` when `capture` is true. */
export function withLogScope<T>(sink: LogSink, capture: boolean, echo: boolean, flowRunId: string, fn: () => T): T {
  if (capture) patchConsole();
  return scopes.run({ sink, capture, echo, flowRunId }, fn);
}

/** The id of the flow run whose code is executing here, or undefined outside one (or in a flow called directly). */
export function currentFlowRunId(): string | undefined {
  const id = scopes.getStore()?.flowRunId;
  return id === undefined || id === 'local' ? undefined : id;
}

/** Where a run's log lines go. */
export interface LogOutput {
  readonly add: LogSink;
  /** Print lines to the console as well? False when `add` already writes them to stdout. */
  readonly echo: boolean;
  /** Resolves once every line added so far is stored. */
  flush(): Promise<void>;
}

/** Marks a log line on a job's stdout, so its worker can tell the engine's lines from raw output. */
export const LOG_MARKER = '::drover-log::';

/** `{ level, message }` of a line the engine marked, or undefined for any other line. */
export function parseMarkedLine(line: string): { level: LogLevel; message: string } | undefined {
  if (!line.startsWith(LOG_MARKER)) return undefined;
  try {
    return JSON.parse(line.slice(LOG_MARKER.length)) as { level: LogLevel; message: string };
  } catch {
    return undefined;
  }
}
