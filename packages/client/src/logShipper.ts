import type { LogLevel } from '@drover/schemas';
import type { DroverClient } from './api.js';
import { LOG_MARKER, type LogOutput } from './flowContext.js';

/** Most lines sent in one request (the API's batch limit). */
const MAX_BATCH = 1000;

/**
 * Collects a run's log lines and sends them in batches: every `flushMs`, or at once when a
 * batch fills. A failed send keeps the lines for the next try, so a blip loses nothing.
 */
export class LogShipper implements LogOutput {
  readonly echo = true;
  #lines: { flowRunId: string; timestamp: string; level: LogLevel; message: string }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: DroverClient,
    private readonly flowRunId: string,
    private readonly flushMs = 250,
  ) {}

  add = (level: LogLevel, message: string): void => {
    this.#lines.push({ flowRunId: this.flowRunId, timestamp: new Date().toISOString(), level, message: message.slice(0, 100_000) });
    if (this.#lines.length >= MAX_BATCH) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.flushMs);
  };

  /** Sends what is buffered; resolves when it is stored (or failed and was kept). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#sending = this.#sending.then(async () => {
      while (this.#lines.length > 0) {
        const batch = this.#lines.splice(0, MAX_BATCH);
        try {
          await this.client.flowRuns.appendLogs(batch);
        } catch {
          this.#lines.unshift(...batch);
          return;
        }
      }
    });
    return this.#sending;
  }
}

/**
 * A run's log output: shipped to the API in batches; with `echoToStdout`, also written to stdout
 * as marked lines (instead of printed plainly) for the worker that launched the job to show.
 */
export function runLogs(client: DroverClient, flowRunId: string, echoToStdout: boolean): LogOutput {
  const shipper = new LogShipper(client, flowRunId);
  if (!echoToStdout) return shipper;
  return {
    add: (level, message) => {
      shipper.add(level, message);
      process.stdout.write(`${LOG_MARKER}${JSON.stringify({ level, message })}\n`);
    },
    echo: false,
    flush: () => shipper.flush(),
  };
}
