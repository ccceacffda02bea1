import { z } from 'zod';
import { DeploymentRef } from './deployments.js';
import { FlowName, Id, JsonObject, jsonObjectAtMost, Page, Tag, Timestamp, WorkPoolName, WorkQueueName } from './names.js';
import { OrchestrationStatus, State, StateProposal, StateType } from './states.js';

/** A W3C Trace Context `traceparent` header value: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. */
const TraceParent = z.string().regex(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'a W3C traceparent (00-<trace id>-<span id>-<flags>)');

/** One execution of a flow. */
export const FlowRun = z.strictObject({
  id: Id,
  name: z.string(),
  flowId: Id,
  flowName: z.string(),
  deploymentId: Id.nullable(),
  deploymentName: z.string().nullable(),
  state: State,
  parameters: JsonObject,
  tags: z.array(z.string()),
  idempotencyKey: z.string().nullable(),
  workPoolName: z.string().nullable(),
  workQueueName: z.string().nullable(),
  jobVariables: JsonObject,
  /** When the run was first due; never changes. */
  expectedStartTime: Timestamp,
  /** When the run is due now (moves with retries and concurrency waits) while it is SCHEDULED. */
  nextScheduledStartTime: Timestamp.nullable(),
  startTime: Timestamp.nullable(),
  endTime: Timestamp.nullable(),
  runCount: z.number().int(),
  /** How often the flow retries after FAILED or CRASHED (set by the engine when the run starts). */
  retries: z.number().int().nullable(),
  retryDelaySeconds: z.number().int().nullable(),
  /** The run whose flow started this one (`runDeployment` inside a flow), or null for a top-level run. */
  parentFlowRunId: Id.nullable(),
  /** Set for runs the scheduler created, with the schedule they came from. */
  autoScheduled: z.boolean(),
  scheduleId: Id.nullable(),
  workerName: z.string().nullable(),
  /** Where the run's job lives (a pid, container id or Kubernetes job name), so any worker can cancel it. */
  infrastructureId: z.string().nullable(),
  lastHeartbeat: Timestamp.nullable(),
  /** The flow's return value when it was JSON-serialisable. */
  result: z.json().nullable(),
  /**
   * The W3C `traceparent` of the span that triggered the run, present only when it was traced
   * (OpenTelemetry): the run's claim, job and flow spans join that trace.
   */
  traceContext: TraceParent.optional(),
  created: Timestamp,
  updated: Timestamp,
});
export type FlowRun = z.infer<typeof FlowRun>;

/** Create a run of a deployment. */
export const FlowRunCreate = z.strictObject({
  deployment: DeploymentRef,
  /** Shallow-merged over the deployment's parameters. */
  parameters: jsonObjectAtMost('parameters').default({}),
  /** Added to the deployment's tags. */
  tags: z.array(Tag).max(50).default([]),
  /** Unique per flow: the same key returns the same run. */
  idempotencyKey: z.string().min(1).max(500).optional(),
  name: z.string().min(1).max(200).optional(),
  /** When to start; now when absent. */
  scheduledTime: Timestamp.optional(),
  workQueueName: WorkQueueName.optional(),
  jobVariables: jsonObjectAtMost('jobVariables').default({}),
  /** The run that starts this one as its child (a subflow): cancelling the parent cancels it. */
  parentFlowRunId: Id.optional(),
  /** The caller's span (W3C `traceparent`), sent by `runDeployment` when it traces: the run joins that trace. */
  traceContext: TraceParent.optional(),
});
export type FlowRunCreate = z.input<typeof FlowRunCreate>;

/** Filters for listing runs; all given filters must match. */
export const FlowRunFilter = z.strictObject({
  states: z.array(StateType).max(9).optional(),
  stateName: z.string().min(1).max(100).optional(),
  deploymentId: Id.optional(),
  /** The children of this run. */
  parentFlowRunId: Id.optional(),
  flowName: FlowName.optional(),
  workPoolName: WorkPoolName.optional(),
  /** Runs carrying every one of these tags. */
  tags: z.array(Tag).max(50).optional(),
  expectedStartAfter: Timestamp.optional(),
  expectedStartBefore: Timestamp.optional(),
  /** `expectedStartTime` ascending (the default, soonest first) or descending. */
  sort: z.enum(['EXPECTED_START_ASC', 'EXPECTED_START_DESC']).default('EXPECTED_START_ASC'),
  page: Page.default({ limit: 100, offset: 0 }),
});
export type FlowRunFilter = z.input<typeof FlowRunFilter>;

/** The filters of `FlowRunFilter`, for a count: no order, no page. */
export const FlowRunCountFilter = FlowRunFilter.omit({ sort: true, page: true });
export type FlowRunCountFilter = z.input<typeof FlowRunCountFilter>;

/** How many runs a filter matches. */
export const FlowRunCount = z.strictObject({ count: z.number().int() });
export type FlowRunCount = z.infer<typeof FlowRunCount>;

/**
 * The secret a claim hands to the worker or runner that made it, and to the job it launches: only
 * its holder may say where the job lives, and a job whose claim has moved on (its run crashed
 * under it and was claimed again) learns so at its next heartbeat and stops.
 */
export const ClaimToken = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'a claim token as a claim returned it');
export type ClaimToken = z.infer<typeof ClaimToken>;

