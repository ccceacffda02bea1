import { z } from 'zod';
import { jsonAtMost, Timestamp } from './names.js';

/** Every type a flow run's state can have. */
export const StateType = z.enum(['SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLING', 'CANCELLED', 'CRASHED', 'PAUSED']);
export type StateType = z.infer<typeof StateType>;

/** States a run never leaves, except by retry. */
export const TERMINAL_STATE_TYPES: readonly StateType[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED'];

/** States that hold a concurrency slot: the run is claimed and not yet finished. */
export const ACTIVE_STATE_TYPES: readonly StateType[] = ['PENDING', 'RUNNING', 'CANCELLING'];

export function isTerminal(type: StateType): boolean {
  return TERMINAL_STATE_TYPES.includes(type);
}

/** The display names Drover gives to sub-states (the default name is the type in title case). */
export const STATE_NAMES = {
  late: 'Late',
  awaitingRetry: 'AwaitingRetry',
  awaitingConcurrencySlot: 'AwaitingConcurrencySlot',
  retrying: 'Retrying',
  timedOut: 'TimedOut',
} as const;

/** The default display name of a state type: `RUNNING` → `Running`. */
export function defaultStateName(type: StateType): string {
  return type.charAt(0) + type.slice(1).toLowerCase();
}

/** A state a run is in or was in. */
export const State = z.strictObject({
  type: StateType,
  name: z.string().min(1).max(100),
  timestamp: Timestamp,
  message: z.string().max(10_000).nullable(),
  /** For SCHEDULED states: when the run should start. */
  scheduledTime: Timestamp.nullable(),
});
export type State = z.infer<typeof State>;

/** A state a client proposes for a run; the server orchestrates it (accept, reject or wait). */
export const StateProposal = z.strictObject({
  type: StateType,
  name: z.string().min(1).max(100).optional(),
  message: z.string().max(10_000).optional(),
  scheduledTime: Timestamp.optional(),
  /** A JSON result for COMPLETED states, at most 512 KiB of JSON (the engine stores none for a larger one). */
  result: jsonAtMost('result').optional(),
  /** With RUNNING: the flow's retry policy, which orchestration applies when the run fails or crashes. */
  retries: z.number().int().min(0).max(1000).optional(),
  retryDelaySeconds: z
    .number()
    .int()
    .min(0)
    .max(86_400 * 7)
    .optional(),
});
export type StateProposal = z.infer<typeof StateProposal>;

/** How orchestration answered a proposed state. */
export const OrchestrationStatus = z.enum(['ACCEPT', 'REJECT', 'WAIT', 'ABORT']);
export type OrchestrationStatus = z.infer<typeof OrchestrationStatus>;
