import { z } from 'zod';
import { Id, JsonObject, Timestamp, WorkerName, WorkPoolName, WorkQueueName } from './names.js';

/** The infrastructure a pool's workers launch jobs on. */
export const WorkPoolType = z.enum(['process', 'docker', 'kubernetes']);
export type WorkPoolType = z.infer<typeof WorkPoolType>;

/**
 * A pool's job template: the job configuration with `{{ variable }}` placeholders, and the JSON
 * schema of the variables (with their defaults) that deployments and runs may set.
 */
export const BaseJobTemplate = z.strictObject({
  jobConfiguration: JsonObject,
  variables: z.looseObject({ type: z.literal('object'), properties: z.record(z.string(), JsonObject) }),
});
export type BaseJobTemplate = z.infer<typeof BaseJobTemplate>;

/** The job configuration every infrastructure type understands, after rendering. */
export const WorkPoolJobConfiguration = z.looseObject({
  command: z.string().nullable(),
  env: z.record(z.string(), z.string().nullable()),
  labels: z.record(z.string(), z.string()),
  name: z.string().nullable(),
});
export type WorkPoolJobConfiguration = z.infer<typeof WorkPoolJobConfiguration>;

/** READY once a worker polls it; NOT_READY with no online worker; PAUSED when paused. */
export const WorkPoolStatus = z.enum(['READY', 'NOT_READY', 'PAUSED']);
export type WorkPoolStatus = z.infer<typeof WorkPoolStatus>;

export const WorkPool = z.strictObject({
  id: Id,
  name: z.string(),
  type: WorkPoolType,
  description: z.string().nullable(),
  isPaused: z.boolean(),
  concurrencyLimit: z.number().int().nullable(),
  defaultQueueId: Id,
  baseJobTemplate: BaseJobTemplate,
  status: WorkPoolStatus,
  created: Timestamp,
  updated: Timestamp,
});
export type WorkPool = z.infer<typeof WorkPool>;

export const WorkPoolCreate = z.strictObject({
  name: WorkPoolName,
  type: WorkPoolType,
  description: z.string().max(10_000).nullable().default(null),
  isPaused: z.boolean().default(false),
  concurrencyLimit: z.number().int().min(0).nullable().default(null),
  /** The type's default template when absent. */
  baseJobTemplate: BaseJobTemplate.optional(),
});
export type WorkPoolCreate = z.input<typeof WorkPoolCreate>;

export const WorkPoolUpdate = z.strictObject({
  description: z.string().max(10_000).nullable().optional(),
  isPaused: z.boolean().optional(),
  concurrencyLimit: z.number().int().min(0).nullable().optional(),
  baseJobTemplate: BaseJobTemplate.optional(),
});
export type WorkPoolUpdate = z.input<typeof WorkPoolUpdate>;

/** A queue inside a pool. Priority 1 is served first; a lower priority waits until higher ones are empty. */
export const WorkQueue = z.strictObject({
  id: Id,
  name: z.string(),
  description: z.string().nullable(),
  isPaused: z.boolean(),
  concurrencyLimit: z.number().int().nullable(),
  priority: z.number().int(),
  workPoolId: Id,
  workPoolName: z.string(),
  lastPolled: Timestamp.nullable(),
  /** PAUSED by its own flag; NOT_READY when its pool is paused, has no online worker, or no worker polled it lately. */
  status: z.enum(['READY', 'NOT_READY', 'PAUSED']),
  /** Why it is not READY, in words; null when READY. */
  statusReason: z.string().nullable(),
  created: Timestamp,
});
export type WorkQueue = z.infer<typeof WorkQueue>;

export const WorkQueueCreate = z.strictObject({
  workPoolName: WorkPoolName,
  name: WorkQueueName,
  description: z.string().max(10_000).nullable().default(null),
  isPaused: z.boolean().default(false),
  concurrencyLimit: z.number().int().min(0).nullable().default(null),
  /** The lowest free priority when absent. */
  priority: z.number().int().min(1).max(1_000_000).optional(),
});
export type WorkQueueCreate = z.input<typeof WorkQueueCreate>;

export const WorkQueueUpdate = z.strictObject({
  description: z.string().max(10_000).nullable().optional(),
  isPaused: z.boolean().optional(),
  concurrencyLimit: z.number().int().min(0).nullable().optional(),
  priority: z.number().int().min(1).max(1_000_000).optional(),
});
export type WorkQueueUpdate = z.input<typeof WorkQueueUpdate>;

/** A queue by pool and name. */
export const WorkQueueRef = z.strictObject({ workPoolName: WorkPoolName, name: WorkQueueName });
export type WorkQueueRef = z.infer<typeof WorkQueueRef>;

export const WorkerStatus = z.enum(['ONLINE', 'OFFLINE']);
export type WorkerStatus = z.infer<typeof WorkerStatus>;

/** A worker as its pool knows it: the record its heartbeats keep (the process itself is @drover/worker's `Worker`). */
export const PoolWorker = z.strictObject({
  id: Id,
  name: z.string(),
  workPoolName: z.string(),
  status: WorkerStatus,
  lastHeartbeat: Timestamp,
  heartbeatIntervalSeconds: z.number().int(),
  created: Timestamp,
});
export type PoolWorker = z.infer<typeof PoolWorker>;

/** A worker's heartbeat: registers it on first call. */
export const WorkerHeartbeat = z.strictObject({
  workPoolName: WorkPoolName,
  name: WorkerName,
  heartbeatIntervalSeconds: z.number().int().min(1).max(3600).default(30),
});
export type WorkerHeartbeat = z.input<typeof WorkerHeartbeat>;

/** A worker asks for due runs; they come back PENDING and are its to launch. */
export const ClaimRunsInput = z.strictObject({
  workPoolName: WorkPoolName,
  /** All of the pool's queues when absent. */
  workQueueNames: z.array(WorkQueueName).max(100).optional(),
  workerName: WorkerName,
  /** Runs due at or before this instant (now plus the worker's prefetch). */
  scheduledBefore: Timestamp,
  limit: z.number().int().min(1).max(1000).default(100),
  /** Wait up to this long for a run to become due before answering with none. */
  waitMs: z.number().int().min(0).max(60_000).default(0),
});
export type ClaimRunsInput = z.input<typeof ClaimRunsInput>;

/** A runner (`serve()`) asks for the due runs of its deployments. */
export const ClaimDeploymentRunsInput = z.strictObject({
  deploymentIds: z.array(Id).min(1).max(1000),
  workerName: WorkerName,
  scheduledBefore: Timestamp,
  limit: z.number().int().min(1).max(1000).default(100),
  waitMs: z.number().int().min(0).max(60_000).default(0),
});
export type ClaimDeploymentRunsInput = z.input<typeof ClaimDeploymentRunsInput>;

/** The work pool a delete removed. */
export const WorkPoolDeleted = z.strictObject({ name: z.string() });
export type WorkPoolDeleted = z.infer<typeof WorkPoolDeleted>;

/** The work queue a delete removed. */
export const WorkQueueDeleted = z.strictObject({ workPoolName: z.string(), name: z.string() });
export type WorkQueueDeleted = z.infer<typeof WorkQueueDeleted>;
