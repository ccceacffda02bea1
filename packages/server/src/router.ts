/**
 * The API: every procedure takes and returns objects of @drover/schemas. Every input is parsed;
 * every output is checked against its schema too, but for the calls each run makes (create,
 * claims, state changes, heartbeats, logs): their answers are built by the store from typed rows,
 * and tRPC's output check costs about 10 µs a call (half of a call's tRPC cost), on four or more
 * calls per run.
 */
import {
  BaseJobTemplate,
  ClaimDeploymentRunsInput,
  type ClaimedFlowRun,
  ClaimRunsInput,
  Deployment,
  DeploymentCreate,
  DeploymentDeleted,
  DeploymentFilter,
  DeploymentRef,
  DeploymentScheduleCreate,
  DeploymentScheduleUpdate,
  DeploymentUpdate,
  DeploymentUpserted,
  defaultBaseJobTemplate,
  Flow,
  FlowCreate,
  FlowRun,
  FlowRunCount,
  FlowRunCountFilter,
  FlowRunCreate,
  FlowRunDeleted,
  FlowRunFilter,
  Id,
  LogBatch,
  LogQuery,
  LogRecord,
  type LogsAppended,
  OrchestrationResult,
  Page,
  PoolWorker,
  RunActivity,
  RunActivityQuery,
  RunHeartbeat,
  type RunHeartbeatResult,
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
  WorkPoolName,
  WorkPoolType,
  WorkPoolUpdate,
  WorkQueue,
  WorkQueueCreate,
  WorkQueueDeleted,
  WorkQueueRef,
  WorkQueueUpdate,
} from '@drover/schemas';
import { z } from 'zod';
import { procedure, router } from './trpc.js';
import { VERSION } from './version.js';

const ref = z.strictObject({ deployment: DeploymentRef });
const poolRef = z.strictObject({ name: WorkPoolName });
const runRef = z.strictObject({ id: Id });

