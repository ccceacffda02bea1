/**
 * Following a run as it happens (`deployment run --watch`, `flow-run logs --follow`): state
 * changes and log lines are printed as they arrive. Waiting is the server's long-poll
 * (`flowRuns.wait`) with short timeouts, so a final state is seen at once and new log lines
 * (read with `afterId` paging) within a second. A spinner shows on a terminal only.
 */
import { RunWaitTimeoutError } from '@drover/client';
import { type FlowRun, isTerminal, type LogRecord, type State } from '@drover/schemas';
import type { Context } from './cliContext.js';
import { formatDuration, formatTime, stateLabel } from './format.js';
import { type Output, type Spinner, startSpinner } from './output.js';

/** Longest single long-poll: bounds how late a new log line or a Ctrl+C is noticed. */
const POLL_MS = 1000;
/** Log lines read per request. */
const PAGE = 1000;

const LEVEL_STYLE = { debug: 'dim', info: 'cyan', warn: 'yellow', error: 'red' } as const;

/** `2026-01-01T09:00:00Z  info   message`. */
export function logLine(out: Output, log: LogRecord): string {
  return `${out.paint('dim', formatTime(log.timestamp))}  ${out.paint(LEVEL_STYLE[log.level], log.level.padEnd(5))}  ${log.message}`;
}

/** `2026-01-01T09:00:00Z  state  COMPLETED`, with the state's message when it has one. */
export function stateLine(out: Output, state: State): string {
  return `${out.paint('dim', formatTime(state.timestamp))}  ${out.paint('bold', 'state')}  ${stateLabel(out, state)}${state.message ? `: ${state.message}` : ''}`;
}

const stateKey = (state: State) => `${state.type}|${state.name}|${state.timestamp}`;

export interface FollowOptions {
  /** Print state changes (deployment run --watch) as well as log lines. */
  readonly states: boolean;
  /** Give up after this many seconds with RunWaitTimeoutError (no limit when absent). */
  readonly timeoutSeconds?: number;
  /** Log lines as JSON, one object per line (for scripts). */
  readonly json?: boolean;
  /** Print nothing; only wait for the end (`deployment run --watch --json`). */
  readonly quiet?: boolean;
}

/**
 * Prints `run`'s logs (and state changes) until it is final, then returns it as it ended. Returns
 * early, with the run as last seen, when the user stops the CLI (Ctrl+C).
 */
export async function followRun(ctx: Context, run: FlowRun, options: FollowOptions): Promise<FlowRun> {
  const client = ctx.client();
  const started = Date.now();
  const deadline = options.timeoutSeconds === undefined ? Number.POSITIVE_INFINITY : started + options.timeoutSeconds * 1000;
  const spinner: Spinner | undefined = options.json || options.quiet ? undefined : startSpinner(ctx.err, `Watching flow run ${run.name} (${run.id})...`);
  const print = (line: string) => {
    if (options.quiet) return;
    if (spinner) spinner.print(ctx.out, line);
    else ctx.out.line(line);
  };
  let current = run;
  let afterId = 0;

  const newLogs = async (): Promise<LogRecord[]> => {
    const all: LogRecord[] = [];
    for (;;) {
      const logs = await client.flowRuns.logs({ flowRunId: run.id, afterId, limit: PAGE });
      all.push(...logs);
      afterId = logs.at(-1)?.id ?? afterId;
      if (logs.length < PAGE) return all;
    }
  };
  // Every state the run went through is shown, even several between two polls (history is ordered).
  let statesShown = 0;
  const newStates = async (): Promise<State[]> => {
    const history = await client.flowRuns.history(run.id);
    const fresh = history.slice(statesShown);
    statesShown = history.length;
    return fresh;
  };
  const showStates = options.states && !options.json && !options.quiet;
  /** Prints new log lines and states in time order (a state first on a tie: it usually caused the lines). */
  const show = async (statesChanged: boolean) => {
    const [logs, states] = await Promise.all([options.quiet ? [] : newLogs(), showStates && statesChanged ? newStates() : []]);
    const items = [
      ...states.map((state) => ({ at: Date.parse(state.timestamp), rank: 0, line: () => stateLine(ctx.out, state) })),
      ...logs.map((log) => ({ at: Date.parse(log.timestamp), rank: 1, line: () => (options.json ? JSON.stringify(log) : logLine(ctx.out, log)) })),
    ].sort((x, y) => x.at - y.at || x.rank - y.rank);
    for (const item of items) print(item.line());
  };

  try {
    let changed = true;
    for (;;) {
      await show(changed);
      if (isTerminal(current.state.type) || ctx.signal.aborted) break;
      const left = deadline - Date.now();
      if (left <= 0) throw new RunWaitTimeoutError(run.id, current.state, options.timeoutSeconds as number);
      const next = await client.flowRuns.wait(run.id, Math.max(1, Math.min(POLL_MS, left)));
      changed = stateKey(next.state) !== stateKey(current.state);
      current = next;
      spinner?.update(`Watching flow run ${run.name}: ${current.state.type} (${formatDuration((Date.now() - started) / 1000)})`);
    }
    return current;
  } finally {
    spinner?.stop();
  }
}
