import { defineConfig } from 'vitest/config';

// The server's suite runs twice: on SQLite (packages/server/vitest.config.ts) and on PostgreSQL.
export default defineConfig({ test: { projects: ['packages/*', 'apps/*', 'packages/server/vitest.postgres.config.ts'] } });