/** A run as its claim hands it out: with the token that proves the claim. */
export const ClaimedFlowRun = FlowRun.extend({ claimToken: ClaimToken });
export type ClaimedFlowRun = z.infer<typeof ClaimedFlowRun>;

/**
 * Propose a new state for a run. With `claimToken` (what jobs and workers send), a proposal from
 * a claim that is no longer the run's is ABORTed, so a stale job can never end another job's run.
 */
export const SetStateInput = z.strictObject({
  flowRunId: Id,
  state: StateProposal,
  claimToken: ClaimToken.optional(),
});
export type SetStateInput = z.input<typeof SetStateInput>;

/** Record where a claimed run's job lives; only the claim's holder may. */
export const SetInfrastructureInput = z.strictObject({
  id: Id,
  /** `process:host:pid:…`, `docker:…` or `kubernetes:…`, as the launcher that started the job wrote it. */
  infrastructureId: z.string().min(1).max(500),
  claimToken: ClaimToken,
});
export type SetInfrastructureInput = z.input<typeof SetInfrastructureInput>;

/** Runs whose jobs are alive, each with the token of the claim it runs under when it has one. */
export const RunHeartbeat = z.strictObject({
  runs: z
    .array(z.strictObject({ id: Id, claimToken: ClaimToken.optional() }))
    .min(1)
    .max(1000),
});
export type RunHeartbeat = z.input<typeof RunHeartbeat>;

/** What a run heartbeat learns: which runs are to be cancelled, and which are no longer the sender's. */
export const RunHeartbeatResult = z.strictObject({
  /** How many runs' heartbeats were recorded. */
  updated: z.number().int(),
  /** Runs asked to stop (CANCELLING): their jobs should stop and report CANCELLED. */
  cancelling: z.array(Id),
  /**
   * Runs that are no longer the sender's to run: finished, offered again, or claimed by another
   * job since (the server judged them CRASHED while it heard nothing). Their jobs must stop
   * without proposing anything.
   */
  lost: z.array(Id),
});
export type RunHeartbeatResult = z.infer<typeof RunHeartbeatResult>;

/** What orchestration decided, with the run's state afterwards. */
export const OrchestrationResult = z.strictObject({
  status: OrchestrationStatus,
  state: State,
  reason: z.string().nullable(),
  /** For WAIT: how long to wait before proposing again. */
  delaySeconds: z.number().nullable(),
});
export type OrchestrationResult = z.infer<typeof OrchestrationResult>;

export const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof LogLevel>;

/** A log line to add to a run. */
export const LogCreate = z.strictObject({
  flowRunId: Id,
  timestamp: Timestamp,
  level: LogLevel.default('info'),
  message: z.string().max(100_000),
});
export type LogCreate = z.input<typeof LogCreate>;

/** What deleting a run removed (with its history and logs). */
export const FlowRunDeleted = z.strictObject({ id: Id });
export type FlowRunDeleted = z.infer<typeof FlowRunDeleted>;

/** How many log lines a batch stored. */
export const LogsAppended = z.strictObject({ appended: z.number().int() });
export type LogsAppended = z.infer<typeof LogsAppended>;

/** Log lines to add, for one run or several, in one request. */
export const LogBatch = z.array(LogCreate).min(1).max(1000);
export type LogBatch = z.input<typeof LogBatch>;

/** A run's log line as stored; `id` orders the lines and pages them. */
export const LogRecord = z.strictObject({
  id: z.number().int(),
  flowRunId: Id,
  timestamp: Timestamp,
  level: LogLevel,
  message: z.string(),
});
export type LogRecord = z.infer<typeof LogRecord>;

/** Read a run's logs after `afterId` (exclusive), oldest first. */
export const LogQuery = z.strictObject({
  flowRunId: Id,
  afterId: z.number().int().min(0).default(0),
  limit: z.number().int().min(1).max(5000).default(1000),
  /** Only lines containing this text, compared without regard to case. */
  search: z.string().min(1).max(200).optional(),
});
export type LogQuery = z.input<typeof LogQuery>;

/** The longest window `RunActivityQuery` answers: 7 days of hourly buckets. */
const MAX_ACTIVITY_MS = 7 * 24 * 3_600_000;

/** Runs by state in each hour of a window, by expected start time (the dashboard's chart). */
export const RunActivityQuery = z
  .strictObject({ since: Timestamp, until: Timestamp })
  .refine(({ since, until }) => Date.parse(until) > Date.parse(since), { message: 'until must be later than since', path: ['until'] })
  .refine(({ since, until }) => Date.parse(until) - Date.parse(since) <= MAX_ACTIVITY_MS, { message: 'a window of at most 7 days', path: ['until'] });
export type RunActivityQuery = z.input<typeof RunActivityQuery>;

/** One hour of `RunActivity`: how many runs expected to start in it are in each state now. */
export const RunActivityBucket = z.strictObject({
  /** The hour's first instant (UTC). */
  hour: Timestamp,
  counts: z.partialRecord(StateType, z.number().int()),
});
export type RunActivityBucket = z.infer<typeof RunActivityBucket>;

/** The hours of the window that have runs, in time order. */
export const RunActivity = z.array(RunActivityBucket);
export type RunActivity = z.infer<typeof RunActivity>;
