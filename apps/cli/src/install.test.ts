/**
 * The install test: Drover as a user gets it. Every public package is packed (`pnpm pack`, which
 * rewrites `workspace:*` to versions, exactly as `pnpm publish` does), the tarballs are installed
 * with npm into a fresh folder under the OS temp folder, outside this workspace, with every
 * third-party dependency from the registry, and then, from the installed files only: the
 * `drover` bin, a server on SQLite, a process pool, `drover init`, `drover deploy --all`, a
 * worker, a run watched to COMPLETED, the README's "define a flow and deploy() it in the same
 * file" pattern under plain node (.mjs) and tsx (.ts), a CommonJS `require('@drover/client')`,
 * and the SDK's types under `moduleResolution` nodenext and bundler. It also checks what each
 * tarball holds (no tests, maps or build info; LICENSE, README, migrations, bins).
 *
 * Nothing here can be skipped: a missing tool or file fails the step that needs it. Each step
 * prints its duration. About 90 s with a warm npm cache; see `installTarballs` for what takes the time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The packages a user installs; the test fails if the workspace's public packages differ. */
const PUBLIC_PACKAGES = ['@drover/cli', '@drover/client', '@drover/scheduling', '@drover/schemas', '@drover/server', '@drover/ui', '@drover/worker'];

interface Result {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Background {
  readonly child: ChildProcess;
  readonly exited: Promise<Result>;
  output(): string;
  /** Resolves with the first match in stdout+stderr; rejects when the process exits first or `ms` pass. */
  waitFor(pattern: RegExp, ms: number): Promise<RegExpExecArray>;
}

const root = mkdtempSync(join(tmpdir(), 'drover-install-'));
const tarballs = join(root, 'tarballs');
const app = join(root, 'app'); // the user's folder: package.json, node_modules, scripts
const home = join(root, 'home'); // DROVER_HOME: the server's database, the CLI's profile
const project = join(app, 'project'); // where `drover init` runs
const bin = join(app, 'node_modules', '.bin');

const steps: { name: string; seconds: number; ok: boolean }[] = [];
const background: Background[] = [];
let apiUrl: string | undefined;

/** Runs one step of the test, printing how long it took whether or not it passed. */
async function step<T>(name: string, body: () => Promise<T>): Promise<T> {
  const started = performance.now();
  let ok = false;
  try {
    const value = await body();
    ok = true;
    return value;
  } finally {
    const seconds = (performance.now() - started) / 1000;
    steps.push({ name, seconds, ok });
    console.log(`install test: ${name}: ${seconds.toFixed(1)} s${ok ? '' : ' (FAILED)'}`);
  }
}

/**
 * The environment of every process the test starts, as a user's shell would have it: this
 * workspace's tools are off the PATH (the installed `node_modules/.bin` comes first) and none of
 * the test runner's variables (pnpm's, vitest's, DROVER_*) leak in. npm's own settings
 * (`npm_config_nodedir`, registry, cache) are kept: they are the machine's, not the workspace's.
 */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const path = (process.env.PATH ?? '').split(delimiter).filter((entry) => entry && !entry.startsWith(repoRoot.replace(/\/$/, '')));
  const env: Record<string, string> = { PATH: [bin, ...path].join(delimiter), TZ: 'UTC', NO_COLOR: '1', DROVER_HOME: home };
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (['HOME', 'USER', 'TMPDIR', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE'].includes(key)) env[key] = value;
    else if (/^npm_config_/i.test(key) && !/^npm_config_user_agent$/i.test(key)) env[key] = value;
  }
  if (apiUrl) env.DROVER_API_URL = apiUrl;
  return { ...env, ...extra };
}

function describeResult(what: string, result: Result): string {
  return `${what} exited ${result.code ?? result.signal}\n--- stdout ---\n${result.stdout.slice(-4000)}\n--- stderr ---\n${result.stderr.slice(-4000)}`;
}

/** Runs a command to its end; a process still running after `ms` is killed and its result says so. */
async function exec(command: string, args: readonly string[], options: { cwd: string; ms: number; env?: Record<string, string> }): Promise<Result> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => {
    stderr += `\n[install test: killed after ${options.ms / 1000} s]`;
    child.kill('SIGKILL');
  }, options.ms);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

