/**
 * OpenTelemetry for workers, jobs and `runDeployment`: on only when `OTEL_EXPORTER_OTLP_ENDPOINT`
 * is set (the exporter reads it and the other standard `OTEL_EXPORTER_OTLP_*` variables itself).
 * Until then nothing of OpenTelemetry is imported: `setupTracing` returns undefined and every hook
 * is one check of `currentTracing()`.
 *
 * Spans are linked across processes by W3C `traceparent` strings: the server stores the trigger's
 * on the run, the worker passes its job span's to the job as `TRACEPARENT`, and `runDeployment`
 * sends the active span's with the run it creates.
 */
import type * as OtelApi from '@opentelemetry/api';

/** A span as Drover's hooks use it. */
export interface TraceSpan {
  /** This span's W3C `traceparent`: what a child in another process parents to. */
  readonly traceParent: string;
  setAttributes(attributes: Record<string, string | number | boolean>): void;
  /** Marks the span failed with this message. */
  fail(message: string): void;
  end(): void;
}

/** The process's tracer, once `setupTracing` has loaded the SDK. */
export interface Tracing {
  /** A span under `parent` (a `traceparent`), or under the active span when `parent` is absent. */
  startSpan(name: string, options?: { parent?: string | null; attributes?: Record<string, string | number | boolean>; startTime?: number }): TraceSpan;
  /** Runs `fn` with `span` active, so spans started inside (`runDeployment` in a flow) are its children. */
  withSpan<T>(span: TraceSpan, fn: () => T): T;
  /** The active span's `traceparent`, if any. */
  activeTraceParent(): string | undefined;
  /** Sends the spans not sent yet. */
  flush(): Promise<void>;
}

// One per process, even when two copies of this package are loaded (a flow project's and the engine's).
const SLOT = Symbol.for('drover.tracing');
type Slot = { loading?: Promise<Tracing>; current?: Tracing };
const slots = globalThis as Record<symbol, Slot | undefined>;
slots[SLOT] ??= {};
const slot = slots[SLOT];

/** The process's tracer when tracing is on and set up, else undefined. */
export function currentTracing(): Tracing | undefined {
  return slot.current;
}

/**
 * Loads the OpenTelemetry SDK and exports spans over OTLP/HTTP (JSON) when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; once per process.
 * Returns undefined, loading nothing, when neither is.
 */
export async function setupTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Promise<Tracing | undefined> {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return undefined;
  slot.loading ??= load(env.OTEL_SERVICE_NAME || serviceName);
  slot.current = await slot.loading;
  return slot.current;
}

async function load(serviceName: string): Promise<Tracing> {
  const [api, sdk, exporter, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new sdk.NodeTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new sdk.BatchSpanProcessor(new exporter.OTLPTraceExporter())],
  });
  provider.register();
  const tracer = provider.getTracer('@drover/client');
  const spans = new WeakMap<TraceSpan, OtelApi.Span>();
  const wrap = (span: OtelApi.Span): TraceSpan => {
    const wrapped: TraceSpan = {
      traceParent: formatTraceParent(span.spanContext()),
      setAttributes: (attributes) => void span.setAttributes(attributes),
      fail: (message) => void span.setStatus({ code: api.SpanStatusCode.ERROR, message }),
      end: () => span.end(),
    };
    spans.set(wrapped, span);
    return wrapped;
  };
  return {
    startSpan(name, options = {}) {
      const parent = options.parent ? parseTraceParent(api, options.parent) : options.parent === null ? api.ROOT_CONTEXT : api.context.active();
      return wrap(tracer.startSpan(name, { attributes: options.attributes, startTime: options.startTime }, parent));
    },
    withSpan(span, fn) {
      const real = spans.get(span);
      return real ? api.context.with(api.trace.setSpan(api.context.active(), real), fn) : fn();
    },
    activeTraceParent() {
      const span = api.trace.getActiveSpan();
      return span ? formatTraceParent(span.spanContext()) : undefined;
    },
    flush: () => provider.forceFlush(),
  };
}

function formatTraceParent({ traceId, spanId, traceFlags }: OtelApi.SpanContext): string {
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

function parseTraceParent(api: typeof OtelApi, traceparent: string): OtelApi.Context {
  const [, traceId = '', spanId = '', flags = '00'] = traceparent.split('-');
  return api.trace.setSpanContext(api.ROOT_CONTEXT, { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true });
}
