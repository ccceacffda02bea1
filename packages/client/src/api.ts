/**
 * The typed API client. Its methods take and return @drover/schemas types only (the server's
 * router type is used inside, never shipped), and every error leaves as an SDK error.
 */
import { randomUUID } from 'node:crypto';
import type {
  BaseJobTemplate,
  ClaimDeploymentRunsInput,
  ClaimedFlowRun,
  ClaimRunsInput,
  Deployment,
  DeploymentCreate,
  DeploymentDeleted,
  DeploymentFilter,
  DeploymentScheduleCreate,
  DeploymentScheduleUpdate,
  DeploymentUpdate,
  DeploymentUpserted,
  Flow,
  FlowCreate,
  FlowRun,
  FlowRunCount,
  FlowRunCountFilter,
  FlowRunCreate,
  FlowRunDeleted,
  FlowRunFilter,
  LogBatch,
  LogQuery,
  LogRecord,
  LogsAppended,
  OrchestrationResult,
  PoolWorker,
  RunActivity,
  RunActivityQuery,
  RunHeartbeat,
  RunHeartbeatResult,
  SchedulePreview,
  SchedulePreviewInput,
  ServerHealth,
  ServerVersion,
  SetInfrastructureInput,
  SetStateInput,
  State,
  WorkerHeartbeat,
  WorkPool,
  WorkPoolCreate,
  WorkPoolDeleted,
  WorkPoolType,
  WorkPoolUpdate,
  WorkQueue,
  WorkQueueCreate,
  WorkQueueDeleted,
  WorkQueueRef,
  WorkQueueUpdate,
} from '@drover/schemas';
import type { AppRouter } from '@drover/server';
import { createTRPCClient, type TRPCClient } from '@trpc/client';
import { toSdkError } from './errors.js';
import { rpcLink } from './rpcLink.js';
import { apiSettings } from './settings.js';

export interface ClientOptions {
  /**
   * The server, e.g. `http://127.0.0.1:4200`, or several replicas separated by commas, each asked in
   * turn when one cannot be reached; `DROVER_API_URL` or the profile when absent.
   */
  readonly apiUrl?: string;
  /** Sent as a bearer token; `DROVER_API_KEY` or the profile when absent. */
  readonly apiKey?: string;
}

/** Procedures that may wait on the server before answering. */
const LONG_POLLS = new Set(['flowRuns.wait', 'workPools.claimRuns', 'deployments.claimRuns']);
/**
 * Mutations that do the same when done twice, so a request whose answer was lost may be sent
 * again (to another replica): upserts, and `flowRuns.create`, which always carries an idempotency key.
 */
const REPEATABLE = new Set(['flowRuns.create', 'deployments.upsert', 'deployments.upsertMany']);

/** A Drover API client. Build one with `getClient()`. */
export class DroverClient {
  /** The server's URL, or the replicas' separated by commas: what a worker passes on to its jobs as DROVER_API_URL. */
  readonly apiUrl: string;
  /** The key sent with every request, if any (workers pass it on to their jobs). */
  readonly apiKey: string | undefined;
  readonly #trpc: TRPCClient<AppRouter>;

