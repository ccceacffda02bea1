// Every malformed or impossible request gets a typed error with a stable code, the right HTTP
// status and a message that names the bad value, and writes nothing at all.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ErrorCode } from '@drover/schemas';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FakeClock } from './clock.js';
import { createRpcHandler } from './rpcHandler.js';
import { snapshot, type TestServer, withApiServer } from './testHarness.js';
import { procedure, router } from './trpc.js';

type Api = TestServer['api'];

/** What every row's request is made against. */
interface Baseline {
  readonly url: string;
  readonly runId: string;
  readonly scheduleId: string;
}

interface Row {
  readonly name: string;
  readonly call: (api: Api, base: Baseline) => Promise<unknown>;
  readonly code: ErrorCode;
  readonly status: number;
  readonly message: string | RegExp | ((base: Baseline) => string);
}

const NO_SUCH_ID = '0190c0de-0000-7000-8000-000000000000';
const T0 = '2026-03-01T12:00:00.000Z';
const NAME_RULE = 'use 1-100 letters, digits, "-", "_" or ".", starting with a letter or digit';

/** A pool `local`, the deployment `etl/nightly` (strict parameter schema, one cron schedule) and one run. */
async function baseline(server: TestServer): Promise<Baseline> {
  const { api } = server;
  await api.workPools.create.mutate({ name: 'local', type: 'process' });
  const { deployment } = await api.deployments.upsert.mutate({
    flowName: 'etl',
    name: 'nightly',
    workPoolName: 'local',
    parameters: { date: 'today' },
    parameterSchema: {
      type: 'object',
      properties: { date: { type: 'string' }, limit: { type: 'integer', minimum: 1 } },
      required: ['date'],
      additionalProperties: false,
    },
    schedules: [{ schedule: { cron: '0 2 * * *', timezone: 'Europe/London' }, slug: 'nightly' }],
  });
  const run = await api.flowRuns.create.mutate({ deployment: 'etl/nightly', idempotencyKey: 'k1', parameters: { limit: 5 } });
  return { url: server.url, runId: run.id, scheduleId: deployment.schedules[0]?.id as string };
}

/** A raw HTTP call, for what the typed client cannot send; rejects with the error the API answered. */
async function raw(url: string, path: string, init: RequestInit): Promise<unknown> {
  const res = await fetch(`${url}/${path}`, init);
  const body = (await res.json()) as { error?: { message: string; data: unknown } };
  if (body.error) throw body.error;
  return body;
}

const addSchedule = (api: Api, schedule: Record<string, unknown>, more: Record<string, unknown> = {}) =>
  api.deployments.addSchedule.mutate({ deployment: 'etl/nightly', schedule: { schedule, ...more } as never });
const claim = (api: Api, more: Record<string, unknown>) =>
  api.workPools.claimRuns.mutate({ workPoolName: 'local', workerName: 'w', scheduledBefore: T0, ...more } as never);

