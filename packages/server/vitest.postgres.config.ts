import { mergeConfig } from 'vitest/config';
import { packageTestConfig } from '../../vitest.shared.ts';

/**
 * The server's test suite again, on PostgreSQL: every test that goes through the `Store` (the
 * API, orchestration, races, bad input, services) runs here as well as on SQLite. Each test gets
 * a database of its own, copied from a migrated template (testPostgres.ts).
 */
// None of these tests starts the built code in a child process (sqlite.test and postgres.test do, and run with SQLite's config).
export default mergeConfig(packageTestConfig(), {
  test: {
    name: 'server-postgres',
    env: { DROVER_TEST_STORE: 'postgres' },
    // Every store call is a network round trip here (several for a write), where SQLite's is a
    // function call: the longest tests (hundreds of scheduler passes) need more than 5 s.
    testTimeout: 30_000,
    // SQLite's own tests (its file, WAL, plans, durability) and tests without a store stay in the SQLite run.
    exclude: [
      'src/sqlite.test.ts',
      'src/databaseFolder.test.ts',
      'src/config.test.ts',
      'src/postgres.test.ts',
      'src/copyToPostgres.test.ts',
      'src/rpcHandler.test.ts',
      'src/metrics.test.ts',
    ],
  },
});
