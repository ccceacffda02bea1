import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { createLogger, type FlowContext, type LogOutput, withLogScope } from './context.js';

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
  /** Marks flow objects, so a loaded module's exports can be told apart. */
  readonly [FLOW]: true;
}

export type AnyFlow = Flow<z.ZodType | undefined, unknown>;

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
  return Object.assign(local, {
    options,
    fn,
    parseParameters,
    definedIn: callerFile(),
    parameterSchema: () => (schema ? (z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>) : null),
    [FLOW]: true as const,
  }) as unknown as Flow<S, R>;
}

/** The file of the code that called `flow()`: the first stack frame outside this file. */
/**
 * This module as a stack frame names it: its built file, or its source when source maps are on
 * (tsx, `--enable-source-maps`), which would otherwise be taken for the caller.
 */
const OWN_FILES = new Set([fileURLToPath(import.meta.url), fileURLToPath(new URL('../src/flow.ts', import.meta.url))]);

function callerFile(): string | null {
  for (const line of (new Error().stack ?? '').split('\n').slice(1)) {
    const match = /\(?((?:file:\/\/)?\/[^():]+):\d+:\d+\)?$/.exec(line.trim());
    if (!match) continue;
    const file = (match[1] as string).startsWith('file://') ? fileURLToPath(match[1] as string) : (match[1] as string);
    if (!OWN_FILES.has(file) && !file.includes('/node_modules/')) return file;
  }
  return null;
}

/** Thrown into a run when its `timeoutSeconds` passes. */
export class FlowTimeoutError extends Error {
  override readonly name = 'FlowTimeoutError';
  constructor(readonly seconds: number) {
    super(`Flow run timed out after ${seconds} s`);
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
          timer = setTimeout(() => {
            const error = new FlowTimeoutError(options.timeoutSeconds as number);
            controller.abort(error);
            reject(error);
          }, options.timeoutSeconds as number * 1000);
        });
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  const ctx: FlowContext = { ...run, logger: createLogger(logs.add, logs.echo), signal: controller.signal };
  try {
    return await withLogScope(logs.add, options.logPrints ?? true, logs.echo, () =>
      Promise.race([Promise.resolve().then(() => fn(parameters as never, ctx)), timeout, aborted]),
    );
  } finally {
    clearTimeout(timer);
    cancel?.removeEventListener('abort', onCancel);
  }
}
