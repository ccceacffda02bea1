import { isDroverError } from '@drover/schemas';

export interface ServerRetryOptions {
  /** Give up after this long without an answer (default 5 minutes: longer than a server restart or failover). */
  readonly giveUpAfterMs?: number;
  /** Stop waiting when this aborts (the job was stopped). */
  readonly signal?: AbortSignal;
  /** Told once, when the first attempt fails, so a person sees why the job stalls. */
  readonly onWait?: (error: Error) => void;
}

/** The longest wait between retries: a server back after a restart is found within seconds. */
const MAX_BACKOFF_MS = 5_000;
/** The first retry's wait, at most; each further retry doubles it, up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 250;
/** The shortest wait, so a run of unlucky draws cannot spin on a server that is down. */
const MIN_BACKOFF_MS = 50;

/**
 * How long to wait before retry number `attempt` (0 for the first retry after a failure):
 * exponential backoff with full jitter, a random wait up to 250 ms × 2^attempt, capped at 5 s.
 * The jitter spreads a fleet of workers and jobs, so a restarted server is not met by all of them
 * at once; the cap keeps a worker from sleeping long after the server is back. Callers count
 * attempts from 0 again after a success. `random` (0 ≤ r < 1) is injectable for tests.
 */
export function backoffDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
  return Math.max(MIN_BACKOFF_MS, random() * ceiling);
}

/**
 * Calls `request` until the server answers: a job whose server restarts (or fails over) must
 * wait for it rather than die, since a dead job's run is crashed and run again. Only an
 * unreachable server is retried, after `backoffDelayMs`; every answer, error answers included,
 * is final. Safe for the engine's calls: reads, heartbeats, and proposals under a claim token,
 * which the server applies once.
 */
export async function untilServerAnswers<T>(request: () => Promise<T>, options: ServerRetryOptions = {}): Promise<T> {
  const giveUpAt = Date.now() + (options.giveUpAfterMs ?? 300_000);
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (!isDroverError(error, 'SERVER_UNREACHABLE') || Date.now() >= giveUpAt || options.signal?.aborted) throw error;
      if (attempt === 0) options.onWait?.(error);
      await new Promise((resolve) => setTimeout(resolve, backoffDelayMs(attempt)));
    }
  }
}