export const appRouter = router({
  health: procedure.output(ServerHealth).query(() => ({ status: 'ok' as const })),
  version: procedure.output(ServerVersion).query(() => ({ version: VERSION })),

  flows: router({
    createOrRead: procedure
      .input(FlowCreate)
      .output(Flow)
      .mutation(({ ctx, input }) => ctx.store.flows.createOrRead(input)),
    read: procedure
      .input(z.strictObject({ flow: z.string().min(1).max(200) }))
      .output(Flow)
      .query(({ ctx, input }) => ctx.store.flows.read(input.flow)),
    list: procedure
      .input(Page.default({ limit: 100, offset: 0 }))
      .output(z.array(Flow))
      .query(({ ctx, input }) => ctx.store.flows.list(input)),
  }),

  deployments: router({
    upsert: procedure
      .input(DeploymentCreate)
      .output(DeploymentUpserted)
      .mutation(({ ctx, input }) => ctx.store.deployments.upsert(input)),
    /** Several deployments (a project's) in one transaction: all are saved, or none is. */
    upsertMany: procedure
      .input(z.strictObject({ deployments: z.array(DeploymentCreate).min(1).max(1000) }))
      .output(z.array(DeploymentUpserted))
      .mutation(({ ctx, input }) => ctx.store.deployments.upsertMany(input.deployments)),
    read: procedure
      .input(ref)
      .output(Deployment)
      .query(({ ctx, input }) => ctx.store.deployments.read(input.deployment)),
    list: procedure
      .input(DeploymentFilter.prefault({}))
      .output(z.array(Deployment))
      .query(({ ctx, input }) => ctx.store.deployments.list(input)),
    update: procedure
      .input(ref.extend({ changes: DeploymentUpdate }))
      .output(Deployment)
      .mutation(({ ctx, input }) => ctx.store.deployments.update(input.deployment, input.changes)),
    delete: procedure
      .input(ref)
      .output(DeploymentDeleted)
      .mutation(({ ctx, input }) => ctx.store.deployments.delete(input.deployment)),
    pause: procedure
      .input(ref)
      .output(Deployment)
      .mutation(({ ctx, input }) => ctx.store.deployments.setPaused(input.deployment, true)),
    resume: procedure
      .input(ref)
      .output(Deployment)
      .mutation(({ ctx, input }) => ctx.store.deployments.setPaused(input.deployment, false)),
    addSchedule: procedure
      .input(ref.extend({ schedule: DeploymentScheduleCreate }))
      .output(Deployment)
      .mutation(({ ctx, input }) => ctx.store.deployments.addSchedule(input.deployment, input.schedule)),
    updateSchedule: procedure
      .input(ref.extend({ scheduleId: Id, changes: DeploymentScheduleUpdate }))
      .output(Deployment)
      .mutation(({ ctx, input }) => ctx.store.deployments.updateSchedule(input.deployment, input.scheduleId, input.changes)),
    removeSchedule: procedure
      .input(ref.extend({ scheduleId: Id }))
      .output(Deployment)
      .mutation(({ ctx, input }) => ctx.store.deployments.removeSchedule(input.deployment, input.scheduleId)),
    /** For runners (`serve()`): claim the due runs of these deployments. */
    claimRuns: procedure
      .input(ClaimDeploymentRunsInput)
      .mutation(({ ctx, input, signal }): Promise<ClaimedFlowRun[]> => ctx.store.deployments.claimRuns(input, signal)),
    schedulePreview: procedure
      .input(SchedulePreviewInput)
      .output(SchedulePreview)
      .query(({ ctx, input }) => ctx.store.deployments.schedulePreview(input)),
  }),

  flowRuns: router({
    create: procedure.input(FlowRunCreate).mutation(({ ctx, input }): Promise<FlowRun> => ctx.store.flowRuns.create(input)),
    read: procedure
      .input(runRef)
      .output(FlowRun)
      .query(({ ctx, input }) => ctx.store.flowRuns.read(input.id)),
    list: procedure
      .input(FlowRunFilter.prefault({}))
      .output(z.array(FlowRun))
      .query(({ ctx, input }) => ctx.store.flowRuns.list(input)),
    /** How many runs match the filter: a list's total, or the slots a pool's runs hold. */
    count: procedure
      .input(FlowRunCountFilter.prefault({}))
      .output(FlowRunCount)
      .query(({ ctx, input }) => ctx.store.flowRuns.count(input)),
    history: procedure
      .input(runRef)
      .output(z.array(State))
      .query(({ ctx, input }) => ctx.store.flowRuns.history(input.id)),
    setState: procedure.input(SetStateInput).mutation(({ ctx, input }): Promise<OrchestrationResult> => ctx.store.flowRuns.setState(input)),
    cancel: procedure
      .input(runRef.extend({ message: z.string().min(1).max(10_000).optional() }))
      .output(OrchestrationResult)
      .mutation(({ ctx, input }) => ctx.store.flowRuns.cancel(input.id, input.message)),
    /** Runs a FAILED, CRASHED or CANCELLED run again (REJECT, with the reason, for any other). */
    retry: procedure
      .input(runRef)
      .output(OrchestrationResult)
      .mutation(({ ctx, input }) => ctx.store.flowRuns.retry(input.id)),
    delete: procedure
      .input(runRef)
      .output(FlowRunDeleted)
      .mutation(({ ctx, input }) => ctx.store.flowRuns.delete(input.id)),
    setInfrastructure: procedure
      .input(SetInfrastructureInput)
      .output(FlowRun)
      .mutation(({ ctx, input }) => ctx.store.flowRuns.setInfrastructure(input)),
    heartbeat: procedure.input(RunHeartbeat).mutation(({ ctx, input }): Promise<RunHeartbeatResult> => ctx.store.flowRuns.heartbeat(input)),
    /** Runs by state in each hour of a window, by expected start time (the UI's dashboard chart). */
    activity: procedure
      .input(RunActivityQuery)
      .output(RunActivity)
      .query(({ ctx, input }) => ctx.store.flowRuns.activity(input)),
    /** Long-poll: answers as soon as the run reaches a final state, or after `timeoutMs` with the run as it is. */
    wait: procedure
      .input(runRef.extend({ timeoutMs: z.number().int().min(0).max(60_000).default(30_000) }))
      .output(FlowRun)
      .query(({ ctx, input }) => ctx.store.flowRuns.wait(input.id, input.timeoutMs)),
    appendLogs: procedure.input(LogBatch).mutation(({ ctx, input }): Promise<LogsAppended> => ctx.store.flowRuns.appendLogs(input)),
    logs: procedure
      .input(LogQuery)
      .output(z.array(LogRecord))
      .query(({ ctx, input }) => ctx.store.flowRuns.logs(input)),
  }),

  workPools: router({
    create: procedure
      .input(WorkPoolCreate)
      .output(WorkPool)
      .mutation(({ ctx, input }) => ctx.store.workPools.create(input)),
    read: procedure
      .input(poolRef)
      .output(WorkPool)
      .query(({ ctx, input }) => ctx.store.workPools.read(input.name)),
    list: procedure.output(z.array(WorkPool)).query(({ ctx }) => ctx.store.workPools.list()),
    update: procedure
      .input(poolRef.extend({ changes: WorkPoolUpdate }))
      .output(WorkPool)
      .mutation(({ ctx, input }) => ctx.store.workPools.update(input.name, input.changes)),
    pause: procedure
      .input(poolRef)
      .output(WorkPool)
      .mutation(({ ctx, input }) => ctx.store.workPools.update(input.name, { isPaused: true })),
    resume: procedure
      .input(poolRef)
      .output(WorkPool)
      .mutation(({ ctx, input }) => ctx.store.workPools.update(input.name, { isPaused: false })),
    delete: procedure
      .input(poolRef)
      .output(WorkPoolDeleted)
      .mutation(({ ctx, input }) => ctx.store.workPools.delete(input.name)),
    defaultBaseJobTemplate: procedure
      .input(z.strictObject({ type: WorkPoolType }))
      .output(BaseJobTemplate)
      .query(({ input }) => defaultBaseJobTemplate(input.type)),
    claimRuns: procedure.input(ClaimRunsInput).mutation(({ ctx, input, signal }): Promise<ClaimedFlowRun[]> => ctx.store.workPools.claimRuns(input, signal)),
  }),

  workQueues: router({
    create: procedure
      .input(WorkQueueCreate)
      .output(WorkQueue)
      .mutation(({ ctx, input }) => ctx.store.workQueues.create(input)),
    read: procedure
      .input(WorkQueueRef)
      .output(WorkQueue)
      .query(({ ctx, input }) => ctx.store.workQueues.read(input)),
    list: procedure
      .input(z.strictObject({ workPoolName: WorkPoolName }))
      .output(z.array(WorkQueue))
      .query(({ ctx, input }) => ctx.store.workQueues.list(input.workPoolName)),
    update: procedure
      .input(WorkQueueRef.extend({ changes: WorkQueueUpdate }))
      .output(WorkQueue)
      .mutation(({ ctx, input }) => ctx.store.workQueues.update(input, input.changes)),
    delete: procedure
      .input(WorkQueueRef)
      .output(WorkQueueDeleted)
      .mutation(({ ctx, input }) => ctx.store.workQueues.delete(input)),
  }),

  workers: router({
    heartbeat: procedure
      .input(WorkerHeartbeat)
      .output(PoolWorker)
      .mutation(({ ctx, input }) => ctx.store.workers.heartbeat(input)),
    list: procedure
      .input(z.strictObject({ workPoolName: WorkPoolName }))
      .output(z.array(PoolWorker))
      .query(({ ctx, input }) => ctx.store.workers.list(input.workPoolName)),
  }),
});

/** The API's type, for typed clients (`createTRPCClient<AppRouter>`). */
export type AppRouter = typeof appRouter;
