// Bad invocations of the real `drover` binary against a real server: the exit code (2 bad usage,
// 1 failure) and the exact text on stderr, which names the value, where it came from and the fix.
import { createServer } from 'node:net';
import { DroverClient } from '@drover/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOWS, makeProject, startTestServer, type TestServer } from './testCli.js';

let srv: TestServer;
const projects: { remove(): void }[] = [];
function project(files: Record<string, string>): string {
  const made = makeProject(files);
  projects.push(made);
  return made.dir;
}

let closedPort: number;
let flowsDir: string;
let yamlDirs: Record<string, string>;

const DEPLOYMENTS_YAML = `name: demo
deployments:
  - name: a
    entrypoint: flows/hello.ts:hello
    workPool: { name: local }
  - name: b
    entrypoint: flows/tick.ts:tick
    workPool: { name: missing-pool }
`;

beforeAll(async () => {
  srv = await startTestServer();
  const client = new DroverClient({ apiUrl: srv.server.url, apiKey: '' });
  await client.workPools.create({ name: 'local', type: 'process' });
  await client.deployments.upsert({
    flowName: 'hello',
    name: 'x',
    entrypoint: 'flows/hello.ts:hello',
    workPoolName: 'local',
    parameterSchema: { type: 'object', properties: { name: { type: 'string', default: 'world' }, times: { type: 'number', default: 1 } } },
    schedules: [{ schedule: { interval: 3600 }, slug: 'hourly' }],
  });
  const blocker = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => blocker.once('listening', resolve));
  closedPort = (blocker.address() as { port: number }).port;
  await new Promise((resolve) => blocker.close(resolve));

  flowsDir = project(FLOWS);
  yamlDirs = {
    badCron: project({
      'drover.yaml': 'name: demo\ndeployments:\n  - name: a\n    entrypoint: flows/hello.ts:hello\n    schedules:\n      - cron: "0 25 * * *"\n',
    }),
    snakeCase: project({ 'drover.yaml': 'name: demo\ndeployments:\n  - name: a\n    entrypoint: flows/hello.ts:hello\n    work_pool:\n      name: local\n' }),
    syntax: project({ 'drover.yaml': 'name: demo\ndeployments:\n  - name: a\n   entrypoint: x\n' }),
    badStep: project({ 'drover.yaml': 'name: demo\nbuild:\n  - docker_bild: { image: x }\n' }),
    unsetEnv: project({
      'drover.yaml': 'name: demo\ndeployments:\n  - name: a\n    entrypoint: flows/hello.ts:hello\n    version: "{{ $DROVER_TEST_UNSET_VERSION }}"\n',
    }),
    missingPool: project({ ...FLOWS, 'drover.yaml': DEPLOYMENTS_YAML }),
  };
}, 180_000);

afterAll(async () => {
  for (const p of projects) p.remove();
  await srv?.close();
});

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  readonly code: 1 | 2;
  /** The exact stderr; a function gets the test's values (ports, folders). */
  readonly stderr: string | RegExp | (() => string);
  readonly cwd?: () => string;
  readonly env?: () => Record<string, string>;
}

const usage = (command: string) => `Run "drover${command ? ` ${command}` : ''} --help" for usage.\n`;