  constructor(options: ClientOptions = {}) {
    const settings = apiSettings(options);
    this.apiUrl = settings.apiUrl;
    this.apiKey = settings.apiKey;
    const headers: Record<string, string> = settings.apiKey ? { authorization: `Bearer ${settings.apiKey}` } : {};
    // Calls made in the same turn of the event loop travel in one request; long-polls go alone,
    // since a batch's answer waits for its slowest call and would hold every other call back.
    this.#trpc = createTRPCClient<AppRouter>({
      links: [rpcLink({ urls: settings.apiUrls, headers, longPolls: LONG_POLLS, repeatable: REPEATABLE, maxItems: 100 })],
    });
  }

  /**
   * Runs one call, turning transport errors into SDK errors. `T` is what the router's procedure
   * returns, so a method whose declared result drifts from its procedure fails to compile.
   */
  async #call<T>(request: (api: TRPCClient<AppRouter>) => Promise<T>): Promise<T> {
    try {
      return await request(this.#trpc);
    } catch (error) {
      throw toSdkError(error, this.apiUrl);
    }
  }

  health = (): Promise<ServerHealth> => this.#call((api) => api.health.query());
  version = (): Promise<ServerVersion> => this.#call((api) => api.version.query());

  readonly flows = {
    createOrRead: (input: FlowCreate): Promise<Flow> => this.#call((api) => api.flows.createOrRead.mutate(input)),
    read: (flow: string): Promise<Flow> => this.#call((api) => api.flows.read.query({ flow })),
    list: (page?: { limit?: number; offset?: number }): Promise<Flow[]> => this.#call((api) => api.flows.list.query(page)),
  };

  readonly deployments = {
    upsert: (input: DeploymentCreate): Promise<DeploymentUpserted> => this.#call((api) => api.deployments.upsert.mutate(input)),
    /** Several deployments in one transaction: all are saved, or none is. */
    upsertMany: (inputs: DeploymentCreate[]): Promise<DeploymentUpserted[]> => this.#call((api) => api.deployments.upsertMany.mutate({ deployments: inputs })),
    read: (deployment: string): Promise<Deployment> => this.#call((api) => api.deployments.read.query({ deployment })),
    list: (filter: DeploymentFilter = {}): Promise<Deployment[]> => this.#call((api) => api.deployments.list.query(filter)),
    update: (deployment: string, changes: DeploymentUpdate): Promise<Deployment> => this.#call((api) => api.deployments.update.mutate({ deployment, changes })),
    delete: (deployment: string): Promise<DeploymentDeleted> => this.#call((api) => api.deployments.delete.mutate({ deployment })),
    pause: (deployment: string): Promise<Deployment> => this.#call((api) => api.deployments.pause.mutate({ deployment })),
    resume: (deployment: string): Promise<Deployment> => this.#call((api) => api.deployments.resume.mutate({ deployment })),
    addSchedule: (deployment: string, schedule: DeploymentScheduleCreate): Promise<Deployment> =>
      this.#call((api) => api.deployments.addSchedule.mutate({ deployment, schedule })),
    updateSchedule: (deployment: string, scheduleId: string, changes: DeploymentScheduleUpdate): Promise<Deployment> =>
      this.#call((api) => api.deployments.updateSchedule.mutate({ deployment, scheduleId, changes })),
    removeSchedule: (deployment: string, scheduleId: string): Promise<Deployment> =>
      this.#call((api) => api.deployments.removeSchedule.mutate({ deployment, scheduleId })),
    schedulePreview: (input: SchedulePreviewInput): Promise<SchedulePreview> => this.#call((api) => api.deployments.schedulePreview.query(input)),
    /** Long-poll; aborting `signal` hangs up, and the server then hands out nothing. */
    claimRuns: (input: ClaimDeploymentRunsInput, signal?: AbortSignal): Promise<ClaimedFlowRun[]> =>
      this.#call((api) => api.deployments.claimRuns.mutate(input, { signal })),
  };

  readonly flowRuns = {
    /**
     * Creates a run. Without an `idempotencyKey` the SDK sends one of its own (`drover-sdk-<uuid>`),
     * so a create sent again after its answer was lost (a dropped connection, a replica that died)
     * returns the run it made instead of making a second.
     */
    create: (input: FlowRunCreate): Promise<FlowRun> =>
      this.#call((api) => api.flowRuns.create.mutate({ ...input, idempotencyKey: input.idempotencyKey ?? `drover-sdk-${randomUUID()}` })),
    read: (id: string): Promise<FlowRun> => this.#call((api) => api.flowRuns.read.query({ id })),
    list: (filter: FlowRunFilter = {}): Promise<FlowRun[]> => this.#call((api) => api.flowRuns.list.query(filter)),
    /** How many runs match the filter (the filters of `list`, without its order and page). */
    count: (filter: FlowRunCountFilter = {}): Promise<FlowRunCount> => this.#call((api) => api.flowRuns.count.query(filter)),
    history: (id: string): Promise<State[]> => this.#call((api) => api.flowRuns.history.query({ id })),
    setState: (input: SetStateInput): Promise<OrchestrationResult> => this.#call((api) => api.flowRuns.setState.mutate(input)),
    cancel: (id: string, message?: string): Promise<OrchestrationResult> => this.#call((api) => api.flowRuns.cancel.mutate({ id, message })),
    /** Runs a FAILED, CRASHED or CANCELLED run again: SCHEDULED now, history kept (REJECT, with the reason, otherwise). */
    retry: (id: string): Promise<OrchestrationResult> => this.#call((api) => api.flowRuns.retry.mutate({ id })),
    delete: (id: string): Promise<FlowRunDeleted> => this.#call((api) => api.flowRuns.delete.mutate({ id })),
    /** Records where a claimed run's job lives; `claimToken` is the one its claim returned. */
    setInfrastructure: (input: SetInfrastructureInput): Promise<FlowRun> => this.#call((api) => api.flowRuns.setInfrastructure.mutate(input)),
    /** Tells the server these runs' jobs are alive; answers which to cancel and which are no longer the sender's. */
    heartbeat: (runs: RunHeartbeat['runs']): Promise<RunHeartbeatResult> => this.#call((api) => api.flowRuns.heartbeat.mutate({ runs })),
    /** Runs by state in each hour of a window (at most 7 days), by expected start time. */
    activity: (query: RunActivityQuery): Promise<RunActivity> => this.#call((api) => api.flowRuns.activity.query(query)),
    /** Long-poll: the run once it is final, or as it is after `timeoutMs`. */
    wait: (id: string, timeoutMs: number): Promise<FlowRun> => this.#call((api) => api.flowRuns.wait.query({ id, timeoutMs })),
    appendLogs: (lines: LogBatch): Promise<LogsAppended> => this.#call((api) => api.flowRuns.appendLogs.mutate(lines)),
    logs: (query: LogQuery): Promise<LogRecord[]> => this.#call((api) => api.flowRuns.logs.query(query)),
  };

  readonly workPools = {
    create: (input: WorkPoolCreate): Promise<WorkPool> => this.#call((api) => api.workPools.create.mutate(input)),
    read: (name: string): Promise<WorkPool> => this.#call((api) => api.workPools.read.query({ name })),
    list: (): Promise<WorkPool[]> => this.#call((api) => api.workPools.list.query()),
    update: (name: string, changes: WorkPoolUpdate): Promise<WorkPool> => this.#call((api) => api.workPools.update.mutate({ name, changes })),
    pause: (name: string): Promise<WorkPool> => this.#call((api) => api.workPools.pause.mutate({ name })),
    resume: (name: string): Promise<WorkPool> => this.#call((api) => api.workPools.resume.mutate({ name })),
    delete: (name: string): Promise<WorkPoolDeleted> => this.#call((api) => api.workPools.delete.mutate({ name })),
    defaultBaseJobTemplate: (type: WorkPoolType): Promise<BaseJobTemplate> => this.#call((api) => api.workPools.defaultBaseJobTemplate.query({ type })),
    /** Long-poll; aborting `signal` hangs up, and the server then hands out nothing. */
    claimRuns: (input: ClaimRunsInput, signal?: AbortSignal): Promise<ClaimedFlowRun[]> =>
      this.#call((api) => api.workPools.claimRuns.mutate(input, { signal })),
  };

  readonly workQueues = {
    create: (input: WorkQueueCreate): Promise<WorkQueue> => this.#call((api) => api.workQueues.create.mutate(input)),
    read: (ref: WorkQueueRef): Promise<WorkQueue> => this.#call((api) => api.workQueues.read.query(ref)),
    list: (workPoolName: string): Promise<WorkQueue[]> => this.#call((api) => api.workQueues.list.query({ workPoolName })),
    update: (ref: WorkQueueRef, changes: WorkQueueUpdate): Promise<WorkQueue> => this.#call((api) => api.workQueues.update.mutate({ ...ref, changes })),
    delete: (ref: WorkQueueRef): Promise<WorkQueueDeleted> => this.#call((api) => api.workQueues.delete.mutate(ref)),
  };

  readonly workers = {
    heartbeat: (input: WorkerHeartbeat): Promise<PoolWorker> => this.#call((api) => api.workers.heartbeat.mutate(input)),
    list: (workPoolName: string): Promise<PoolWorker[]> => this.#call((api) => api.workers.list.query({ workPoolName })),
  };
}

/** A client configured from `options`, `DROVER_API_URL` / `DROVER_API_KEY`, or the saved profile. */
export function getClient(options: ClientOptions = {}): DroverClient {
  return new DroverClient(options);
}
