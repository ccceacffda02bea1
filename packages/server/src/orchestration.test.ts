import { defaultStateName, type StateType } from '@drover/schemas';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { type Decision, normalise, type OrchestrationContext, orchestrate, type Proposal, RULES, type RunSnapshot } from './orchestration.js';
import { snapshot, withApiServer } from './testHarness.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000).toISOString();

const run = (stateType: StateType, more: Partial<RunSnapshot> = {}): RunSnapshot => ({
  stateType,
  stateName: defaultStateName(stateType),
  nextScheduledStartTime: null,
  runCount: 0,
  retries: null,
  retryDelaySeconds: null,
  retryInProcess: false,
  deploymentId: '01234567-89ab-7def-8123-456789abcdef',
  ...more,
});

const context = (more: Partial<OrchestrationContext> = {}): OrchestrationContext => ({ now: NOW, deploymentSlots: null, slotWaitSeconds: 5, ...more });

const accepted = (type: StateType, name: string, message: string | null = null, scheduledTime: string | null = null): Decision => ({
  status: 'ACCEPT',
  state: { type, name, message, scheduledTime },
});

/** The name of the first rule with an opinion, or null when every rule lets the proposal through. */
function decidingRule(snap: RunSnapshot, proposal: Proposal, ctx: OrchestrationContext): string | null {
  const proposed = normalise(snap, proposal, ctx.now);
  return RULES.find((rule) => rule.decide(snap, proposed, ctx) !== undefined)?.name ?? null;
}

interface Case {
  readonly title: string;
  readonly run: RunSnapshot;
  readonly proposal: Proposal;
  readonly ctx?: OrchestrationContext;
  /** The rule that decides, or null when none objects (and the proposal is accepted). */
  readonly rule: string | null;
  readonly decision: Decision;
}

