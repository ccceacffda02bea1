/**
 * @drover/ui: Drover's web UI, built (a React app: dashboard, flow runs, deployments, work
 * pools). It has no code to run: it tells a server where its files are, and the server serves
 * them at `/` beside the API. `drover server start` and `node apps/server` do this already.
 *
 * @example
 * import { startServer } from '@drover/server';
 * import { uiRoot } from '@drover/ui';
 * const server = await startServer({ databaseFile: `${process.env.HOME}/.drover/drover.db`, port: 4200, uiRoot });
 * // open http://127.0.0.1:4200 in a browser
 */
import { fileURLToPath } from 'node:url';

/** The folder of the built UI (index.html and its assets), for the server's `uiRoot`. */
export const uiRoot: string = fileURLToPath(new URL('./app/', import.meta.url));
