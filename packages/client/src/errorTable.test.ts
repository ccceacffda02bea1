// The error table end to end: every code the server sends crosses the wire (a real server, real
// requests that provoke it) and arrives as its family's class with its code, HTTP status and
// message intact; every other code is raised on the caller's side only, and says where. A new
// code that is in neither list fails the last test.
import {
  ConflictError,
  droverErrorOf,
  ERROR_CODES,
  ERROR_TABLE,
  type ErrorCode,
  InternalError,
  isDroverError,
  NotFoundError,
  RunError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from '@drover/schemas';
import { withTemporaryServer } from '@drover/server';
import { describe, expect, it } from 'vitest';
import { DroverClient } from './api.js';

const CLASS_OF = {
  validation: ValidationError,
  unauthorized: UnauthorizedError,
  notFound: NotFoundError,
  conflict: ConflictError,
  unavailable: UnavailableError,
  run: RunError,
  internal: InternalError,
} as const;

const STATUS_OF = { validation: 400, unauthorized: 401, notFound: 404, conflict: 409, unavailable: 500, run: 500, internal: 500 } as const;

const ID = '01234567-89ab-7def-8123-456789abcdef';
const KEY = 'right-key';

type Provoke = (client: DroverClient, ids: { runId: string }) => Promise<unknown>;

/** How a caller with the API key gets each code the server sends, and the message it reads. */
const SENT: Record<string, { provoke: Provoke; message: string | RegExp; anonymous?: boolean }> = {
  VALIDATION_ERROR: {
    provoke: (c) => c.workPools.create({ name: '-bad', type: 'process' }),
    message: /^Invalid input to workPools\.create: name: Invalid work pool name "-bad"/,
  },
  PARAMETERS_INVALID: {
    provoke: (c) => c.flowRuns.create({ deployment: 'etl/typed', parameters: { n: 'x' } }),
    message: 'Parameters for deployment "etl/typed" do not match its schema: n must be number',
  },
  UNAUTHORIZED: { provoke: (c) => c.workPools.list(), message: 'Missing or wrong API key: send Authorization: Bearer <DROVER_API_KEY>', anonymous: true },
  FLOW_NOT_FOUND: { provoke: (c) => c.flows.read('nope'), message: 'Flow "nope" not found' },
  DEPLOYMENT_NOT_FOUND: { provoke: (c) => c.deployments.read('etl/nope'), message: 'Deployment "etl/nope" not found' },
  SCHEDULE_NOT_FOUND: {
    provoke: (c) => c.deployments.removeSchedule('etl/typed', ID),
    message: `Schedule ${ID} not found on deployment "etl/typed" (its schedules: none)`,
  },
  FLOW_RUN_NOT_FOUND: { provoke: (c) => c.flowRuns.read(ID), message: `Flow run ${ID} not found` },
  WORK_POOL_NOT_FOUND: { provoke: (c) => c.workPools.read('nope'), message: /^Work pool "nope" not found/ },
  WORK_QUEUE_NOT_FOUND: { provoke: (c) => c.workQueues.read({ workPoolName: 'pool', name: 'nope' }), message: /^Work queue "nope" not found/ },
  NAME_CONFLICT: {
    provoke: (c) =>
      c.deployments.upsert({
        flowName: 'etl',
        name: 'slugs',
        schedules: [
          { schedule: { interval: 60 }, slug: 'twice' },
          { schedule: { interval: 90 }, slug: 'twice' },
        ],
      }),
    message: 'Schedule slug "twice" appears twice; slugs are unique within a deployment',
  },
  IDEMPOTENCY_CONFLICT: {
    provoke: (c) => c.flowRuns.create({ deployment: 'etl/typed', parameters: { n: 2 }, idempotencyKey: 'k' }),
    message: /^Idempotency key "k" already made run \S+ with other parameters/,
  },
  CLAIM_LOST: {
    provoke: (c, { runId }) => c.flowRuns.setInfrastructure({ id: runId, infrastructureId: 'process:h:1', claimToken: 'x'.repeat(32) }),
    message: /^Cannot record the job of run \S+: Run \S+ is SCHEDULED and held by no claim/,
  },
};

/** Codes the server never sends, and where each is raised instead. */
const LOCAL: Record<string, string> = {
  INVALID_SCHEDULE: '@drover/scheduling, when an unvalidated schedule reaches it',
  INVALID_ARGUMENT: '@drover/scheduling, for a bad start, end or count',
  JOB_VARIABLES_INVALID: 'the worker, rendering a job',
  INVALID_STATE_TRANSITION: 'kept for scripts written against it: orchestration answers REJECT instead',
  FILE_EXISTS: 'the CLI (drover init)',
  SERVER_UNREACHABLE: 'the client, when no server answers',
  ADDRESS_IN_USE: 'the server at start, to its operator',
  DOCKER_UNAVAILABLE: 'the worker and deploy(), when no Docker engine answers',
  DATABASE_UNREACHABLE: 'the server at start, when no PostgreSQL answers at DROVER_DATABASE_URL',
  FLOW_RUN_TIMEOUT: 'runDeployment and --watch, when waiting gives up',
  FLOW_TIMEOUT: 'the engine, into a flow past its timeoutSeconds',
  FLOW_RUN_CANCELLED: 'the engine, into a cancelled flow',
  CHILD_RUN_FAILED: 'runDeployment inside a flow, when the child run it waited for did not complete',
  FLOW_LOAD_ERROR: 'the engine, loading an entrypoint',
  INFRASTRUCTURE_ERROR: 'the worker, launching a job',
  DATABASE_TOO_NEW: 'the server at start, to its operator',
  DATABASE_NOT_EMPTY: 'drover server migrate-db, when the target PostgreSQL database holds data',
  INTERNAL: 'the server for its own bugs: no request provokes one on purpose',
};

describe('the error table', () => {
  it('brings every code the server sends across the wire as its family’s class, with code, status and message', async () => {
    await withTemporaryServer(
      async (server) => {
        const client = new DroverClient({ apiUrl: server.url, apiKey: KEY });
        await client.workPools.create({ name: 'pool', type: 'process' });
        await client.deployments.upsert({ flowName: 'etl', name: 'typed', parameterSchema: { type: 'object', properties: { n: { type: 'number' } } } });
        const { id: runId } = await client.flowRuns.create({ deployment: 'etl/typed', parameters: { n: 1 }, idempotencyKey: 'k' });
        for (const [code, { provoke, message, anonymous }] of Object.entries(SENT)) {
          const caller = anonymous ? new DroverClient({ apiUrl: server.url, apiKey: '' }) : client;
          const error = await provoke(caller, { runId }).then(
            () => undefined,
            (e: unknown) => e,
          );
          const family = ERROR_TABLE[code as ErrorCode];
          expect(error, code).toBeInstanceOf(CLASS_OF[family]);
          expect(isDroverError(error, code as ErrorCode), code).toBe(true);
          const { message: text, cause } = error as Error & { cause: { data?: { httpStatus?: number } } };
          if (typeof message === 'string') expect(text, code).toBe(message);
          else expect(text, code).toMatch(message);
          expect(cause.data?.httpStatus, code).toBe(STATUS_OF[family]);
        }
      },
      { apiKey: KEY },
    );
  });

  it('rebuilds every code as its family’s class, wherever the error travelled', () => {
    for (const code of ERROR_CODES) {
      const error = droverErrorOf(code, 'boom', { flowRunId: ID });
      expect(error, code).toBeInstanceOf(CLASS_OF[ERROR_TABLE[code]]);
      expect(error.toJSON()).toEqual({ code, message: 'boom', details: { flowRunId: ID } });
      expect(isDroverError(JSON.parse(JSON.stringify(error)), code), code).toBe(true);
    }
  });

  it('places every code: sent by the server, or raised on the caller’s side', () => {
    const placed = [...Object.keys(SENT), ...Object.keys(LOCAL)].sort();
    expect(placed).toEqual([...ERROR_CODES].sort());
  });
});
