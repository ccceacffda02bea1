// The batcher on its own, with statements played by functions: what goes in one statement, and
// who gets an error when one fails. The store's use of it runs against PostgreSQL in the server
// suite (races.test.ts: concurrent creates with one key, concurrent proposals on one run).
import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher.js';

/** An error as node-postgres reports one that PostgreSQL answered, with its SQLSTATE. */
const refused = (code: string) => Object.assign(new Error(`refused (${code})`), { code });

describe('Batcher', () => {
  it('runs what is submitted in one turn as one statement, and answers each item in order', async () => {
    const statements: number[][] = [];
    const batcher = new Batcher<number, number>(async (items) => {
      statements.push([...items]);
      return items.map((item) => item * 10);
    });
    expect(await Promise.all([1, 2, 3, 4].map((item) => batcher.submit(item)))).toEqual([10, 20, 30, 40]);
    expect(statements).toEqual([[1, 2, 3, 4]]);
  });

  it('gathers what arrives while statements are in flight into the next one', async () => {
    const statements: number[][] = [];
    const releases: (() => void)[] = [];
    const batcher = new Batcher<number, number>(async (items) => {
      statements.push([...items]);
      if (statements.length <= 2) await new Promise<void>((resolve) => releases.push(resolve));
      return [...items];
    });
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const first = batcher.submit(1);
    await turn();
    const second = batcher.submit(2);
    await turn();
    const rest = [3, 4, 5].map((item) => batcher.submit(item));
    await turn();
    // Two statements in flight: the next three wait for one of them to end, then go together.
    expect(statements).toEqual([[1], [2]]);
    releases[0]?.();
    expect(await first).toBe(1);
    releases[1]?.();
    expect(await Promise.all([second, ...rest])).toEqual([2, 3, 4, 5]);
    expect(statements).toEqual([[1], [2], [3, 4, 5]]);
  });

  it('runs the items of a statement the database refused one by one, so only the one at fault fails', async () => {
    const statements: string[][] = [];
    const batcher = new Batcher<string, string>(async (items) => {
      statements.push([...items]);
      if (items.includes('bad')) throw refused('23503');
      return items.map((item) => item.toUpperCase());
    });
    const answers = await Promise.allSettled(['a', 'bad', 'c'].map((item) => batcher.submit(item)));
    expect(answers.map((answer) => (answer.status === 'fulfilled' ? answer.value : (answer.reason as Error).message))).toEqual(['A', 'refused (23503)', 'C']);
    expect(statements).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });

  it('fails every item, and runs none again, when the statement may have committed (a lost connection)', async () => {
    let calls = 0;
    const batcher = new Batcher<string, string>(async () => {
      calls++;
      throw new Error('Connection terminated unexpectedly');
    });
    const answers = await Promise.allSettled(['a', 'b'].map((item) => batcher.submit(item)));
    expect(answers.map((answer) => answer.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
  });
});
