/**
 * The one place that decides a flow run's state changes. `orchestrate` is pure: it reads the run,
 * the proposal and the facts the store gathered (time, deployment slots) and returns a decision
 * from an explicit table of rules, checked in order; the first rule with an opinion wins and
 * anything no rule objects to is accepted. The store applies the decision in the same transaction.
 */
import { ACTIVE_STATE_TYPES, defaultStateName, isTerminal, STATE_NAMES, State, type StateType } from '@drover/schemas';

/** The parts of a run the rules read. */
export interface RunSnapshot {
  readonly stateType: StateType;
  readonly stateName: string;
  readonly nextScheduledStartTime: string | null;
  readonly runCount: number;
  readonly retries: number | null;
  readonly retryDelaySeconds: number | null;
  /** SCHEDULED for a retry its own engine will run (it keeps its concurrency slot meanwhile). */
  readonly retryInProcess: boolean;
  /** Null once its deployment was deleted: nothing could run it again. */
  readonly deploymentId: string | null;
}

export interface Proposal {
  readonly type: StateType;
  readonly name?: string;
  readonly message?: string;
  readonly scheduledTime?: string;
}

/** The deployment's concurrency limit and how many of its runs hold a slot now. */
export interface DeploymentSlots {
  readonly limit: number;
  readonly active: number;
  readonly collisionStrategy: 'ENQUEUE' | 'CANCEL_NEW';
}

export interface OrchestrationContext {
  readonly now: Date;
  readonly deploymentSlots: DeploymentSlots | null;
  /** How long a run waiting for a deployment slot waits before it is offered again. */
  readonly slotWaitSeconds: number;
}

/** The state to write: the proposal as accepted, or the one the server chose instead. */
export interface NewState {
  readonly type: StateType;
  readonly name: string;
  readonly message: string | null;
  readonly scheduledTime: string | null;
  /** For AwaitingRetry: the engine retries in its own process, so workers must not claim the run. */
  readonly retryInProcess?: boolean;
}

export type Decision =
  | { readonly status: 'ACCEPT'; readonly state: NewState }
  | { readonly status: 'REJECT'; readonly reason: string; readonly state: NewState | null }
  | { readonly status: 'WAIT'; readonly reason: string; readonly delaySeconds: number }
  | { readonly status: 'ABORT'; readonly reason: string };

interface Rule {
  readonly name: string;
  decide(run: RunSnapshot, proposed: NewState, ctx: OrchestrationContext): Decision | undefined;
}