/** Runs a command and fails, with its output, unless it exits 0. */
async function succeed(command: string, args: readonly string[], options: { cwd: string; ms: number; env?: Record<string, string> }): Promise<Result> {
  const result = await exec(command, args, options);
  const shown = `${relative(app, command) || command} ${args.join(' ')}`;
  if (result.code !== 0) throw new Error(describeResult(shown, result));
  return result;
}

/** `drover <args>` from the installed bin (its shebang and exec bit included), in `cwd`. */
const drover = (args: readonly string[], cwd = project, ms = 60_000) => succeed(join(bin, 'drover'), args, { cwd, ms });

function startBackground(command: string, args: readonly string[], cwd: string): Background {
  const child = spawn(command, args, { cwd, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
    output += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
    output += chunk;
    for (const listener of listeners) listener();
  });
  const exited = once(child, 'close').then(([code, signal]) => ({ code, signal, stdout, stderr }) as Result);
  const started: Background = {
    child,
    exited,
    output: () => output,
    waitFor: (pattern, ms) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(output);
          if (match) {
            done();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${command} ${args.join(' ')} did not print ${pattern} within ${ms / 1000} s; its output:\n${output.slice(-4000)}`));
        }, ms);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        exited.then((result) => {
          done();
          reject(new Error(describeResult(`${command} ${args.join(' ')} (expected to keep running)`, result)));
        });
        listeners.add(check);
        check();
      }),
  };
  started.exited.catch(() => {});
  background.push(started);
  return started;
}

/** Lists a tarball's files (without the `package/` prefix) and reads its package.json. */
async function inspectTarball(file: string): Promise<{ files: string[]; manifest: Record<string, unknown> }> {
  const list = await succeed('tar', ['-tzf', file], { cwd: root, ms: 30_000, env: userEnv() });
  const manifest = await succeed('tar', ['-xzOf', file, 'package/package.json'], { cwd: root, ms: 30_000, env: userEnv() });
  return {
    files: list.stdout
      .split('\n')
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, '')),
    manifest: JSON.parse(manifest.stdout),
  };
}

/** Every string a package.json field points at (`exports`, `bin`, `main`, `types`), flattened. */
function targets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(targets);
  return [];
}

// better-sqlite3 ships its native addon as prebuilt binaries that `prebuild-install` downloads
// from GitHub, which this machine cannot reach, so npm's install falls back to compiling SQLite
// from source (70 to 150 s on 2 cores) on every install: npm caches tarballs, not builds. The
// test keeps the addon it compiled (and seeds it from the workspace's own pnpm build of the same
// version) as a prebuild tarball named as prebuild-install expects, and points prebuild-install's
// documented `local-prebuilds` setting at it: the same thing a user's install does with a
// downloaded prebuild. The JavaScript of every package still comes from the registry.
const prebuilds = join(repoRoot, 'node_modules', '.cache', 'drover-install-test', 'prebuilds');
const prebuildName = (version: string) => `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;

async function keepPrebuild(packageDir: string): Promise<void> {
  const addon = join(packageDir, 'build', 'Release', 'better_sqlite3.node');
  if (!existsSync(addon)) return;
  const version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
  const target = join(prebuilds, prebuildName(version));
  if (existsSync(target)) return;
  mkdirSync(prebuilds, { recursive: true });
  const partial = `${target}.${process.pid}.partial`;
  await succeed('tar', ['-C', packageDir, '-czf', partial, 'build/Release/better_sqlite3.node'], { cwd: root, ms: 60_000, env: userEnv() });
  renameSync(partial, target);
}

afterAll(async () => {
  // The worker first (it lets running jobs finish), then the server; each gets SIGTERM, then SIGKILL.
  for (const running of background.reverse()) {
    if (running.child.exitCode !== null || running.child.signalCode !== null) continue;
    running.child.kill('SIGTERM');
    const timer = setTimeout(() => running.child.kill('SIGKILL'), 15_000);
    await running.exited;
    clearTimeout(timer);
  }
  rmSync(root, { recursive: true, force: true });
  console.log(
    `install test: ${steps.map((s) => `${s.name} ${s.seconds.toFixed(1)} s${s.ok ? '' : ' FAILED'}`).join('; ')}; total ${steps.reduce((sum, s) => sum + s.seconds, 0).toFixed(1)} s`,
  );
}, 60_000);

describe('the public packages, installed from their tarballs outside the workspace', () => {
  const packed = new Map<string, string>(); // name → tarball
  let installed = false;
  const needInstall = () => {
    if (!installed) throw new Error('The tarballs were not installed (see the failed "npm install" step above): nothing to run');
  };

  it('packs every public package with pnpm', { timeout: 120_000 }, async () => {
    await step('pnpm pack', async () => {
      const list = await succeed('pnpm', ['ls', '-r', '--depth', '-1', '--json'], {
        cwd: repoRoot,
        ms: 60_000,
        env: { ...userEnv(), PATH: process.env.PATH ?? '' },
      });
      const packages = (JSON.parse(list.stdout) as { name: string; path: string; private?: boolean }[]).filter((p) => !p.private);
      expect(packages.map((p) => p.name).sort(), 'the workspace packages without "private": true').toEqual(PUBLIC_PACKAGES);
      mkdirSync(tarballs, { recursive: true });
      for (const pkg of packages) {
        const before = new Set(readdirSync(tarballs));
        await succeed('pnpm', ['pack', '--pack-destination', tarballs], { cwd: pkg.path, ms: 60_000, env: { ...userEnv(), PATH: process.env.PATH ?? '' } });
        const made = readdirSync(tarballs).filter((f) => !before.has(f));
        expect(made, `the tarball "pnpm pack" wrote for ${pkg.name}`).toHaveLength(1);
        packed.set(pkg.name, join(tarballs, made[0] as string));
      }
    });
  });

  it('ships what runs and nothing else: no tests, maps or build info; LICENSE, README, migrations, bins', { timeout: 60_000 }, async () => {
    await step('tarball contents', async () => {
      expect([...packed.keys()].sort(), 'packed packages').toEqual(PUBLIC_PACKAGES);
      const rootEngines = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines: unknown }).engines;
      for (const [name, file] of packed) {
        const { files, manifest } = await inspectTarball(file);
        const unwanted = files.filter((f) => /\.test\.|\.map$|\.tsbuildinfo$|(^|\/)test[A-Z]|testFixtures|(^|\/)src\//.test(f));
        expect(unwanted, `files of ${name} that no user needs (tests, their helpers, source maps, build info, sources)`).toEqual([]);
        expect(files, `${name}'s tarball`).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json']));
        expect(readFileSync(join(repoRoot, 'LICENSE'), 'utf8'), 'the root LICENSE').toContain('Apache License');
        const text = JSON.stringify(manifest);
        expect(text.includes('workspace:'), `${name}'s packed package.json still says workspace: (${text.match(/"[^"]*":"workspace:[^"]*"/)?.[0]})`).toBe(
          false,
        );
        expect(manifest, `${name}'s packed package.json`).toMatchObject({
          license: 'Apache-2.0',
          engines: rootEngines,
          repository: { type: 'git', directory: expect.stringMatching(/^packages\//) },
          main: './dist/index.js',
          types: './dist/index.d.ts',
        });
        expect(manifest, `${name}'s sideEffects`).toHaveProperty('sideEffects');
        const pointedAt = targets([manifest.exports, manifest.bin, manifest.main, manifest.types]).map((t) => t.replace(/^\.\//, ''));
        expect(
          pointedAt.filter((t) => !files.includes(t)),
          `files ${name}'s package.json points at (exports, bin, main, types) that its tarball lacks`,
        ).toEqual([]);
      }
      const cli = await inspectTarball(packed.get('@drover/cli') as string);
      expect(cli.manifest.bin, '@drover/cli\'s "bin"').toEqual({ drover: './dist/bin.js' });
      const server = await inspectTarball(packed.get('@drover/server') as string);
      const migrations = readdirSync(join(repoRoot, 'packages/server/drizzle/sqlite')).filter((f) => f.endsWith('.sql'));
      expect(migrations.length, 'migrations in packages/server/drizzle/sqlite').toBeGreaterThan(0);
      expect(server.files, "@drover/server's tarball: the migrations the server applies at start").toEqual(
        expect.arrayContaining(['drizzle/sqlite/meta/_journal.json', ...migrations.map((f) => `drizzle/sqlite/${f}`)]),
      );
    });
  });

  it('installs the tarballs with npm, dependencies from the registry', { timeout: 600_000 }, async () => {
    await step('npm install', async () => {
      expect([...packed.keys()].sort(), 'packed packages').toEqual(PUBLIC_PACKAGES);
      // Outside the workspace, so nothing resolves through its node_modules (set TMPDIR elsewhere if this fails).
      expect(relative(repoRoot, app).startsWith('..'), `the install folder ${app}, outside the workspace ${repoRoot}`).toBe(true);
      mkdirSync(project, { recursive: true });
      mkdirSync(home, { recursive: true });
      // A user's project: an ES module package (as `npm init -y` + `"type": "module"`).
      writeFileSync(
        join(app, 'package.json'),
        `${JSON.stringify({ name: 'drover-install-test', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
      );
      // The versions this repository builds with, so the check is of our packages, not a new tool release.
      const rootPkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
      const clientPkg = JSON.parse(readFileSync(join(repoRoot, 'packages/client/package.json'), 'utf8')) as { dependencies: Record<string, string> };
      const tools = [
        `typescript@${rootPkg.devDependencies.typescript}`,
        `@types/node@${rootPkg.devDependencies['@types/node']}`,
        `tsx@${clientPkg.dependencies.tsx}`,
        `zod@${clientPkg.dependencies.zod}`,
      ];
      // The workspace's own build of better-sqlite3 (see `prebuilds` above).
      const workspaceDriver = join(createRequire(join(repoRoot, 'packages/server/package.json')).resolve('better-sqlite3'), '..', '..');
      await keepPrebuild(workspaceDriver);
      // What takes the time: npm's registry metadata requests for ~80 packages (about 25 s with a
      // warm cache) and, when no prebuild of better-sqlite3 matches, compiling it (70-150 s).
      const result = await succeed('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...packed.values(), ...tools], {
        cwd: app,
        ms: 540_000,
        env: userEnv({ npm_config_better_sqlite3_local_prebuilds: prebuilds, npm_config_update_notifier: 'false' }),
      });
      await keepPrebuild(join(app, 'node_modules', 'better-sqlite3'));
      for (const name of PUBLIC_PACKAGES) {
        expect(existsSync(join(app, 'node_modules', name, 'package.json')), `${name} installed in ${app}/node_modules\n${result.stderr}`).toBe(true);
      }
      installed = true;
    });
  });

  it('runs `npx drover --help` from the installed @drover/cli', { timeout: 60_000 }, async () => {
    needInstall();
    await step('npx drover --help', async () => {
      const result = await succeed('npx', ['--no-install', 'drover', '--help'], { cwd: app, ms: 60_000 });
      expect(result.stdout).toMatch(/^Usage: drover /);
      expect(result.stdout).toContain('drover server start');
    });
  });

  it('starts `drover server start` on SQLite in DROVER_HOME', { timeout: 60_000 }, async () => {
    needInstall();
    await step('drover server start', async () => {
      const server = startBackground(join(bin, 'drover'), ['server', 'start', '--port', '0'], app);
      const [, url] = await server.waitFor(/listening at (http:\/\/\S+)/, 45_000);
      apiUrl = url;
      await drover(['server', 'status', '--wait', '--timeout', '30s'], app);
      expect(existsSync(join(home, 'drover.db')), `the database in DROVER_HOME ${home}`).toBe(true);
      const health = await fetch(`${url}/health`);
      expect(health.status, 'GET /health').toBe(200);
      // The web UI comes with the installed CLI: its page, and the script that page loads.
      const page = await fetch(`${url}/runs`);
      const html = await page.text();
      expect(page.status, 'GET /runs (a UI page)').toBe(200);
      const script = /<script type="module" crossorigin src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
      expect(script, `the UI's script in ${html}`).toBeDefined();
      const asset = await fetch(`${url}${script}`);
      expect([asset.status, asset.headers.get('content-type')], `GET ${script}`).toEqual([200, expect.stringContaining('javascript')]);
    });
  });

  it('creates a process work pool, a project (`drover init`) and deploys it (`drover deploy --all`)', { timeout: 120_000 }, async () => {
    needInstall();
    expect(apiUrl, 'the server started by the previous step').toBeDefined();
    await step('drover work-pool create', async () => {
      const result = await drover(['work-pool', 'create', 'local', '--type', 'process'], app);
      expect(result.stdout).toContain('Created work pool local (process)');
    });
    await step('drover init', async () => {
      const result = await drover(['init', '--name', 'installed']);
      expect(result.stdout).toContain('Created Drover project "installed"');
      for (const file of ['drover.yaml', '.droverignore', 'flows/example.ts'])
        expect(existsSync(join(project, file)), `${file} written by drover init`).toBe(true);
    });
    await step('drover deploy --all', async () => {
      const result = await drover(['deploy', '--all']);
      expect(result.stdout).toContain('Created deployment hello/example');
    });
  });

  it('runs the deployment on a worker and watches it to COMPLETED', { timeout: 120_000 }, async () => {
    needInstall();
    expect(apiUrl, 'the server started by a previous step').toBeDefined();
    await step('drover worker start', async () => {
      const worker = startBackground(join(bin, 'drover'), ['worker', 'start', '--pool', 'local'], app);
      await worker.waitFor(/started on process pool "local"/, 45_000);
    });
    await step('drover deployment run --watch', async () => {
      const result = await drover(['deployment', 'run', 'hello/example', '--param', 'name=installed', '--watch', '--timeout', '90s'], project, 100_000);
      expect(result.stdout).toMatch(/finished: COMPLETED/);
      expect(result.stdout).toContain('Result: {"greeted":"installed"}');
    });
  });

  // The README's own pattern: a flow and its deploy() in one file, run as a script. The deployment
  // it creates is then run by the worker, which imports the same file to find the flow.
  const deployScript = (flowName: string, typed: boolean) => `import { deploy, flow } from '@drover/client';
import { z } from 'zod';

export const double = flow({ name: '${flowName}', parameters: z.object({ n: z.number() }) }, async ({ n }${typed ? ': { n: number }' : ''}) => ({ doubled: n * 2 }));

const deployed = await deploy(double, { workPoolName: 'local', printNextSteps: false });
console.log(\`deployed \${deployed.map((d) => d.fullName).join(', ')}\`);
`;

  for (const [extension, runner] of [
    ['mjs', 'node'],
    ['ts', 'tsx'],
  ] as const) {
    it(`deploys a flow from the file that defines it (.${extension} under ${runner}) and runs it`, { timeout: 180_000 }, async () => {
      needInstall();
      expect(apiUrl, 'the server started by a previous step').toBeDefined();
      const flowName = `double-${extension}`;
      const script = join(app, 'scripts', `deploy.${extension}`);
      mkdirSync(join(app, 'scripts'), { recursive: true });
      writeFileSync(script, deployScript(flowName, extension === 'ts'));
      await step(`deploy() from a .${extension} script (${runner})`, async () => {
        const command = runner === 'node' ? process.execPath : join(bin, 'tsx');
        expect(existsSync(command), `${command}: the installed ${runner}`).toBe(true);
        const result = await succeed(command, [script], { cwd: app, ms: 60_000 });
        expect(result.stdout).toContain(`deployed ${flowName}/${flowName}`);
      });
      await step(`run of the .${extension} script's deployment`, async () => {
        const result = await drover(['deployment', 'run', `${flowName}/${flowName}`, '--param', 'n=21', '--watch', '--timeout', '90s'], app, 100_000);
        expect(result.stdout).toMatch(/finished: COMPLETED/);
        expect(result.stdout).toContain('Result: {"doubled":42}');
      });
    });
  }

  it('loads @drover/client with CommonJS require() and talks to the server', { timeout: 60_000 }, async () => {
    needInstall();
    expect(apiUrl, 'the server started by a previous step').toBeDefined();
    await step('require() from a .cjs file', async () => {
      const script = join(app, 'scripts', 'require.cjs');
      mkdirSync(join(app, 'scripts'), { recursive: true });
      writeFileSync(
        script,
        `const { DroverClient, flow, runDeployment, RunnerDeployment } = require('@drover/client');
const { z } = require('zod');
const hello = flow({ name: 'cjs', parameters: z.object({ name: z.string() }) }, async ({ name }) => name);
new DroverClient({ apiUrl: process.env.DROVER_API_URL }).health().then((health) => {
  console.log(JSON.stringify({ flow: hello.name, runDeployment: typeof runDeployment, RunnerDeployment: typeof RunnerDeployment, health }));
});
`,
      );
      const result = await succeed(process.execPath, [script], { cwd: app, ms: 30_000 });
      expect(JSON.parse(result.stdout)).toEqual({ flow: 'cjs', runDeployment: 'function', RunnerDeployment: 'function', health: { status: 'ok' } });
    });
  });

  it('type-checks the SDK under moduleResolution nodenext and bundler, where a wrong parameter type fails', { timeout: 120_000 }, async () => {
    needInstall();
    const dir = join(app, 'typecheck');
    mkdirSync(dir, { recursive: true });
    // The @ts-expect-error line must be an error: if the types degrade to `any` (a .d.ts that
    // names a package the user has not installed, a missing `types` condition), tsc reports the
    // directive as unused and the check fails.
    writeFileSync(
      join(dir, 'check.ts'),
      `import { type FlowRun, flow, RunnerDeployment, runDeployment } from '@drover/client';
import { z } from 'zod';

export const etl = flow({ name: 'etl', parameters: z.object({ date: z.string(), rows: z.number() }) }, async ({ date, rows }) => ({ date, rows }));
const nightly = RunnerDeployment.fromFlow(etl, { name: 'nightly', workPoolName: 'local' });

export async function main(): Promise<FlowRun> {
  // @ts-expect-error rows is a number in the flow's schema: a string must not type-check
  await runDeployment(nightly, { parameters: { rows: 'many' } });
  return runDeployment(nightly, { parameters: { date: '2026-01-01', rows: 3 } });
}
`,
    );
    const base = { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] };
    const configs = {
      nodenext: { ...base, module: 'nodenext', moduleResolution: 'nodenext' },
      bundler: { ...base, module: 'preserve', moduleResolution: 'bundler' },
    };
    const checks = Object.entries(configs).map(([resolution, compilerOptions]) =>
      step(`tsc (moduleResolution ${resolution})`, async () => {
        const config = join(dir, `tsconfig.${resolution}.json`);
        writeFileSync(config, JSON.stringify({ compilerOptions, files: ['check.ts'] }, null, 2));
        const tsc = join(bin, 'tsc');
        expect(existsSync(tsc), `${tsc}: the typescript installed from the registry`).toBe(true);
        const result = await exec(tsc, ['-p', config], { cwd: dir, ms: 90_000 });
        expect(`${result.stdout}${result.stderr}`, `tsc -p ${relative(app, config)} (moduleResolution ${resolution})`).toBe('');
        expect(result.code, `tsc's exit code under moduleResolution ${resolution}`).toBe(0);
      }),
    );
    const results = await Promise.allSettled(checks);
    for (const result of results) if (result.status === 'rejected') throw result.reason;
  });
});
