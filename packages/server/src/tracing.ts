/**
 * OpenTelemetry on the server: on only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (config.ts reads
 * it). Until then nothing of OpenTelemetry is loaded (the SDK is imported dynamically below, the
 * API only for its types), and `runTraceContext` is one check of a variable.
 *
 * A traced server starts each run's trace: `flowRuns.create` opens a `drover.flowRun.create` span
 * (a child of the caller's span when `runDeployment` sent one) and stores its `traceparent` on the
 * run, where workers and jobs find it and hang their claim, job and flow spans under it.
 *
 * The OpenTelemetry SDK registers itself for the whole process, so this state is the process's too.
 * The client has the same helpers for workers and jobs (`@drover/client`'s tracing.ts); the server
 * cannot import the client (dependencies point one way), so the few lines that format and parse a
 * `traceparent` are repeated here.
 */
import type * as OtelApi from '@opentelemetry/api';
import type { Span, Tracer } from '@opentelemetry/api';
import { VERSION } from './version.js';

interface Active {
  readonly tracer: Tracer;
  readonly api: typeof OtelApi;
  readonly provider: { forceFlush(): Promise<void>; shutdown(): Promise<void> };
  users: number;
}

let active: Active | undefined;
let starting: Promise<Active> | undefined;

/** Where the server exports spans: the OTLP/HTTP endpoint's traces path, as the OpenTelemetry spec composes it. */
export function tracesUrl(endpoint: string, tracesEndpoint?: string): string {
  return tracesEndpoint || `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Loads the OpenTelemetry SDK and exports spans to `url` (OTLP over HTTP, JSON). Returns what stops
 * it: the last server of the process to stop flushes the spans and shuts the SDK down.
 */
export async function startServerTracing(url: string, serviceName: string): Promise<() => Promise<void>> {
  starting ??= (async () => {
    const [api, sdk, exporter, resources] = await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
    ]);
    const provider = new sdk.NodeTracerProvider({
      resource: resources.resourceFromAttributes({ 'service.name': serviceName, 'service.version': VERSION }),
      spanProcessors: [new sdk.BatchSpanProcessor(new exporter.OTLPTraceExporter({ url }))],
    });
    provider.register();
    return { api, provider, tracer: provider.getTracer('@drover/server', VERSION), users: 0 };
  })();
  const current = await starting;
  active = current;
  current.users++;
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    current.users--;
    await current.provider.forceFlush();
    if (current.users === 0) {
      active = undefined;
      starting = undefined;
      await current.provider.shutdown();
      current.api.trace.disable();
      current.api.context.disable();
      current.api.propagation.disable();
    }
  };
}

/**
 * The trace context to store on a new run: when the server traces, a `drover.flowRun.create` span
 * (under `parent`, the caller's span, when given) ends at once and its `traceparent` is returned;
 * otherwise the caller's own `traceparent`, or null.
 */
export function runTraceContext(parent: string | undefined, run: { id: string; deploymentId: string; name: string }): string | null {
  if (!active) return parent ?? null;
  const { api, tracer } = active;
  const parentContext = parent ? parseTraceParent(api, parent) : api.ROOT_CONTEXT;
  const span = tracer.startSpan(
    'drover.flowRun.create',
    { kind: api.SpanKind.SERVER, attributes: { 'drover.flow_run.id': run.id, 'drover.flow_run.name': run.name, 'drover.deployment.id': run.deploymentId } },
    parentContext,
  );
  span.end();
  return formatTraceParent(span);
}

function formatTraceParent(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

function parseTraceParent(api: Active['api'], traceparent: string) {
  const [, traceId = '', spanId = '', flags = '00'] = traceparent.split('-');
  return api.trace.setSpanContext(api.ROOT_CONTEXT, { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true });
}
