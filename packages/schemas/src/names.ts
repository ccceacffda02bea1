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

/** Page through a list: at most `limit` items after skipping `offset`. */
export const Page = z.strictObject({
  limit: z.number().int().min(1).max(1000).default(100),
  offset: z.number().int().min(0).default(0),
});