/** The longest state message the API carries; a longer one would be stored but could never be read back. */
const MAX_MESSAGE = State.shape.message.unwrap().maxLength ?? 10_000;
const clip = (message: string) => (message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 1)}…`);

const scheduledAt = (name: string, at: Date, message: string | null, retryInProcess = false): NewState => ({
  type: 'SCHEDULED',
  name,
  message,
  scheduledTime: at.toISOString(),
  retryInProcess,
});

/** The rules, in the order they are checked. */
export const RULES: readonly Rule[] = [
  {
    // A retry asked for (Prefect's "Retry" on a finished run) goes back to SCHEDULED, history kept;
    // the attempt it starts counts like any other.
    name: 'a failed, crashed or cancelled run of a deployment may be retried',
    decide(run, proposed) {
      if (!isTerminal(run.stateType) || proposed.type !== 'SCHEDULED' || proposed.name !== STATE_NAMES.awaitingRetry) return undefined;
      if (run.stateType === 'COMPLETED')
        return { status: 'REJECT', reason: 'Run is COMPLETED; only a FAILED, CRASHED or CANCELLED run can be retried', state: null };
      if (run.deploymentId === null)
        return { status: 'REJECT', reason: `Run is ${run.stateType} and its deployment was deleted, so nothing could run it again`, state: null };
      return { status: 'ACCEPT', state: proposed };
    },
  },
  {
    name: 'terminal states are final',
    decide(run, proposed) {
      if (!isTerminal(run.stateType)) return undefined;
      const reason = `Run is already ${run.stateType}; a finished run does not change state`;
      // A worker proposing PENDING drops the run on ABORT rather than retrying the proposal.
      return proposed.type === 'PENDING' ? { status: 'ABORT', reason } : { status: 'REJECT', reason, state: null };
    },
  },
  {
    name: 'CANCELLING only ends CANCELLED',
    decide(run, proposed) {
      if (run.stateType !== 'CANCELLING' || proposed.type === 'CANCELLED') return undefined;
      return { status: 'REJECT', reason: `Run is CANCELLING; only CANCELLED may follow, not ${proposed.type}`, state: null };
    },
  },
  {
    name: 'a run that has not started is cancelled at once',
    decide(run, proposed) {
      if (proposed.type !== 'CANCELLING' || (run.stateType !== 'SCHEDULED' && run.stateType !== 'PAUSED')) return undefined;
      const message = proposed.message ?? `Cancelled while ${run.stateType}, before any job started`;
      return {
        status: 'REJECT',
        reason: 'No job runs for this run, so it is CANCELLED without CANCELLING',
        state: { type: 'CANCELLED', name: 'Cancelled', message, scheduledTime: null },
      };
    },
  },
  {
    name: 'a claimed run cannot be claimed again',
    decide(run, proposed) {
      if (proposed.type !== 'PENDING' || (run.stateType !== 'PENDING' && run.stateType !== 'RUNNING' && run.stateType !== 'CANCELLING')) {
        return undefined;
      }
      return { status: 'ABORT', reason: `This run is ${run.stateType} and cannot move to PENDING (another worker has it)` };
    },
  },
  {
    // Checked wherever a run takes a slot: on its claim (PENDING), and on a RUNNING proposal from a
    // run that holds none (straight from SCHEDULED); a run keeps its slot through an in-process retry.
    name: 'deployment concurrency limit',
    decide(run, proposed, ctx) {
      const slots = ctx.deploymentSlots;
      const takesSlot = proposed.type === 'PENDING' || (proposed.type === 'RUNNING' && !holdsSlot(run));
      if (!takesSlot || !slots || slots.active < slots.limit) return undefined;
      const full = `Deployment concurrency limit reached (${slots.active} of ${slots.limit} slots in use)`;
      if (slots.collisionStrategy === 'CANCEL_NEW') {
        return { status: 'REJECT', reason: full, state: { type: 'CANCELLED', name: 'Cancelled', message: full, scheduledTime: null } };
      }
      const retryAt = new Date(ctx.now.getTime() + ctx.slotWaitSeconds * 1000);
      return { status: 'REJECT', reason: full, state: scheduledAt(STATE_NAMES.awaitingConcurrencySlot, retryAt, full) };
    },
  },
  {
    name: 'a run does not start before its scheduled time',
    decide(run, proposed, ctx) {
      if (proposed.type !== 'RUNNING' || run.nextScheduledStartTime === null) return undefined;
      const waitMs = Date.parse(run.nextScheduledStartTime) - ctx.now.getTime();
      if (waitMs <= 0) return undefined;
      return { status: 'WAIT', reason: `Run is scheduled to start at ${run.nextScheduledStartTime}`, delaySeconds: Math.ceil(waitMs / 1000) };
    },
  },
  {
    name: 'RUNNING follows PENDING, SCHEDULED or PAUSED',
    decide(run, proposed) {
      if (proposed.type !== 'RUNNING' || run.stateType !== 'RUNNING') return undefined;
      return { status: 'REJECT', reason: 'Run is already RUNNING', state: null };
    },
  },
  {
    name: 'only a running run completes or pauses',
    decide(run, proposed) {
      if ((proposed.type !== 'COMPLETED' && proposed.type !== 'PAUSED') || run.stateType === 'RUNNING') return undefined;
      return { status: 'REJECT', reason: `Run is ${run.stateType}; only a RUNNING run can become ${proposed.type}`, state: null };
    },
  },
  {
    name: 'a running run is not rescheduled',
    decide(run, proposed) {
      if (proposed.type !== 'SCHEDULED' || run.stateType !== 'RUNNING') return undefined;
      return { status: 'REJECT', reason: 'Run is RUNNING; it can be rescheduled only by a retry', state: null };
    },
  },
  {
    name: 'failed and crashed runs retry while retries are left',
    decide(run, proposed, ctx) {
      const failing = proposed.type === 'FAILED' && run.stateType === 'RUNNING';
      const crashing = proposed.type === 'CRASHED' && (run.stateType === 'RUNNING' || run.stateType === 'PENDING');
      // A crash before the job started (PENDING) spends an attempt too, so a job that never starts cannot retry for ever.
      const attempts = run.runCount + (run.stateType === 'PENDING' ? 1 : 0);
      if (!(failing || crashing) || run.retries === null || attempts > run.retries) return undefined;
      const retryAt = new Date(ctx.now.getTime() + (run.retryDelaySeconds ?? 0) * 1000);
      const attempt = `Retry ${run.runCount} of ${run.retries} after: ${proposed.message ?? proposed.type}`;
      // A FAILED flow is retried by its engine in the same process; a CRASHED one by whichever worker claims it.
      return { status: 'REJECT', reason: attempt, state: scheduledAt(STATE_NAMES.awaitingRetry, retryAt, clip(attempt), failing) };
    },
  },
];

/** True when the run holds a concurrency slot: it is active, or waits in its engine for a retry. */
export function holdsSlot(run: Pick<RunSnapshot, 'stateType' | 'retryInProcess'>): boolean {
  return ACTIVE_STATE_TYPES.includes(run.stateType) || (run.stateType === 'SCHEDULED' && run.retryInProcess);
}

/** Decides a proposed state change. */
export function orchestrate(run: RunSnapshot, proposal: Proposal, ctx: OrchestrationContext): Decision {
  const proposed = normalise(run, proposal, ctx.now);
  for (const rule of RULES) {
    const decision = rule.decide(run, proposed, ctx);
    if (decision) return decision;
  }
  return { status: 'ACCEPT', state: proposed };
}

/** The proposal as the state it would write: its name defaulted, its time in UTC. */
export function normalise(run: RunSnapshot, proposal: Proposal, now: Date): NewState {
  const retrying = proposal.type === 'RUNNING' && run.stateName === STATE_NAMES.awaitingRetry;
  const name = proposal.name ?? (retrying ? STATE_NAMES.retrying : defaultStateName(proposal.type));
  // Stored times compare as text, so every one is UTC with milliseconds, whatever offset the proposal used.
  const scheduledTime = proposal.type === 'SCHEDULED' ? new Date(proposal.scheduledTime ?? now).toISOString() : null;
  return { type: proposal.type, name, message: proposal.message ?? null, scheduledTime };
}
