import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunError } from '@drover/schemas';
import { z } from 'zod';
import { createLogger, type FlowContext, type LogOutput, withLogScope } from './flowContext.js';

export interface FlowOptions<S extends z.ZodType | undefined = undefined> {
  /** The flow's name: the first half of `flow-name/deployment-name`. */
  readonly name: string;
  /** The parameters' schema; its JSON schema becomes each deployment's parameter schema. */
  readonly parameters?: S;
  readonly description?: string;
  readonly version?: string;
  /** Runs again this many times after a failure (or crash). */
  readonly retries?: number;
  readonly retryDelaySeconds?: number;
  /** Fails the run (state name TimedOut) after this long, aborting `ctx.signal`. */
  readonly timeoutSeconds?: number;
  /** Capture `console` output into the run's logs (default true). */
  readonly logPrints?: boolean;
  /**
   * How its runs are named: a template over the parameters and the scheduled time, such as
   * `"etl-{date}"` or `"{flow_name}-{scheduled_time:%Y%m%d}"`; each deployment of the flow gets it
   * (a deployment's own `flowRunName` wins). A key that is not a parameter is refused at deploy time.
   */
  readonly flowRunName?: string;
}

type ParamsOf<S> = S extends z.ZodType ? z.output<S> : Record<string, never>;
type InputOf<S> = S extends z.ZodType ? z.input<S> : Record<string, never> | undefined;

/** A flow: call it to run it here, or deploy it. */
export interface Flow<S extends z.ZodType | undefined = z.ZodType | undefined, R = unknown> {
  (parameters: InputOf<S>): Promise<R>;
  readonly name: string;
  readonly options: FlowOptions<S>;
  /** The body, with parameters already parsed. */
  readonly fn: (parameters: ParamsOf<S>, ctx: FlowContext) => Promise<R> | R;
  /** Parses raw parameters with the flow's schema (an empty object without one). */
  parseParameters(raw: unknown): ParamsOf<S>;
  /** The JSON schema of the parameters, or null without a schema. */
  parameterSchema(): Record<string, unknown> | null;
  /** The file that defined the flow (from the call stack), for computing its entrypoint. */
  readonly definedIn: string | null;
  /** Where in `definedIn` `flow()` was called (1-based), when the call stack shows the file's own positions. */
  readonly definedAt: SourcePosition | null;
  /** Marks flow objects, so a loaded module's exports can be told apart. */
  readonly [FLOW]: true;
}

export type AnyFlow = Flow<z.ZodType | undefined, unknown>;

export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** The parameters a flow is called with (its schema's input): what a run of it may be given. */
export type FlowParameters<F> = F extends Flow<infer S, unknown> ? InputOf<S> : never;
const FLOW = Symbol.for('drover.flow');

export function isFlow(value: unknown): value is AnyFlow {
  return typeof value === 'function' && (value as { [FLOW]?: unknown })[FLOW] === true;
}

/**
 * Defines a flow. `fn` receives the parameters parsed and typed by `parameters`, and a context
 * with the run's id, a logger and an abort signal. Calling the flow runs it in this process,
 * with its retries and timeout, and no server.
 *
 * @example
 * export const etl = flow({ name: 'etl', parameters: z.object({ date: z.string() }), retries: 2 }, async ({ date }, ctx) => {
 *   ctx.logger.info(`loading ${date}`);
 *   return { rows: 42 };
 * });
 */
export function flow<S extends z.ZodType | undefined = undefined, R = unknown>(
  options: FlowOptions<S>,
  fn: (parameters: ParamsOf<S>, ctx: FlowContext) => Promise<R> | R,
): Flow<S, R> {
  const schema = options.parameters;
  const parseParameters = (raw: unknown) => (schema ? schema.parse(raw ?? {}) : {}) as ParamsOf<S>;
  const local = async (raw: InputOf<S>): Promise<R> => {
    const parameters = parseParameters(raw);
    const attempts = (options.retries ?? 0) + 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await runAttempt(fn, parameters, options, { flowRunId: 'local', flowRunName: options.name, deploymentName: null, attempt }, LOCAL_LOGS);
      } catch (error) {
        if (attempt >= attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, (options.retryDelaySeconds ?? 0) * 1000));
      }
    }
  };
  Object.defineProperty(local, 'name', { value: options.name });
  const caller = callerOf(new Error().stack ?? '');
  return Object.assign(local, {
    options,
    fn,
    parseParameters,
    definedIn: caller?.file ?? null,
    definedAt: caller?.position ?? null,
    parameterSchema: () => (schema ? (z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>) : null),
    [FLOW]: true as const,
  }) as unknown as Flow<S, R>;
}

