import { defineConfig } from 'drizzle-kit';

export default defineConfig({ dialect: 'postgresql', schema: './src/db/pgSchema.ts', out: './drizzle/pg' });
