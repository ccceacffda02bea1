import { mergeConfig } from 'vitest/config';
import { packageTestConfig } from '../../vitest.shared.ts';

// replicas.test.ts is PostgreSQL's alone: it runs with vitest.postgres.config.ts. (postgres.test.ts and
// copyToPostgres.test.ts use PostgreSQL too, but run here: they start the built code or SQLite as well.)
export default mergeConfig(packageTestConfig({ runsBuiltCode: true }), { test: { exclude: ['src/replicas.test.ts'] } });
