import { isDroverError } from '@drover/schemas';

export interface ServerRetryOptions {
  /** Give up after this long without an answer (default 5 minutes: longer than a server restart or failover). */
  readonly giveUpAfterMs?: number;
  /** Stop waiting when this aborts (the job was stopped). */
  readonly signal?: AbortSignal;
  /** Told once, when the first attempt fails, so a person sees why the job stalls. */
  readonly onWait?: (error: Error) => void;
}

/**
 * Calls `request` until the server answers: a job whose server restarts (or fails over) must
 * wait for it rather than die, since a dead job's run is crashed and run again. Only an
 * unreachable server is retried, with exponential backoff and full jitter (so a fleet of jobs
 * does not return in step); every answer, error answers included, is final. Safe for the engine's
 * calls: reads, heartbeats, and proposals under a claim token, which the server applies once.
 */
export async function untilServerAnswers<T>(request: () => Promise<T>, options: ServerRetryOptions = {}): Promise<T> {
  const giveUpAt = Date.now() + (options.giveUpAfterMs ?? 300_000);
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (!isDroverError(error, 'SERVER_UNREACHABLE') || Date.now() >= giveUpAt || options.signal?.aborted) throw error;
      if (attempt === 0) options.onWait?.(error);
      const ceiling = Math.min(5_000, 250 * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.max(50, Math.random() * ceiling)));
    }
  }
}