const CASES: Case[] = [
  { name: 'unknown command', args: ['foo'], code: 2, stderr: `Error: unknown command 'foo'\n${usage('')}` },
  { name: 'unknown option', args: ['deployment', 'ls', '--colour'], code: 2, stderr: `Error: unknown option '--colour'\n${usage('deployment ls')}` },
  {
    name: 'missing required option',
    args: ['work-pool', 'create', 'p1'],
    code: 2,
    stderr: `Error: required option '--type <type>' not specified\n${usage('work-pool create')}`,
  },
  {
    name: 'invalid pool name',
    args: ['work-pool', 'create', 'bad name', '--type', 'process'],
    code: 2,
    stderr: 'Error: Invalid work pool name "bad name": use 1-100 letters, digits, "-", "_" or ".", starting with a letter or digit\n',
  },
  { name: 'unknown pool', args: ['work-pool', 'inspect', 'nope'], code: 1, stderr: 'Error: Work pool "nope" not found (existing pools: local)\n' },
  {
    name: 'bad cron flag',
    args: ['deploy', 'flows/hello.ts:hello', '--pool', 'local', '--cron', '0 25 * * *'],
    cwd: () => flowsDir,
    code: 2,
    stderr: 'Error: --cron: Invalid cron "0 25 * * *": hour must be 0-23\n',
  },
  {
    name: 'bad timezone flag',
    args: ['deploy', 'flows/hello.ts:hello', '--pool', 'local', '--cron', '0 9 * * *', '--timezone', 'Mars/Olympus'],
    cwd: () => flowsDir,
    code: 2,
    stderr: 'Error: --timezone: Invalid timezone "Mars/Olympus" (use an IANA name such as America/New_York)\n',
  },
  {
    name: 'timezone without a schedule',
    args: ['deploy', 'flows/hello.ts:hello', '--pool', 'local', '--timezone', 'Europe/London'],
    cwd: () => flowsDir,
    code: 2,
    stderr: 'Error: --timezone needs a schedule: add --cron, --interval or --rrule\n',
  },
  {
    name: 'entrypoint without an export',
    args: ['deploy', 'flows/hello.ts', '--pool', 'local'],
    code: 2,
    stderr: 'Error: Invalid entrypoint "flows/hello.ts": expected path/to/file.ts:exportName\n',
  },
  {
    name: 'entrypoint file missing',
    args: ['deploy', 'flows/nope.ts:hello', '--pool', 'local'],
    cwd: () => flowsDir,
    code: 1,
    stderr: () => `Error: Cannot load flow "flows/nope.ts:hello": ${flowsDir}/flows/nope.ts does not exist (entrypoints are relative to ${flowsDir})\n`,
  },
  {
    name: 'deploy without a pool',
    args: ['deploy', 'flows/hello.ts:hello'],
    cwd: () => flowsDir,
    code: 2,
    stderr: 'Error: Deployment "hello/hello" (the command line) has no work pool: pass --pool NAME, or set workPool.name in drover.yaml\n',
  },
  {
    name: 'nothing to deploy',
    args: ['deploy'],
    cwd: () => flowsDir,
    code: 2,
    stderr: () =>
      `Error: Nothing to deploy: no drover.yaml in ${flowsDir} and no entrypoint given. Pass one (drover deploy path/to/file.ts:flowName --pool NAME), or create a project with \`drover init\`\n`,
  },
  {
    name: 'drover.yaml: bad cron, with its key path',
    args: ['deploy', '--all'],
    cwd: () => yamlDirs.badCron as string,
    code: 1,
    stderr: 'Error: drover.yaml: deployments.0.schedules.0.cron: Invalid cron "0 25 * * *": hour must be 0-23\n',
  },
  {
    name: 'drover.yaml: a {{ $VARIABLE }} that is not set, with its key path',
    args: ['deploy', '--all'],
    cwd: () => yamlDirs.unsetEnv as string,
    code: 1,
    stderr:
      'Error: drover.yaml: deployments.0.version: {{ $DROVER_TEST_UNSET_VERSION }} names the environment variable DROVER_TEST_UNSET_VERSION, which is not set: set it, or write the value\n',
  },
  {
    name: 'drover.yaml: a Prefect-style key',
    args: ['deploy', '--all'],
    cwd: () => yamlDirs.snakeCase as string,
    code: 1,
    stderr: 'Error: drover.yaml: deployments.0: Unknown key "work_pool": did you mean "workPool"?\n',
  },
  {
    name: 'drover.yaml: syntax error',
    args: ['deploy', '--all'],
    cwd: () => yamlDirs.syntax as string,
    code: 1,
    stderr: 'Error: drover.yaml: line 4, column 1: Sequence item without - indicator\n',
  },
  {
    name: 'drover.yaml: unknown build step',
    args: ['deploy', '--all'],
    cwd: () => yamlDirs.badStep as string,
    code: 1,
    stderr: 'Error: drover.yaml: build.0: Unknown key "docker_bild": did you mean "docker_build"?\n',
  },
  {
    name: 'drover.yaml: several deployments and no --name',
    args: ['deploy'],
    cwd: () => yamlDirs.missingPool as string,
    code: 2,
    stderr: 'Error: drover.yaml has 2 deployments (a, b): pick one with --name NAME, or deploy them all with --all\n',
  },
  {
    name: 'drover.yaml: --name that is not there',
    args: ['deploy', '--name', 'c'],
    cwd: () => yamlDirs.missingPool as string,
    code: 1,
    stderr: 'Error: drover.yaml has no deployment named "c" (its deployments: a, b)\n',
  },
  {
    name: '--all with --name',
    args: ['deploy', '--all', '--name', 'a'],
    cwd: () => yamlDirs.missingPool as string,
    code: 2,
    stderr: 'Error: --all and --name cannot be used together: --all deploys every deployment in drover.yaml\n',
  },
  {
    name: 'a work pool that does not exist (nothing is deployed)',
    args: ['deploy', '--all'],
    cwd: () => yamlDirs.missingPool as string,
    code: 1,
    stderr:
      'Error: Work pool "missing-pool" does not exist, and deployment "tick/b" (drover.yaml deployments.1) uses it: create it with `drover work-pool create missing-pool --type process`, or use one of the existing pools (local)\n',
  },
  {
    name: 'missing server, with the URL tried',
    args: ['deployment', 'ls'],
    env: () => ({ DROVER_API_URL: `http://127.0.0.1:${closedPort}` }),
    code: 1,
    stderr: () =>
      `Error: Cannot reach the Drover server at http://127.0.0.1:${closedPort} (connection refused): start one with \`drover server start\`, or point DROVER_API_URL at a running server\n`,
  },
  {
    name: 'DROVER_API_URL that is not a URL',
    args: ['work-pool', 'ls'],
    env: () => ({ DROVER_API_URL: 'not a url' }),
    code: 1,
    stderr: 'Error: Invalid DROVER_API_URL "not a url": expected an http(s) URL such as http://127.0.0.1:4200, or several separated by commas\n',
  },
  {
    name: 'DROVER_API_URL listing a replica that is not a URL',
    args: ['work-pool', 'ls'],
    env: () => ({ DROVER_API_URL: 'http://127.0.0.1:4200, ftp://b' }),
    code: 1,
    stderr:
      'Error: Invalid DROVER_API_URL "http://127.0.0.1:4200, ftp://b": "ftp://b" is not an http(s) URL; expected an http(s) URL such as http://127.0.0.1:4200, or several separated by commas\n',
  },
  { name: 'unknown deployment', args: ['deployment', 'inspect', 'nope/nope'], code: 1, stderr: 'Error: Deployment "nope/nope" not found\n' },
  {
    name: 'malformed deployment name',
    args: ['deployment', 'run', 'hello'],
    code: 2,
    stderr:
      'Error: Invalid deployment "hello": expected flow-name/deployment-name, each 1-100 letters, digits, "-", "_" or ".", starting with a letter or digit\n',
  },
  {
    name: 'bad --param',
    args: ['deployment', 'run', 'hello/x', '--param', 'name'],
    code: 2,
    stderr: 'Error: Invalid --param "name": expected key=value, e.g. name=ada or count=3\n',
  },
  {
    name: 'unknown parameter',
    args: ['deployment', 'run', 'hello/x', '--param', 'nme=ada'],
    code: 1,
    stderr: 'Error: Unknown parameter "nme" for deployment "hello/x" (its parameters: name, times): did you mean "name"?\n',
  },
  {
    name: '--params not an object',
    args: ['deployment', 'run', 'hello/x', '--params', '[1, 2]'],
    code: 2,
    stderr: 'Error: Invalid --params "[1, 2]": expected a JSON object such as \'{"name": "ada"}\', not an array\n',
  },
  {
    name: 'bad --start-in',
    args: ['deployment', 'run', 'hello/x', '--start-in', 'soon'],
    code: 2,
    stderr: 'Error: Invalid --start-in "soon": expected a duration such as 30s, 10m, 1h30m or 2d\n',
  },
  {
    name: '--start-in with --start-at',
    args: ['deployment', 'run', 'hello/x', '--start-in', '10m', '--start-at', '2030-01-01T00:00:00Z'],
    code: 2,
    stderr: `Error: option '--start-in <duration>' cannot be used with option '--start-at <iso>'\n${usage('deployment run')}`,
  },
  {
    name: 'unknown schedule',
    args: ['deployment', 'schedule', 'pause', 'hello/x', 'nightly'],
    code: 1,
    stderr:
      /^Error: Deployment "hello\/x" has no schedule "nightly" \(its schedules: [0-9a-f-]{36} \(hourly\); see `drover deployment schedule ls hello\/x`\)\n$/,
  },
  {
    name: 'bad rrule',
    args: ['deployment', 'schedule', 'add', 'hello/x', '--rrule', 'FREQ=SOMETIMES'],
    code: 2,
    stderr: 'Error: --rrule: Invalid rrule "FREQ=SOMETIMES": FREQ=SOMETIMES is not valid\n',
  },
  { name: 'bad --limit', args: ['flow-run', 'ls', '--limit', '0'], code: 2, stderr: 'Error: Invalid --limit "0": expected a whole number from 1 to 1000\n' },
  {
    name: 'bad --state',
    args: ['flow-run', 'ls', '--state', 'done'],
    code: 2,
    stderr: 'Error: Invalid --state "done": expected one of SCHEDULED, PENDING, RUNNING, COMPLETED, FAILED, CANCELLING, CANCELLED, CRASHED, PAUSED\n',
  },
  {
    name: 'flow run id that is not a UUID',
    args: ['flow-run', 'inspect', 'abc'],
    code: 2,
    stderr: 'Error: Invalid flow run id "abc": expected a UUID such as 0192f0c4-3b5e-7a1c-9d2e-4f6a8b0c1d2e (see `drover flow-run ls`)\n',
  },
  {
    name: 'unknown flow run',
    args: ['flow-run', 'logs', '0192f0c4-3b5e-7a1c-9d2e-4f6a8b0c1d2e'],
    code: 1,
    stderr: 'Error: Flow run 0192f0c4-3b5e-7a1c-9d2e-4f6a8b0c1d2e not found\n',
  },
  { name: 'unknown setting', args: ['config', 'set', 'api.foo', 'x'], code: 2, stderr: 'Error: Unknown setting "api.foo": use one of api.url, api.key\n' },
  {
    name: 'bad api.url',
    args: ['config', 'set', 'api.url', 'ftp://example.com'],
    code: 2,
    stderr: 'Error: Invalid api.url "ftp://example.com": expected an http(s) URL such as http://127.0.0.1:4200, or several separated by commas\n',
  },
  {
    name: 'bad --port',
    args: ['server', 'start', '--port', '99999'],
    code: 2,
    stderr: 'Error: Invalid --port "99999": expected a whole number from 0 to 65535\n',
  },
  {
    name: 'init where a project exists',
    args: ['init'],
    cwd: () => yamlDirs.badCron as string,
    code: 1,
    stderr: () => `Error: Not initialising ${yamlDirs.badCron}: drover.yaml already exists; move or delete them first\n`,
  },
];

// Each case is a real process; on a busy two-core machine one can take seconds.
describe.concurrent('bad invocations', { timeout: 180_000 }, () => {
  it.for(CASES)('$name', async ({ args, code, stderr, cwd, env }, { expect: check }) => {
    const result = await srv.run(args, { cwd: cwd?.(), env: env?.() });
    const expected = typeof stderr === 'function' ? stderr() : stderr;
    if (expected instanceof RegExp) check(result.stderr).toMatch(expected);
    else check(result.stderr).toBe(expected);
    check(result.code).toBe(code);
    check(result.stdout).toBe('');
  });
});

describe('a failed deploy writes nothing', { timeout: 180_000 }, () => {
  it('leaves no deployment behind when one of several cannot be deployed', async () => {
    const listed = await srv.run(['deployment', 'ls', '--json']);
    const names = (JSON.parse(listed.stdout) as { flowName: string; name: string }[]).map((d) => `${d.flowName}/${d.name}`);
    expect(names).toEqual(['hello/x']);
  });
});