const ROWS: Row[] = [
  // Schedules.
  {
    name: 'a cron minute out of range',
    call: (api) => api.deployments.upsert.mutate({ flowName: 'etl', name: 'nightly', schedules: [{ schedule: { cron: '61 * * * *' } }] }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.upsert: schedules.0.schedule.cron: Invalid cron "61 * * * *": minute must be 0-59',
  },
  {
    name: 'a cron with six fields',
    call: (api) => addSchedule(api, { cron: '0 0 * * * *' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message:
      'Invalid input to deployments.addSchedule: schedule.schedule.cron: Invalid cron "0 0 * * * *": expected 5 fields (minute hour day-of-month month day-of-week), got 6',
  },
  {
    name: 'a cron with L',
    call: (api) => addSchedule(api, { cron: '0 0 L * *' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message:
      'Invalid input to deployments.addSchedule: schedule.schedule.cron: Invalid cron "0 0 L * *": day-of-month "L": L, W, # and ? are not supported (list the days instead)',
  },
  {
    name: 'an unknown timezone',
    call: (api) => addSchedule(api, { cron: '0 * * * *', timezone: 'Mars/Olympus' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message:
      'Invalid input to deployments.addSchedule: schedule.schedule.timezone: Invalid timezone "Mars/Olympus" (use an IANA name such as America/New_York)',
  },
  {
    name: 'a negative interval',
    call: (api) => addSchedule(api, { interval: -5 }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.addSchedule: schedule.schedule.interval: Invalid interval -5: must be at least 1 and at most 3162240000 seconds',
  },
  {
    name: 'an interval anchor that is not a date',
    call: (api) => addSchedule(api, { interval: 60, anchorDate: 'yesterday' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.addSchedule: schedule.schedule.anchorDate: expected an ISO-8601 date-time such as 2026-01-01T09:00:00',
  },
  {
    name: 'an rrule with an unknown FREQ',
    call: (api) => addSchedule(api, { rrule: 'FREQ=SOMETIMES' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.addSchedule: schedule.schedule.rrule: Invalid rrule "FREQ=SOMETIMES": FREQ=SOMETIMES is not valid',
  },
  {
    name: 'a schedule that is both cron and interval',
    call: (api) => addSchedule(api, { cron: '0 * * * *', interval: 60 }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.addSchedule: schedule.schedule: A schedule needs exactly one of cron, interval or rrule (found cron and interval)',
  },
  {
    name: 'an unknown key in a schedule',
    call: (api) => addSchedule(api, { cron: '0 * * * *', tz: 'UTC' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.addSchedule: schedule.schedule: Unrecognized key: "tz"',
  },
  {
    name: 'maxScheduledRuns over the maximum',
    call: (api) => addSchedule(api, { interval: 60 }, { maxScheduledRuns: 5000 }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.addSchedule: schedule.maxScheduledRuns: Too big: expected number to be <=1000',
  },
  {
    name: 'a schedule slug used twice in one deployment',
    call: (api) =>
      api.deployments.upsert.mutate({
        flowName: 'etl',
        name: 'nightly',
        schedules: [
          { schedule: { interval: 60 }, slug: 'a' },
          { schedule: { interval: 120 }, slug: 'a' },
        ],
      }),
    code: 'NAME_CONFLICT',
    status: 409,
    message: 'Schedule slug "a" appears twice; slugs are unique within a deployment',
  },
  {
    name: 'adding a schedule with a slug the deployment already has',
    call: (api) => addSchedule(api, { interval: 60 }, { slug: 'nightly' }),
    code: 'NAME_CONFLICT',
    status: 409,
    message: 'Schedule slug "nightly" appears twice; slugs are unique within a deployment',
  },
  {
    name: 'updating an unknown schedule',
    call: (api) => api.deployments.updateSchedule.mutate({ deployment: 'etl/nightly', scheduleId: NO_SUCH_ID, changes: { active: false } }),
    code: 'SCHEDULE_NOT_FOUND',
    status: 404,
    message: (base) => `Schedule ${NO_SUCH_ID} not found on deployment "etl/nightly" (its schedules: ${base.scheduleId})`,
  },

  // Deployments.
  {
    name: 'a deployment name with a space',
    call: (api) => api.deployments.upsert.mutate({ flowName: 'etl', name: 'night ly' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: `Invalid input to deployments.upsert: name: Invalid deployment name "night ly": ${NAME_RULE}`,
  },
  {
    name: 'an entrypoint without an export name',
    call: (api) => api.deployments.upsert.mutate({ flowName: 'etl', name: 'nightly', entrypoint: 'flows/etl.ts' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.upsert: entrypoint: expected path/to/file.ts:exportName',
  },
  {
    name: 'a description over 10,000 characters',
    call: (api) => api.deployments.update.mutate({ deployment: 'etl/nightly', changes: { description: 'd'.repeat(10_001) } }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.update: changes.description: Too big: expected string to have <=10000 characters',
  },
  {
    name: 'a deployment concurrency limit of 0',
    call: (api) => api.deployments.update.mutate({ deployment: 'etl/nightly', changes: { concurrencyLimit: 0 } }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.update: changes.concurrencyLimit: Too small: expected number to be >=1',
  },
  {
    name: 'an unknown collision strategy',
    call: (api) => api.deployments.update.mutate({ deployment: 'etl/nightly', changes: { concurrencyOptions: { collisionStrategy: 'DROP' as never } } }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.update: changes.concurrencyOptions.collisionStrategy: Invalid option: expected one of "ENQUEUE"|"CANCEL_NEW"',
  },
  {
    name: 'a git commit that is not hex',
    call: (api) =>
      api.deployments.update.mutate({ deployment: 'etl/nightly', changes: { pullSteps: [{ git_clone: { repository: 'https://x/y.git', commit: 'zz' } }] } }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to deployments.update: changes.pullSteps.0.git_clone.commit: a commit is 7-40 hex characters',
  },
  {
    name: "a pull step that uses a later step's output",
    call: (api) =>
      api.deployments.update.mutate({
        deployment: 'etl/nightly',
        changes: {
          pullSteps: [{ set_working_directory: { directory: '{{ clone.directory }}/flows' } }, { git_clone: { id: 'clone', repository: 'https://x/y.git' } }],
        },
      }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message:
      'Invalid input to deployments.update: changes.pullSteps.0.set_working_directory.directory: {{ clone.directory }} names step "clone", which no earlier step is (no earlier step has an id)',
  },
  {
    name: 'a deployment on an unknown work pool (the new flow is not kept either)',
    call: (api) => api.deployments.upsert.mutate({ flowName: 'fresh', name: 'a', workPoolName: 'nope' }),
    code: 'WORK_POOL_NOT_FOUND',
    status: 404,
    message: 'Work pool "nope" not found (existing pools: local)',
  },
  {
    name: 'moving a deployment to an unknown work pool',
    call: (api) => api.deployments.update.mutate({ deployment: 'etl/nightly', changes: { workPoolName: 'nope' } }),
    code: 'WORK_POOL_NOT_FOUND',
    status: 404,
    message: 'Work pool "nope" not found (existing pools: local)',
  },
  {
    name: 'a work queue without a work pool (the new flow is not kept either)',
    call: (api) => api.deployments.upsert.mutate({ flowName: 'fresh', name: 'a', workQueueName: 'gpu' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Work queue "gpu" needs a work pool: set workPoolName too',
  },
  {
    name: 'deleting an unknown deployment',
    call: (api) => api.deployments.delete.mutate({ deployment: 'etl/nope' }),
    code: 'DEPLOYMENT_NOT_FOUND',
    status: 404,
    message: 'Deployment "etl/nope" not found',
  },

  // Flow runs.
  {
    name: 'a run of an unknown deployment',
    call: (api) => api.flowRuns.create.mutate({ deployment: 'etl/nope' }),
    code: 'DEPLOYMENT_NOT_FOUND',
    status: 404,
    message: 'Deployment "etl/nope" not found',
  },
  {
    name: 'a run of an unknown deployment id',
    call: (api) => api.flowRuns.create.mutate({ deployment: NO_SUCH_ID }),
    code: 'DEPLOYMENT_NOT_FOUND',
    status: 404,
    message: `Deployment "${NO_SUCH_ID}" not found`,
  },
  {
    name: 'a deployment ref with two slashes',
    call: (api) => api.flowRuns.create.mutate({ deployment: 'etl/night/ly' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message:
      'Invalid input to flowRuns.create: deployment: Invalid deployment "etl/night/ly": expected a deployment id or flow-name/deployment-name, each name 1-100 letters, digits, "-", "_" or ".", starting with a letter or digit',
  },
  {
    name: 'a run on an unknown queue of its pool',
    call: (api) => api.flowRuns.create.mutate({ deployment: 'etl/nightly', workQueueName: 'gpu' }),
    code: 'WORK_QUEUE_NOT_FOUND',
    status: 404,
    message: 'Work queue "gpu" not found in the work pool of deployment "etl/nightly" (its queues: default)',
  },
  {
    name: 'a run with a job variable its pool does not have',
    call: (api) => api.flowRuns.create.mutate({ deployment: 'etl/nightly', jobVariables: { gpu: true } }),
    code: 'JOB_VARIABLES_INVALID',
    status: 400,
    message:
      'Invalid job variables for a run of etl/nightly in work pool "local": unknown variable "gpu" (pool "local" has: command, env, labels, name, streamOutput, workingDir, reuseProcess)',
  },
  {
    name: 'a deployment whose job variable has the wrong type',
    call: (api) => api.deployments.upsert.mutate({ flowName: 'etl', name: 'typed', workPoolName: 'local', jobVariables: { env: { A: 1 }, workingDir: 7 } }),
    code: 'JOB_VARIABLES_INVALID',
    status: 400,
    message:
      /^Invalid job variables for deployment "etl\/typed" in work pool "local": env\.A is 1, which must be string(,null)?; workingDir is 7, which must be string/,
  },
  {
    name: 'an update that gives a deployment an unknown job variable',
    call: (api) => api.deployments.update.mutate({ deployment: 'etl/nightly', changes: { jobVariables: { image: 'python:3' } } }),
    code: 'JOB_VARIABLES_INVALID',
    status: 400,
    message:
      'Invalid job variables for deployment "etl/nightly" in work pool "local": unknown variable "image" (pool "local" has: command, env, labels, name, streamOutput, workingDir, reuseProcess)',
  },
  {
    name: 'a tag over 100 characters',
    call: (api) => api.flowRuns.create.mutate({ deployment: 'etl/nightly', tags: ['t'.repeat(101)] }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to flowRuns.create: tags.0: Too big: expected string to have <=100 characters',
  },
  {
    name: 'parameters that are an array',
    call: (api) => api.flowRuns.create.mutate({ deployment: 'etl/nightly', parameters: [1] as never }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to flowRuns.create: parameters: Invalid input: expected record, received array',
  },
  {
    name: "parameters that break the deployment's schema",
    call: (api) => api.flowRuns.create.mutate({ deployment: 'etl/nightly', parameters: { limit: 0, colour: 'red' } }),
    code: 'PARAMETERS_INVALID',
    status: 400,
    message: 'Parameters for deployment "etl/nightly" do not match its schema: colour is not a parameter of this flow; limit must be >= 1',
  },
  {
    name: 'an idempotency key reused with other parameters',
    call: (api) => api.flowRuns.create.mutate({ deployment: 'etl/nightly', idempotencyKey: 'k1', parameters: { limit: 6 } }),
    code: 'IDEMPOTENCY_CONFLICT',
    status: 409,
    message: (base) =>
      `Idempotency key "k1" already made run ${base.runId} with other parameters ({"date":"today","limit":5}, not {"date":"today","limit":6}): use a new key or the same parameters`,
  },
  {
    name: 'a scheduled time that is not ISO-8601',
    call: (api) => api.flowRuns.create.mutate({ deployment: 'etl/nightly', scheduledTime: 'tomorrow' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to flowRuns.create: scheduledTime: Invalid ISO datetime',
  },
  {
    name: 'an unknown state type',
    call: (api, base) => api.flowRuns.setState.mutate({ flowRunId: base.runId, state: { type: 'DONE' as never } }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message:
      'Invalid input to flowRuns.setState: state.type: Invalid option: expected one of "SCHEDULED"|"PENDING"|"RUNNING"|"COMPLETED"|"FAILED"|"CANCELLING"|"CANCELLED"|"CRASHED"|"PAUSED"',
  },
  {
    name: 'a run id that is not a UUID',
    call: (api) => api.flowRuns.setState.mutate({ flowRunId: 'abc', state: { type: 'RUNNING' } }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to flowRuns.setState: flowRunId: Invalid UUID',
  },
  {
    name: 'a state for an unknown run',
    call: (api) => api.flowRuns.setState.mutate({ flowRunId: NO_SUCH_ID, state: { type: 'RUNNING' } }),
    code: 'FLOW_RUN_NOT_FOUND',
    status: 404,
    message: `Flow run ${NO_SUCH_ID} not found`,
  },
  {
    name: 'cancelling an unknown run',
    call: (api) => api.flowRuns.cancel.mutate({ id: NO_SUCH_ID }),
    code: 'FLOW_RUN_NOT_FOUND',
    status: 404,
    message: `Flow run ${NO_SUCH_ID} not found`,
  },
  {
    name: 'logs for an unknown run (the whole batch is refused)',
    call: (api, base) =>
      api.flowRuns.appendLogs.mutate([
        { flowRunId: base.runId, timestamp: T0, message: 'kept?' },
        { flowRunId: NO_SUCH_ID, timestamp: T0, message: 'lost' },
      ]),
    code: 'FLOW_RUN_NOT_FOUND',
    status: 404,
    message: `Flow run ${NO_SUCH_ID} not found, so its logs were not stored`,
  },
  {
    name: 'an empty log batch',
    call: (api) => api.flowRuns.appendLogs.mutate([]),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to flowRuns.appendLogs: Too small: expected array to have >=1 items',
  },
  {
    name: 'a negative page limit',
    call: (api) => api.flowRuns.list.query({ page: { limit: -1, offset: 0 } }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to flowRuns.list: page.limit: Too small: expected number to be >=1',
  },

  // Work pools, queues, workers.
  {
    name: 'a second work pool with the same name',
    call: (api) => api.workPools.create.mutate({ name: 'local', type: 'docker' }),
    code: 'NAME_CONFLICT',
    status: 409,
    message: 'A work pool named "local" already exists',
  },
  {
    name: 'an unknown work pool type',
    call: (api) => api.workPools.create.mutate({ name: 'lam', type: 'lambda' as never }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to workPools.create: type: Invalid option: expected one of "process"|"docker"|"kubernetes"',
  },
  {
    name: 'a work pool name that is a number',
    call: (api) => api.workPools.create.mutate({ name: 123 as never, type: 'process' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to workPools.create: name: Invalid input: expected string, received number',
  },
  {
    name: 'an unknown key on a work pool (strict objects)',
    call: (api) => api.workPools.create.mutate({ name: 'p2', type: 'process', colour: 'red' } as never),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to workPools.create: Unrecognized key: "colour"',
  },
  {
    name: 'two problems at once, both reported',
    call: (api) => api.workPools.create.mutate({ name: '', type: 'x' } as never),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: `Invalid input to workPools.create: name: Invalid work pool name "": ${NAME_RULE}; type: Invalid option: expected one of "process"|"docker"|"kubernetes"`,
  },
  {
    name: 'a negative pool concurrency limit',
    call: (api) => api.workPools.update.mutate({ name: 'local', changes: { concurrencyLimit: -1 } }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to workPools.update: changes.concurrencyLimit: Too small: expected number to be >=0',
  },
  {
    name: 'a second queue with the same name in a pool',
    call: (api) => api.workQueues.create.mutate({ workPoolName: 'local', name: 'default' }),
    code: 'NAME_CONFLICT',
    status: 409,
    message: 'Work pool "local" already has a queue named "default"',
  },
  {
    name: 'a queue priority of 0',
    call: (api) => api.workQueues.create.mutate({ workPoolName: 'local', name: 'gpu', priority: 0 }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to workQueues.create: priority: Too small: expected number to be >=1',
  },
  {
    name: 'a queue in an unknown pool',
    call: (api) => api.workQueues.create.mutate({ workPoolName: 'nope', name: 'gpu' }),
    code: 'WORK_POOL_NOT_FOUND',
    status: 404,
    message: 'Work pool "nope" not found (existing pools: local)',
  },
  {
    name: 'pausing an unknown queue',
    call: (api) => api.workQueues.update.mutate({ workPoolName: 'local', name: 'gpu', changes: { isPaused: true } }),
    code: 'WORK_QUEUE_NOT_FOUND',
    status: 404,
    message: 'Work queue "gpu" not found in pool "local" (its queues: default)',
  },
  {
    name: "deleting a pool's default queue",
    call: (api) => api.workQueues.delete.mutate({ workPoolName: 'local', name: 'default' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Queue "default" is the default queue of pool "local" and cannot be deleted',
  },
  {
    name: 'a claim on an unknown pool',
    call: (api) => claim(api, { workPoolName: 'nope' }),
    code: 'WORK_POOL_NOT_FOUND',
    status: 404,
    message: 'Work pool "nope" not found (existing pools: local)',
  },
  {
    name: 'a claim naming an unknown queue (no queue is marked polled)',
    call: (api) => claim(api, { workQueueNames: ['default', 'gpu'] }),
    code: 'WORK_QUEUE_NOT_FOUND',
    status: 404,
    message: 'Work queue "gpu" not found in pool "local" (its queues: default)',
  },
  {
    name: 'a claim limit of 0',
    call: (api) => claim(api, { limit: 0 }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to workPools.claimRuns: limit: Too small: expected number to be >=1',
  },
  {
    name: 'a claim wait over a minute',
    call: (api) => claim(api, { waitMs: 120_000 }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to workPools.claimRuns: waitMs: Too big: expected number to be <=60000',
  },
  {
    name: 'a worker name with a slash',
    call: (api) => api.workers.heartbeat.mutate({ workPoolName: 'local', name: 'host/1' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    message: 'Invalid input to workers.heartbeat: name: Invalid worker name "host/1": use 1-200 characters without "/" or "%"',
  },
  {
    name: 'a worker heartbeat for an unknown pool',
    call: (api) => api.workers.heartbeat.mutate({ workPoolName: 'nope', name: 'w' }),
    code: 'WORK_POOL_NOT_FOUND',
    status: 404,
    message: 'Work pool "nope" not found (existing pools: local)',
  },

  // The wire itself.
  {
    name: 'a request body that is not JSON',
    call: (_, base) => raw(base.url, 'workPools.create', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }),
    code: 'VALIDATION_ERROR',
    status: 400,
    // JSON.parse's own words, which differ between Node 20 and 22 (and do not say it was the request body: reported).
    message: /^Expected property name or '\}' in JSON at position 1( \(line 1 column 2\))?$/,
  },
];

describe('bad input', () => {
  it('has at least 30 cases, each named once', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(30);
    expect(new Set(ROWS.map((row) => row.name)).size).toBe(ROWS.length);
  });

  it.each(ROWS)('$name → $code', async (row) => {
    await withApiServer(
      async (server) => {
        const base = await baseline(server);
        const before = await snapshot(server);
        const error = await row.call(server.api, base).then(
          () => undefined,
          (e: { message: string; data?: { droverCode?: string; httpStatus?: number } }) => e,
        );
        expect(error, 'the request succeeded').toBeDefined();
        const message = typeof row.message === 'function' ? row.message(base) : row.message;
        expect({ code: error?.data?.droverCode, status: error?.data?.httpStatus, message: error?.message }).toEqual({
          code: row.code,
          status: row.status,
          message: message instanceof RegExp ? expect.stringMatching(message) : message,
        });
        expect(await snapshot(server)).toEqual(before);
      },
      { clock: new FakeClock(T0) },
    );
  });
});

describe('errors the caller did not cause', () => {
  it("reports an answer the server failed to produce as INTERNAL (500), not as the caller's invalid input", async () => {
    const broken = router({
      answer: procedure
        .input(z.strictObject({ n: z.number() }))
        .output(z.string())
        .query(({ input }) => input.n as never),
    });
    const http = createServer(createRpcHandler({ router: broken, createContext: () => ({ store: undefined as never }), maxBodyBytes: 1024 }));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      const answer = async (input: unknown) => {
        const res = await fetch(`${url}/answer?input=${encodeURIComponent(JSON.stringify(input))}`);
        const body = (await res.json()) as { error: { message: string; data: { droverCode: string; httpStatus: number; issues: unknown[] } } };
        return [res.status, body.error.data.droverCode, body.error.message, body.error.data.issues];
      };
      expect(await answer({ n: 'x' })).toEqual([
        400,
        'VALIDATION_ERROR',
        'Invalid input to answer: n: Invalid input: expected number, received string',
        [{ path: 'n', message: 'Invalid input: expected number, received string' }],
      ]);
      expect(await answer({ n: 1 })).toEqual([500, 'INTERNAL', 'Output validation failed', []]);
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });
});
