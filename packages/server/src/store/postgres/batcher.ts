/**
 * One statement for many requests, PostgreSQL's group commit: the items submitted while the
 * database works on earlier ones go together in the next statement. A round trip costs the server
 * ~120 µs of CPU and the database about as much on top of the statement's own work (`SELECT 1`
 * over loopback on the 2-core benchmark machine; inserting a run and its state takes ~300 µs), so
 * under concurrent requests one statement for all of them costs a fraction of one each. A request
 * that finds the batcher idle waits only for the end of the event loop's turn.
 *
 * A statement that PostgreSQL refuses wrote nothing (one statement is one transaction): its items
 * are run again one by one, so only the one at fault gets the error. Any other failure (a lost
 * connection, where the statement may have committed) fails every item, as it would have failed a
 * statement of its own.
 */
interface Pending<Item, Result> {
  readonly item: Item;
  readonly resolve: (result: Result) => void;
  readonly reject: (error: unknown) => void;
}

/** Statements of one batcher in flight at once: one filling while one runs keeps a connection busy without queueing behind it. */
const IN_FLIGHT = 2;
/** Items per statement at most: a larger batch holds its row locks longer than it saves. */
const MAX_ITEMS = 256;

export class Batcher<Item, Result> {
  #waiting: Pending<Item, Result>[] = [];
  #inFlight = 0;
  #scheduled = false;

  /** `execute` runs one statement for `items` and returns each one's result, in their order. */
  constructor(private readonly execute: (items: readonly Item[]) => Promise<Result[]>) {}

  submit(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  // After the event loop's turn, so the requests that arrived in it share a statement.
  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= IN_FLIGHT || this.#waiting.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      while (this.#inFlight < IN_FLIGHT && this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, MAX_ITEMS);
        this.#inFlight++;
        void this.#run(batch).finally(() => {
          this.#inFlight--;
          this.#schedule();
        });
      }
    });
  }

  async #run(batch: readonly Pending<Item, Result>[]): Promise<void> {
    try {
      const results = await this.execute(batch.map((pending) => pending.item));
      for (const [index, pending] of batch.entries()) pending.resolve(results[index] as Result);
    } catch (error) {
      if (batch.length === 1 || !refusedByDatabase(error)) {
        for (const pending of batch) pending.reject(error);
        return;
      }
      await Promise.all(
        batch.map(async (pending) => {
          try {
            pending.resolve((await this.execute([pending.item]))[0] as Result);
          } catch (alone) {
            pending.reject(alone);
          }
        }),
      );
    }
  }
}

/** True for an error PostgreSQL answered with (it carries a SQLSTATE): the statement wrote nothing. */
function refusedByDatabase(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/**
 * `execute`, batched: one batcher per database handle (a server's pool), made on first use. The
 * function returned submits one item and answers its result.
 */
export function batchedPer<Db extends object, Item, Result>(
  execute: (db: Db, items: readonly Item[]) => Promise<Result[]>,
): (db: Db, item: Item) => Promise<Result> {
  const batchers = new WeakMap<Db, Batcher<Item, Result>>();
  return (db, item) => {
    let batcher = batchers.get(db);
    if (!batcher) {
      batcher = new Batcher((items) => execute(db, items));
      batchers.set(db, batcher);
    }
    return batcher.submit(item);
  };
}
