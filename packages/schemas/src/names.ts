import { z } from 'zod';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const RULE = '1-100 letters, digits, "-", "_" or ".", starting with a letter or digit';

function name(kind: string) {
  return z.string().superRefine((value, ctx) => {
    if (!NAME.test(value)) ctx.addIssue({ code: 'custom', message: `Invalid ${kind} name "${value}": use ${RULE}` });
  });
}

/** A flow's name: the first half of `flow-name/deployment-name`. */
export const FlowName = name('flow');
/** A deployment's name, unique within its flow. */
export const DeploymentName = name('deployment');
/** A work pool's name. */
export const WorkPoolName = name('work pool');
/** A work queue's name, unique within its pool. */
export const WorkQueueName = name('work queue');
/** A schedule's slug, unique within its deployment; keeps a schedule's identity across redeploys. */
export const ScheduleSlug = name('schedule slug');

/** A worker's name: free text (workers default to `hostname-pid`), but no `/` or `%`. */
export const WorkerName = z.string().superRefine((value, ctx) => {
  if (value.length < 1 || value.length > 200 || /[/%]/.test(value)) {
    ctx.addIssue({ code: 'custom', message: `Invalid worker name "${value}": use 1-200 characters without "/" or "%"` });
  }
});

/** `flow-name/deployment-name`, how users address a deployment. */
export const DeploymentFullName = z.string().superRefine((value, ctx) => {
  const parts = value.split('/');
  if (parts.length !== 2 || !NAME.test(parts[0] as string) || !NAME.test(parts[1] as string)) {
    ctx.addIssue({
      code: 'custom',
      message: `Invalid deployment "${value}": expected flow-name/deployment-name, each ${RULE}`,
    });
  }
});

/** Splits `flow-name/deployment-name`; call on validated input. */
export function splitDeploymentName(fullName: string): { flowName: string; deploymentName: string } {
  const slash = fullName.indexOf('/');
  return { flowName: fullName.slice(0, slash), deploymentName: fullName.slice(slash + 1) };
}

/** A tag: free text, short. */
export const Tag = z.string().min(1).max(100);

/** A UUID (Drover issues time-ordered UUIDv7 ids). */
export const Id = z.uuid();

/** An instant as ISO-8601 UTC (`2026-01-01T09:00:00.000Z`), as the server stores and returns it. */
export const Timestamp = z.iso.datetime({ offset: true });

/** A JSON object of named values (parameters, job variables). */
export const JsonObject = z.record(z.string(), z.unknown());
export type JsonObject = z.infer<typeof JsonObject>;

/**
 * Most bytes of JSON (UTF-8) in one input object: a run's or deployment's parameters, job
 * variables, a parameter schema. Large data belongs in storage, passed by reference. The cap keeps
 * a run's row (deployment parameters merged with the run's, and its job variables) within a few
 * MiB, so memory per listed row stays bounded.
 */
export const MAX_JSON_OBJECT_BYTES = 512 * 1024;

const utf8 = new TextEncoder();

/** The size check of the two below: refuses a value over `maxBytes` bytes of JSON, naming `field`. */
function atMostBytes(field: string, maxBytes: number) {
  return (value: unknown, ctx: z.RefinementCtx) => {
    const text = JSON.stringify(value) ?? '';
    // A UTF-8 character is 1-3 bytes per UTF-16 unit: only a long text needs encoding to know.
    if (text.length * 3 <= maxBytes) return;
    const bytes = utf8.encode(text).length;
    if (bytes > maxBytes) {
      ctx.addIssue({
        code: 'custom',
        message: `${field} is ${bytes} bytes of JSON, over the limit of ${maxBytes} bytes: pass large data by reference (a URL or file path) instead`,
      });
    }
  };
}

/**
 * A {@link JsonObject} input of at most `maxBytes` bytes of JSON; a larger one is refused with
 * its size, the limit and `field` named.
 */
export function jsonObjectAtMost(field: string, maxBytes: number = MAX_JSON_OBJECT_BYTES) {
  return JsonObject.superRefine(atMostBytes(field, maxBytes));
}

/** Any JSON value of at most `maxBytes` bytes of JSON (a flow's result). */
export function jsonAtMost(field: string, maxBytes: number = MAX_JSON_OBJECT_BYTES) {
  return z.json().superRefine(atMostBytes(field, maxBytes));
}

/** Page through a list: at most `limit` items after skipping `offset`. */
export const Page = z.strictObject({
  limit: z.number().int().min(1).max(1000).default(100),
  offset: z.number().int().min(0).default(0),
});