const TERMINAL: StateType[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED'];
const slots = (active: number, limit: number, collisionStrategy: 'ENQUEUE' | 'CANCEL_NEW') =>
  context({ deploymentSlots: { active, limit, collisionStrategy } });
const full = (active: number, limit: number) => `Deployment concurrency limit reached (${active} of ${limit} slots in use)`;

const CASES: Case[] = [
  // Terminal states are final: REJECT without a state, or ABORT for a worker proposing PENDING.
  ...TERMINAL.flatMap((type): Case[] => [
    {
      title: `${type} → RUNNING is rejected`,
      run: run(type, { runCount: 1 }),
      proposal: { type: 'RUNNING' },
      rule: 'terminal states are final',
      decision: { status: 'REJECT', reason: `Run is already ${type}; a finished run does not change state`, state: null },
    },
    {
      title: `${type} → PENDING is aborted`,
      run: run(type, { runCount: 1 }),
      proposal: { type: 'PENDING' },
      rule: 'terminal states are final',
      decision: { status: 'ABORT', reason: `Run is already ${type}; a finished run does not change state` },
    },
  ]),
  {
    title: 'COMPLETED → SCHEDULED is rejected (no reschedule of a finished run)',
    run: run('COMPLETED'),
    proposal: { type: 'SCHEDULED', scheduledTime: at(60) },
    rule: 'terminal states are final',
    decision: { status: 'REJECT', reason: 'Run is already COMPLETED; a finished run does not change state', state: null },
  },

  // CANCELLING only ends CANCELLED.
  ...(['RUNNING', 'COMPLETED', 'FAILED', 'SCHEDULED', 'PENDING'] as const).map(
    (type): Case => ({
      title: `CANCELLING → ${type} is rejected`,
      run: run('CANCELLING', { runCount: 1 }),
      proposal: { type },
      rule: 'CANCELLING only ends CANCELLED',
      decision: { status: 'REJECT', reason: `Run is CANCELLING; only CANCELLED may follow, not ${type}`, state: null },
    }),
  ),
  {
    title: 'CANCELLING → CANCELLED is accepted',
    run: run('CANCELLING', { runCount: 1 }),
    proposal: { type: 'CANCELLED', message: 'killed pid 42' },
    rule: null,
    decision: accepted('CANCELLED', 'Cancelled', 'killed pid 42'),
  },

  // A run with no job is cancelled at once.
  {
    title: 'SCHEDULED → CANCELLING becomes CANCELLED with a default message',
    run: run('SCHEDULED', { nextScheduledStartTime: at(60) }),
    proposal: { type: 'CANCELLING' },
    rule: 'a run that has not started is cancelled at once',
    decision: {
      status: 'REJECT',
      reason: 'No job runs for this run, so it is CANCELLED without CANCELLING',
      state: { type: 'CANCELLED', name: 'Cancelled', message: 'Cancelled while SCHEDULED, before any job started', scheduledTime: null },
    },
  },
  {
    title: 'PAUSED → CANCELLING becomes CANCELLED keeping the given message',
    run: run('PAUSED', { runCount: 1 }),
    proposal: { type: 'CANCELLING', message: 'not needed today' },
    rule: 'a run that has not started is cancelled at once',
    decision: {
      status: 'REJECT',
      reason: 'No job runs for this run, so it is CANCELLED without CANCELLING',
      state: { type: 'CANCELLED', name: 'Cancelled', message: 'not needed today', scheduledTime: null },
    },
  },
  {
    title: 'RUNNING → CANCELLING is accepted (the worker kills the job)',
    run: run('RUNNING', { runCount: 1 }),
    proposal: { type: 'CANCELLING', message: 'Cancelled by request' },
    rule: null,
    decision: accepted('CANCELLING', 'Cancelling', 'Cancelled by request'),
  },

  // A claimed run cannot be claimed again.
  ...(['PENDING', 'RUNNING'] as const).map(
    (type): Case => ({
      title: `${type} → PENDING is aborted`,
      run: run(type, { runCount: type === 'RUNNING' ? 1 : 0 }),
      proposal: { type: 'PENDING' },
      rule: 'a claimed run cannot be claimed again',
      decision: { status: 'ABORT', reason: `This run is ${type} and cannot move to PENDING (another worker has it)` },
    }),
  ),
  {
    title: 'SCHEDULED → PENDING is accepted and keeps no scheduled time on the state',
    run: run('SCHEDULED', { nextScheduledStartTime: at(0) }),
    proposal: { type: 'PENDING' },
    rule: null,
    decision: accepted('PENDING', 'Pending'),
  },

  // Deployment concurrency limit.
  {
    title: 'PENDING at an ENQUEUE deployment limit is rescheduled AwaitingConcurrencySlot at now + slotWaitSeconds',
    run: run('SCHEDULED', { nextScheduledStartTime: at(-30) }),
    proposal: { type: 'PENDING' },
    ctx: slots(2, 2, 'ENQUEUE'),
    rule: 'deployment concurrency limit',
    decision: {
      status: 'REJECT',
      reason: full(2, 2),
      state: { type: 'SCHEDULED', name: 'AwaitingConcurrencySlot', message: full(2, 2), scheduledTime: at(5), retryInProcess: false },
    },
  },
  {
    title: 'the slot wait follows the setting',
    run: run('SCHEDULED', { nextScheduledStartTime: at(0) }),
    proposal: { type: 'PENDING' },
    ctx: { ...slots(3, 1, 'ENQUEUE'), slotWaitSeconds: 30 },
    rule: 'deployment concurrency limit',
    decision: {
      status: 'REJECT',
      reason: full(3, 1),
      state: { type: 'SCHEDULED', name: 'AwaitingConcurrencySlot', message: full(3, 1), scheduledTime: at(30), retryInProcess: false },
    },
  },
  {
    title: 'PENDING at a CANCEL_NEW deployment limit is CANCELLED',
    run: run('SCHEDULED', { nextScheduledStartTime: at(0) }),
    proposal: { type: 'PENDING' },
    ctx: slots(1, 1, 'CANCEL_NEW'),
    rule: 'deployment concurrency limit',
    decision: { status: 'REJECT', reason: full(1, 1), state: { type: 'CANCELLED', name: 'Cancelled', message: full(1, 1), scheduledTime: null } },
  },
  ...(['ENQUEUE', 'CANCEL_NEW'] as const).map(
    (strategy): Case => ({
      title: `PENDING below a ${strategy} deployment limit is accepted`,
      run: run('SCHEDULED', { nextScheduledStartTime: at(0) }),
      proposal: { type: 'PENDING' },
      ctx: slots(1, 2, strategy),
      rule: null,
      decision: accepted('PENDING', 'Pending'),
    }),
  ),
  {
    title: 'a full deployment does not stop a run that already holds its slot from RUNNING',
    run: run('PENDING', { nextScheduledStartTime: at(-1) }),
    proposal: { type: 'RUNNING' },
    ctx: slots(2, 2, 'CANCEL_NEW'),
    rule: null,
    decision: accepted('RUNNING', 'Running'),
  },

  // A run does not start before its scheduled time.
  {
    title: 'RUNNING 1.2 s before the scheduled time waits 2 s (rounded up)',
    run: run('PENDING', { nextScheduledStartTime: new Date(NOW.getTime() + 1200).toISOString() }),
    proposal: { type: 'RUNNING' },
    rule: 'a run does not start before its scheduled time',
    decision: { status: 'WAIT', reason: 'Run is scheduled to start at 2026-03-01T12:00:01.200Z', delaySeconds: 2 },
  },
  {
    title: 'RUNNING 1 ms before the scheduled time waits 1 s',
    run: run('SCHEDULED', { nextScheduledStartTime: new Date(NOW.getTime() + 1).toISOString() }),
    proposal: { type: 'RUNNING' },
    rule: 'a run does not start before its scheduled time',
    decision: { status: 'WAIT', reason: 'Run is scheduled to start at 2026-03-01T12:00:00.001Z', delaySeconds: 1 },
  },
  {
    title: 'RUNNING exactly at the scheduled time is accepted',
    run: run('PENDING', { nextScheduledStartTime: at(0) }),
    proposal: { type: 'RUNNING' },
    rule: null,
    decision: accepted('RUNNING', 'Running'),
  },

  // RUNNING → RUNNING.
  {
    title: 'RUNNING → RUNNING is rejected',
    run: run('RUNNING', { runCount: 1 }),
    proposal: { type: 'RUNNING' },
    rule: 'RUNNING follows PENDING, SCHEDULED or PAUSED',
    decision: { status: 'REJECT', reason: 'Run is already RUNNING', state: null },
  },

  // Only a running run completes or pauses.
  ...(['SCHEDULED', 'PENDING', 'PAUSED'] as const).map(
    (type): Case => ({
      title: `${type} → COMPLETED is rejected`,
      run: run(type),
      proposal: { type: 'COMPLETED' },
      rule: 'only a running run completes or pauses',
      decision: { status: 'REJECT', reason: `Run is ${type}; only a RUNNING run can become COMPLETED`, state: null },
    }),
  ),
  {
    title: 'PENDING → PAUSED is rejected',
    run: run('PENDING'),
    proposal: { type: 'PAUSED' },
    rule: 'only a running run completes or pauses',
    decision: { status: 'REJECT', reason: 'Run is PENDING; only a RUNNING run can become PAUSED', state: null },
  },
  {
    title: 'RUNNING → COMPLETED is accepted',
    run: run('RUNNING', { runCount: 1 }),
    proposal: { type: 'COMPLETED', message: 'done' },
    rule: null,
    decision: accepted('COMPLETED', 'Completed', 'done'),
  },
  {
    title: 'RUNNING → PAUSED is accepted',
    run: run('RUNNING', { runCount: 1 }),
    proposal: { type: 'PAUSED' },
    rule: null,
    decision: accepted('PAUSED', 'Paused'),
  },

  // A running run is not rescheduled.
  {
    title: 'RUNNING → SCHEDULED is rejected',
    run: run('RUNNING', { runCount: 1 }),
    proposal: { type: 'SCHEDULED', scheduledTime: at(60) },
    rule: 'a running run is not rescheduled',
    decision: { status: 'REJECT', reason: 'Run is RUNNING; it can be rescheduled only by a retry', state: null },
  },
  {
    title: 'a proposed scheduled time with an offset is stored in UTC, as every stored time is',
    run: run('PENDING', { nextScheduledStartTime: at(-10) }),
    proposal: { type: 'SCHEDULED', scheduledTime: '2026-03-01T17:30:00+05:30' },
    rule: null,
    decision: accepted('SCHEDULED', 'Scheduled', null, '2026-03-01T12:00:00.000Z'),
  },
  {
    title: 'a proposed scheduled time without milliseconds is stored with them',
    run: run('PENDING', { nextScheduledStartTime: at(-10) }),
    proposal: { type: 'SCHEDULED', scheduledTime: '2026-03-01T12:00:05Z' },
    rule: null,
    decision: accepted('SCHEDULED', 'Scheduled', null, at(5)),
  },
  {
    title: 'PENDING → SCHEDULED without a time is accepted at now',
    run: run('PENDING', { nextScheduledStartTime: at(-10) }),
    proposal: { type: 'SCHEDULED' },
    rule: null,
    decision: accepted('SCHEDULED', 'Scheduled', null, at(0)),
  },

  // Retries.
  {
    title: 'FAILED with retries left becomes AwaitingRetry at now + delay, retried in process',
    run: run('RUNNING', { runCount: 1, retries: 2, retryDelaySeconds: 10 }),
    proposal: { type: 'FAILED', message: 'boom' },
    rule: 'failed and crashed runs retry while retries are left',
    decision: {
      status: 'REJECT',
      reason: 'Retry 1 of 2 after: boom',
      state: { type: 'SCHEDULED', name: 'AwaitingRetry', message: 'Retry 1 of 2 after: boom', scheduledTime: at(10), retryInProcess: true },
    },
  },
  {
    title: 'the last retry is still given (runCount = retries), with no delay when none is set',
    run: run('RUNNING', { runCount: 2, retries: 2, retryDelaySeconds: null }),
    proposal: { type: 'FAILED' },
    rule: 'failed and crashed runs retry while retries are left',
    decision: {
      status: 'REJECT',
      reason: 'Retry 2 of 2 after: FAILED',
      state: { type: 'SCHEDULED', name: 'AwaitingRetry', message: 'Retry 2 of 2 after: FAILED', scheduledTime: at(0), retryInProcess: true },
    },
  },
  ...(['RUNNING', 'PENDING'] as const).map(
    (type): Case => ({
      title: `CRASHED from ${type} with retries left becomes AwaitingRetry for any worker to claim`,
      run: run(type, { runCount: 1, retries: 3, retryDelaySeconds: 60 }),
      proposal: { type: 'CRASHED', message: 'worker lost' },
      rule: 'failed and crashed runs retry while retries are left',
      decision: {
        status: 'REJECT',
        reason: 'Retry 1 of 3 after: worker lost',
        state: { type: 'SCHEDULED', name: 'AwaitingRetry', message: 'Retry 1 of 3 after: worker lost', scheduledTime: at(60), retryInProcess: false },
      },
    }),
  ),
  {
    title: 'a retry message stays within the 10,000 characters a state message may have',
    run: run('RUNNING', { runCount: 1, retries: 1, retryDelaySeconds: 0 }),
    proposal: { type: 'FAILED', message: 'x'.repeat(10_000) },
    rule: 'failed and crashed runs retry while retries are left',
    decision: {
      status: 'REJECT',
      reason: `Retry 1 of 1 after: ${'x'.repeat(10_000)}`,
      state: { type: 'SCHEDULED', name: 'AwaitingRetry', message: `Retry 1 of 1 after: ${'x'.repeat(9_979)}…`, scheduledTime: at(0), retryInProcess: true },
    },
  },
  {
    title: 'FAILED with retries exhausted is accepted',
    run: run('RUNNING', { runCount: 3, retries: 2, retryDelaySeconds: 10 }),
    proposal: { type: 'FAILED', message: 'boom' },
    rule: null,
    decision: accepted('FAILED', 'Failed', 'boom'),
  },
  {
    title: 'CRASHED with retries exhausted is accepted',
    run: run('RUNNING', { runCount: 1, retries: 0 }),
    proposal: { type: 'CRASHED' },
    rule: null,
    decision: accepted('CRASHED', 'Crashed'),
  },
  {
    title: 'FAILED without a retry policy is accepted',
    run: run('RUNNING', { runCount: 1 }),
    proposal: { type: 'FAILED', name: 'TimedOut', message: 'Flow run exceeded timeout of 5 seconds' },
    rule: null,
    decision: accepted('FAILED', 'TimedOut', 'Flow run exceeded timeout of 5 seconds'),
  },
  {
    title: 'FAILED from PENDING is not retried (the flow never ran)',
    run: run('PENDING', { runCount: 1, retries: 3 }),
    proposal: { type: 'FAILED' },
    rule: null,
    decision: accepted('FAILED', 'Failed'),
  },

  // Names.
  {
    title: 'RUNNING after AwaitingRetry is named Retrying',
    run: run('SCHEDULED', { stateName: 'AwaitingRetry', nextScheduledStartTime: at(-1), runCount: 1, retries: 2 }),
    proposal: { type: 'RUNNING' },
    rule: null,
    decision: accepted('RUNNING', 'Retrying'),
  },
  {
    title: 'a proposed name wins over Retrying',
    run: run('PENDING', { stateName: 'AwaitingRetry', nextScheduledStartTime: at(-1), runCount: 1, retries: 2 }),
    proposal: { type: 'RUNNING', name: 'Resumed' },
    rule: null,
    decision: accepted('RUNNING', 'Resumed'),
  },
  {
    title: 'RUNNING straight from SCHEDULED takes a deployment slot: at the limit it waits for one',
    run: run('SCHEDULED', { nextScheduledStartTime: at(-1) }),
    proposal: { type: 'RUNNING' },
    ctx: context({ deploymentSlots: { limit: 1, active: 1, collisionStrategy: 'ENQUEUE' } }),
    rule: 'deployment concurrency limit',
    decision: {
      status: 'REJECT',
      reason: 'Deployment concurrency limit reached (1 of 1 slots in use)',
      state: {
        type: 'SCHEDULED',
        name: 'AwaitingConcurrencySlot',
        message: 'Deployment concurrency limit reached (1 of 1 slots in use)',
        scheduledTime: at(5),
        retryInProcess: false,
      },
    },
  },
  {
    title: 'a FAILED run retried by request goes back to SCHEDULED (AwaitingRetry)',
    run: run('FAILED', { runCount: 1 }),
    proposal: { type: 'SCHEDULED', name: 'AwaitingRetry', message: 'Retried by request' },
    rule: 'a failed, crashed or cancelled run of a deployment may be retried',
    decision: accepted('SCHEDULED', 'AwaitingRetry', 'Retried by request', at(0)),
  },
  {
    title: 'a COMPLETED run is not retried',
    run: run('COMPLETED', { runCount: 1 }),
    proposal: { type: 'SCHEDULED', name: 'AwaitingRetry' },
    rule: 'a failed, crashed or cancelled run of a deployment may be retried',
    decision: { status: 'REJECT', reason: 'Run is COMPLETED; only a FAILED, CRASHED or CANCELLED run can be retried', state: null },
  },
  {
    title: 'a run whose deployment was deleted is not retried',
    run: run('CRASHED', { deploymentId: null }),
    proposal: { type: 'SCHEDULED', name: 'AwaitingRetry' },
    rule: 'a failed, crashed or cancelled run of a deployment may be retried',
    decision: { status: 'REJECT', reason: 'Run is CRASHED and its deployment was deleted, so nothing could run it again', state: null },
  },
  {
    title: 'a retry its engine runs in process keeps its slot: RUNNING at the limit is accepted',
    run: run('SCHEDULED', { stateName: 'AwaitingRetry', nextScheduledStartTime: at(-1), runCount: 1, retries: 2, retryInProcess: true }),
    proposal: { type: 'RUNNING' },
    ctx: context({ deploymentSlots: { limit: 1, active: 1, collisionStrategy: 'CANCEL_NEW' } }),
    rule: null,
    decision: accepted('RUNNING', 'Retrying'),
  },
];

describe('orchestrate()', () => {
  it.each(CASES)('$title', (c) => {
    const ctx = c.ctx ?? context();
    expect(orchestrate(c.run, c.proposal, ctx)).toEqual(c.decision);
    expect(decidingRule(c.run, c.proposal, ctx)).toBe(c.rule);
  });

  it('has a case for every rule', () => {
    const decided = new Set(CASES.filter((c) => c.rule !== null).map((c) => c.rule));
    const names = RULES.map((rule) => rule.name);
    expect(new Set(names).size).toBe(names.length);
    expect([...decided].sort()).toEqual([...names].sort());
  });

  it('checks rules in order: the first with an opinion wins', () => {
    // CANCELLING → PENDING matches both "CANCELLING only ends CANCELLED" and "a claimed run cannot be claimed again".
    expect(orchestrate(run('CANCELLING'), { type: 'PENDING' }, context())).toEqual({
      status: 'REJECT',
      reason: 'Run is CANCELLING; only CANCELLED may follow, not PENDING',
      state: null,
    });
    // A finished run at a full deployment: terminal wins over the deployment limit.
    expect(orchestrate(run('CANCELLED'), { type: 'PENDING' }, slots(1, 1, 'CANCEL_NEW'))).toEqual({
      status: 'ABORT',
      reason: 'Run is already CANCELLED; a finished run does not change state',
    });
  });

  it('is pure: the same inputs give the same decision and the inputs are not changed', () => {
    const snap = Object.freeze(run('RUNNING', { runCount: 1, retries: 1, retryDelaySeconds: 2 }));
    const proposal = Object.freeze({ type: 'FAILED' as const, message: 'x' });
    const ctx = Object.freeze(context());
    expect(orchestrate(snap, proposal, ctx)).toEqual(orchestrate(snap, proposal, ctx));
    expect(ctx.now.toISOString()).toBe(NOW.toISOString());
  });
});

describe('orchestration through the API', () => {
  it('writes every accepted or server-chosen state to the history, and nothing for a refusal', async () => {
    const clock = new FakeClock(NOW);
    await withApiServer(
      async (server) => {
        const { api } = server;
        await api.workPools.create.mutate({ name: 'local', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'local' });
        const { id } = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        const propose = (state: Parameters<typeof api.flowRuns.setState.mutate>[0]['state']) => api.flowRuns.setState.mutate({ flowRunId: id, state });

        /** Proposes a change that must write nothing, and returns the answer. */
        const refused = async (state: Parameters<typeof propose>[0]) => {
          const before = await snapshot(server);
          const answer = await propose(state);
          expect(await snapshot(server)).toEqual(before);
          return answer;
        };

        expect(await refused({ type: 'COMPLETED' })).toMatchObject({
          status: 'REJECT',
          reason: 'Run is SCHEDULED; only a RUNNING run can become COMPLETED',
          state: { type: 'SCHEDULED', name: 'Scheduled' },
        });

        clock.advance(1000);
        await api.workPools.claimRuns.mutate({ workPoolName: 'local', workerName: 'w1', scheduledBefore: at(1) });
        expect(await refused({ type: 'PENDING' })).toMatchObject({
          status: 'ABORT',
          reason: 'This run is PENDING and cannot move to PENDING (another worker has it)',
          state: { type: 'PENDING' },
        });

        clock.advance(1000);
        expect(await propose({ type: 'RUNNING', message: 'pid 42', retries: 1, retryDelaySeconds: 30 })).toMatchObject({ status: 'ACCEPT', reason: null });
        expect(await refused({ type: 'RUNNING' })).toMatchObject({ status: 'REJECT', reason: 'Run is already RUNNING', state: { type: 'RUNNING' } });

        clock.advance(1000);
        expect(await propose({ type: 'FAILED', message: 'boom' })).toMatchObject({
          status: 'REJECT',
          reason: 'Retry 1 of 1 after: boom',
          state: { type: 'SCHEDULED', name: 'AwaitingRetry', message: 'Retry 1 of 1 after: boom', scheduledTime: at(33) },
        });
        expect(await refused({ type: 'RUNNING' })).toEqual({
          status: 'WAIT',
          reason: `Run is scheduled to start at ${at(33)}`,
          delaySeconds: 30,
          state: { type: 'SCHEDULED', name: 'AwaitingRetry', timestamp: at(3), message: 'Retry 1 of 1 after: boom', scheduledTime: at(33) },
        });

        clock.set(at(33));
        expect(await propose({ type: 'RUNNING' })).toMatchObject({ status: 'ACCEPT', state: { type: 'RUNNING', name: 'Retrying' } });
        clock.advance(2000);
        expect(await propose({ type: 'FAILED', message: 'boom again' })).toMatchObject({ status: 'ACCEPT', state: { type: 'FAILED', name: 'Failed' } });
        expect(await refused({ type: 'RUNNING' })).toMatchObject({
          status: 'REJECT',
          reason: 'Run is already FAILED; a finished run does not change state',
          state: { type: 'FAILED', message: 'boom again' },
        });

        expect(await api.flowRuns.history.query({ id })).toEqual([
          { type: 'SCHEDULED', name: 'Scheduled', timestamp: at(0), message: null, scheduledTime: at(0) },
          { type: 'PENDING', name: 'Pending', timestamp: at(1), message: null, scheduledTime: null },
          { type: 'RUNNING', name: 'Running', timestamp: at(2), message: 'pid 42', scheduledTime: null },
          { type: 'SCHEDULED', name: 'AwaitingRetry', timestamp: at(3), message: 'Retry 1 of 1 after: boom', scheduledTime: at(33) },
          { type: 'RUNNING', name: 'Retrying', timestamp: at(33), message: null, scheduledTime: null },
          { type: 'FAILED', name: 'Failed', timestamp: at(35), message: 'boom again', scheduledTime: null },
        ]);
        expect(await api.flowRuns.read.query({ id })).toMatchObject({ runCount: 2, retries: 1, startTime: at(2), endTime: at(35), workerName: 'w1' });
      },
      { clock },
    );
  });

  it('reschedules to an offset time that claims then see at the right instant', async () => {
    const clock = new FakeClock(NOW);
    await withApiServer(
      async ({ api }) => {
        await api.workPools.create.mutate({ name: 'local', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'local' });
        const { id } = await api.flowRuns.create.mutate({ deployment: 'etl/a', scheduledTime: at(3600) });
        // 17:30 in Kolkata is 12:00:30 UTC: due 30 s from now, not 5.5 hours.
        const moved = await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'SCHEDULED', scheduledTime: '2026-03-01T17:30:30+05:30' } });
        expect(moved).toMatchObject({ status: 'ACCEPT', state: { scheduledTime: at(30) } });
        expect((await api.flowRuns.read.query({ id })).nextScheduledStartTime).toBe(at(30));
        const claim = (before: string) => api.workPools.claimRuns.mutate({ workPoolName: 'local', workerName: 'w', scheduledBefore: before });
        expect(await claim(at(29))).toEqual([]);
        expect((await claim(at(30))).map((r) => r.id)).toEqual([id]);
      },
      { clock },
    );
  });

  it('keeps a run readable when its retry message would pass the state message limit', async () => {
    await withApiServer(async ({ api }) => {
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a' });
      const { id } = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
      await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'RUNNING', retries: 1 } });
      const answer = await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'FAILED', message: 'e'.repeat(10_000) } });
      expect(answer).toMatchObject({ status: 'REJECT', state: { type: 'SCHEDULED', name: 'AwaitingRetry' } });
      const run = await api.flowRuns.read.query({ id });
      expect([run.state.message?.length, run.state.message?.startsWith('Retry 1 of 1 after: eee'), run.state.message?.endsWith('e…')]).toEqual([
        10_000,
        true,
        true,
      ]);
      expect((await api.flowRuns.history.query({ id })).at(-1)?.message).toBe(run.state.message);
    });
  });

  it('records a cancellation of a run with no job as one CANCELLED state, and refuses a forced change from any caller', async () => {
    const clock = new FakeClock(NOW);
    await withApiServer(
      async ({ api }) => {
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a' });
        const { id } = await api.flowRuns.create.mutate({ deployment: 'etl/a', scheduledTime: at(600) });
        clock.advance(1000);
        expect(await api.flowRuns.cancel.mutate({ id, message: 'not today' })).toMatchObject({
          status: 'REJECT',
          reason: 'No job runs for this run, so it is CANCELLED without CANCELLING',
          state: { type: 'CANCELLED', name: 'Cancelled', message: 'not today' },
        });
        clock.advance(1000);
        // `force` skipped every rule for whoever held the API key; the API no longer takes it.
        const forced = { flowRunId: id, state: { type: 'SCHEDULED', scheduledTime: at(900), message: 'operator' }, force: true } as never;
        await expect(api.flowRuns.setState.mutate(forced)).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
        expect(await api.flowRuns.history.query({ id })).toEqual([
          { type: 'SCHEDULED', name: 'Scheduled', timestamp: at(0), message: null, scheduledTime: at(600) },
          { type: 'CANCELLED', name: 'Cancelled', timestamp: at(1), message: 'not today', scheduledTime: null },
        ]);
      },
      { clock },
    );
  });
});
