import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadServerConfig } from './config.js';
import { startConfiguredServer, startServer } from './server.js';

const quiet = { logger: pino({ level: 'silent' }), port: 0, checkpointIntervalMs: 0, services: { enabled: [] } } as const;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'drover-dbfolder-'));
  // A file where a folder should be: no user, root included, can create a folder inside it.
  writeFileSync(join(dir, 'file'), '');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the database's folder", () => {
  it('is created when it does not exist, by startServer and by startConfiguredServer (what `drover server start` runs)', async () => {
    const file = join(dir, 'new', 'nested', 'drover.db');
    const server = await startServer({ ...quiet, databaseFile: file });
    await server.close();
    expect(existsSync(file)).toBe(true);

    const home = join(dir, 'home');
    const configured = await startConfiguredServer({ ...loadServerConfig({ DROVER_HOME: home }), port: 0, services: [] }, quiet.logger);
    await configured.close();
    expect(existsSync(join(home, 'drover.db'))).toBe(true);
  });

  it('that cannot be created is an error naming the path, where it came from and the fix', async () => {
    const blocked = join(dir, 'file', 'sub');
    await expect(startServer({ ...quiet, databaseFile: join(blocked, 'drover.db') })).rejects.toMatchObject({
      name: 'ValidationError',
      code: 'VALIDATION_ERROR',
      message: `Cannot open the database ${blocked}/drover.db (from the databaseFile option): its folder ${blocked} cannot be created (ENOTDIR: not a directory, mkdir '${blocked}'); expected a folder this user can create and write: pass a databaseFile in such a folder`,
    });
    const fromHome = { ...loadServerConfig({ DROVER_HOME: blocked }), port: 0, services: [] };
    await expect(startConfiguredServer(fromHome, quiet.logger)).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      message: `Cannot open the database ${blocked}/drover.db (from DROVER_HOME): its folder ${blocked} cannot be created (ENOTDIR: not a directory, mkdir '${blocked}'); expected a folder this user can create and write: set DROVER_HOME (default ~/.drover) to such a folder, or DROVER_DATABASE_URL to a file in one`,
    });
    const fromUrl = { ...loadServerConfig({ DROVER_HOME: dir, DROVER_DATABASE_URL: `sqlite://${blocked}/runs.db` }), port: 0, services: [] };
    await expect(startConfiguredServer(fromUrl, quiet.logger)).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      message: `Cannot open the database ${blocked}/runs.db (from DROVER_DATABASE_URL): its folder ${blocked} cannot be created (ENOTDIR: not a directory, mkdir '${blocked}'); expected a folder this user can create and write: set DROVER_DATABASE_URL to a file in such a folder, or unset it to use $DROVER_HOME/drover.db`,
    });
  });

  it('that exists but cannot hold the database file is an error naming the path', async () => {
    // A folder where the file should be: SQLite cannot open it, whoever runs the test.
    const file = join(dir, 'folder.db');
    mkdirSync(file);
    await expect(startServer({ ...quiet, databaseFile: file })).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      message: `Cannot open the database ${file} (from the databaseFile option): unable to open database file; expected a folder this user can create and write: pass a databaseFile in such a folder`,
    });
  });
});
