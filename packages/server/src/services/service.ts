import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';

/** What every background service is built from. */
export interface ServiceDeps {
  readonly store: Store;
  readonly logger: Logger;
}

export type ServiceState = 'idle' | 'running' | 'stopping' | 'stopped';

/**
 * A background service that does one `pass` every `intervalMs` while started. Tests call `pass()`
 * themselves after moving a fake clock, and wait on the `pass` event instead of sleeping; the
 * loop's timer is the only real time a service uses. A pass that throws is logged and the loop
 * goes on, so one bad row never stops scheduling for everyone.
 */
export abstract class PeriodicService<Result> extends EventEmitter<{ pass: [Result]; error: [unknown] }> {
  #timer: NodeJS.Timeout | undefined;
  #current: Promise<unknown> | undefined;
  #state: ServiceState = 'idle';
  /** A change arrived during a pass: run another right after it. */
  #again = false;
  protected readonly store: Store;
  protected readonly logger: Logger;

  constructor(
    deps: ServiceDeps,
    readonly name: string,
    readonly intervalMs: number,
  ) {
    super();
    this.store = deps.store;
    this.logger = deps.logger.child({ service: name });
  }

  get state(): ServiceState {
    return this.#state;
  }

  /** One unit of work, with the time read from the store's clock. */
  protected abstract work(): Promise<Result> | Result;

  /** Runs one pass now (waiting for a pass already under way), and tells listeners what it did. */
  async pass(): Promise<Result> {
    while (this.#current) await this.#current.catch(() => {});
    const current = (async () => this.work())();
    this.#current = current;
    try {
      const result = await current;
      this.emit('pass', result);
      return result;
    } finally {
      this.#current = undefined;
    }
  }

  start(): void {
    if (this.#state === 'running') return;
    this.#state = 'running';
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    clearTimeout(this.#timer);
    await this.#current?.catch(() => {});
    this.#state = 'stopped';
  }

  /** Brings the next pass forward to `delayMs` from now, for services that react to changes as well as time. */
  protected soon(delayMs: number): void {
    if (this.#state !== 'running') return;
    if (this.#current) this.#again = true;
    else this.#schedule(delayMs);
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.pass()
        .catch((error: unknown) => {
          this.logger.error({ err: error }, `${this.name} pass failed`);
          if (this.listenerCount('error') > 0) this.emit('error', error);
        })
        .finally(() => {
          if (this.#state === 'running') this.#schedule(this.#again ? 0 : this.intervalMs);
          this.#again = false;
        });
    }, delayMs);
  }
}
