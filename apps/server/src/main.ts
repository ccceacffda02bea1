#!/usr/bin/env node
/**
 * apps/server: the Drover server as a program. `node apps/server` (or `drover-server`) opens the
 * SQLite database under DROVER_HOME, serves the API on 127.0.0.1:4200 and runs the background
 * services until SIGINT or SIGTERM.
 *
 * @example
 * DROVER_HOME=/srv/drover node apps/server --host 0.0.0.0 --port 4200
 */
import { main } from './cli.js';

process.exitCode = await main(process.argv.slice(2), process.env);