/**
 * This module as a stack frame names it: its built file, or its source when source maps are on
 * (tsx, `--enable-source-maps`), which would otherwise be taken for the caller.
 */
const OWN_FILES = new Set([fileURLToPath(import.meta.url), fileURLToPath(new URL('../src/flow.ts', import.meta.url))]);

/**
 * The code that called `flow()`: the first stack frame in a user's file. Frames of Node itself
 * (`node:internal/…`), of packages and of this file are skipped. Under tsx, a `.ts` file of a
 * CommonJS package runs as a `data:` URL that names the file in its `filePath` parameter; its
 * positions are those of the compiled code, so such a frame gives the file alone.
 */
function callerOf(stack: string): { file: string; position: SourcePosition | null } | null {
  for (const line of stack.split('\n').slice(1)) {
    const frame = /^\s*at (?:async )?(?:[^ ]*? \((.+)\)|(.+))$/.exec(line);
    const location = /^(.+):(\d+):(\d+)$/.exec(frame?.[1] ?? frame?.[2] ?? '');
    if (!location) continue;
    const [, where = '', lineNumber, column] = location;
    let file: string | null = null;
    let position: SourcePosition | null = { line: Number(lineNumber), column: Number(column) };
    if (where.startsWith('file://')) file = fileURLToPath(where);
    else if (isAbsolute(where)) file = where;
    else if (where.startsWith('data:')) {
      file = new URL(where).searchParams.get('filePath');
      position = null;
    }
    if (file && !OWN_FILES.has(file) && !file.includes('/node_modules/')) return { file, position };
  }
  return null;
}

/** Thrown into a run when its `timeoutSeconds` passes. */
export class FlowTimeoutError extends RunError {
  override readonly name = 'FlowTimeoutError';
  constructor(readonly seconds: number) {
    super('FLOW_TIMEOUT', `Flow run timed out after ${seconds} s`, { seconds });
  }
}

/** A flow called directly logs to the console only. */
const LOCAL_LOGS: LogOutput = { add: () => {}, echo: true, flush: async () => {} };

/**
 * One attempt of a flow body: `signal` aborts on timeout or when `cancel` fires; console output is
 * captured into `logs` when the flow logs prints.
 */
export async function runAttempt<R>(
  fn: (parameters: never, ctx: FlowContext) => Promise<R> | R,
  parameters: unknown,
  options: FlowOptions<z.ZodType | undefined>,
  run: Omit<FlowContext, 'logger' | 'signal'>,
  logs: LogOutput,
  cancel?: AbortSignal,
): Promise<R> {
  const controller = new AbortController();
  const onCancel = () => controller.abort(cancel?.reason);
  cancel?.addEventListener('abort', onCancel, { once: true });
  if (cancel?.aborted) onCancel();
  let timer: NodeJS.Timeout | undefined;
  const timeout =
    options.timeoutSeconds === undefined
      ? new Promise<never>(() => {})
      : new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => {
              const error = new FlowTimeoutError(options.timeoutSeconds as number);
              controller.abort(error);
              reject(error);
            },
            (options.timeoutSeconds as number) * 1000,
          );
        });
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  const ctx: FlowContext = { ...run, logger: createLogger(logs.add, logs.echo), signal: controller.signal };
  try {
    return await withLogScope(logs.add, options.logPrints ?? true, logs.echo, run.flowRunId, () =>
      Promise.race([Promise.resolve().then(() => fn(parameters as never, ctx)), timeout, aborted]),
    );
  } finally {
    clearTimeout(timer);
    cancel?.removeEventListener('abort', onCancel);
  }
}
