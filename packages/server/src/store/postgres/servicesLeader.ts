/**
 * Elects the one server that runs the background services, among all the servers on a database:
 * the holder of a PostgreSQL advisory lock, taken on a connection kept for nothing else. The lock
 * belongs to that connection's session, so when its server dies (even by SIGKILL) the database
 * ends the session and frees the lock, and another server's next try takes it.
 */

import pg from 'pg';
import type { Logger } from 'pino';
import type { ServicesLeader } from '../../services/services.js';

/** The services' lock: any 64-bit constant other than the migration lock, the same in every Drover version. */
const SERVICES_LOCK = 0x4472_6f76_6572_01n;

export interface PostgresLeaderSettings {
  /** How often a follower tries to take the lock, and the leader checks it still holds its connection (ms). */
  readonly intervalMs: number;
}

/** Takeover within ~2 s of a leader's death, well inside the 15 s promised. */
const DEFAULT_LEADER_SETTINGS: PostgresLeaderSettings = { intervalMs: 2000 };

export class PostgresServicesLeader implements ServicesLeader {
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #leading = false;
  #closed = false;
  #handlers: { elected(): void; deposed(): void } | undefined;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly settings: PostgresLeaderSettings = DEFAULT_LEADER_SETTINGS,
  ) {}

  get leading(): boolean {
    return this.#leading;
  }

  campaign(handlers: { elected(): void; deposed(): void }): void {
    this.#handlers = handlers;
    void this.#tick();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#depose();
    // Ending the session frees the lock at once for the next server.
    await this.#client?.end().catch(() => {});
    this.#client = undefined;
  }

  /** One try: take the lock as a follower, or prove the connection still holds it as the leader. */
  async #tick(): Promise<void> {
    if (this.#closed) return;
    try {
      if (!this.#client) {
        const client = new pg.Client({ connectionString: this.url, application_name: 'drover-services-leader', query_timeout: this.settings.intervalMs });
        client.on('error', () => {});
        client.on('end', () => {
          if (this.#client === client) {
            this.#client = undefined;
            this.#depose();
          }
        });
        await client.connect();
        // Closed while connecting: this connection was not there for close() to end.
        if (this.#closed) {
          await client.end().catch(() => {});
          return;
        }
        this.#client = client;
      }
      if (this.#leading) await this.#client.query('SELECT 1');
      else {
        const { rows } = await this.#client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [SERVICES_LOCK]);
        if (rows[0]?.locked && !this.#closed) {
          this.#leading = true;
          this.logger.info('This server now runs the background services (it holds their lock on the database)');
          this.#handlers?.elected();
        }
      }
    } catch (error) {
      if (this.#closed) return; // close() ended the connection under a query.
      // The connection is gone or stuck: whatever lock it held will be freed with it, so stop leading now.
      this.logger.warn({ err: error }, 'The services leader connection failed; trying again');
      const client = this.#client;
      this.#client = undefined;
      this.#depose();
      await client?.end().catch(() => {});
    }
    if (!this.#closed) this.#timer = setTimeout(() => void this.#tick(), this.settings.intervalMs);
  }

  #depose(): void {
    if (!this.#leading) return;
    this.#leading = false;
    if (!this.#closed) this.logger.warn('This server no longer runs the background services (it lost its connection to the database)');
    this.#handlers?.deposed();
  }
}
