// Every command group run as the real `drover` binary against a real server: the tables a person
// reads, the JSON a script reads (checked with the @drover/schemas schema it claims to be), and the
// exit codes.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { getDates } from '@drover/scheduling';
import { Deployment, defaultBaseJobTemplate, FlowRun, Project, WorkPool, WorkQueue } from '@drover/schemas';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { FLOWS, makeProject, startTestServer, type TestServer } from './testCli.js';

let srv: TestServer;
const cleanups: (() => void)[] = [];
const project = (files: Record<string, string>) => {
  const made = makeProject(files);
  cleanups.push(made.remove);
  return made.dir;
};
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const json = <T>(schema: z.ZodType<T>, text: string): T => schema.parse(JSON.parse(text));

beforeAll(async () => {
  srv = await startTestServer();
}, 180_000);

afterAll(async () => {
  for (const cleanup of cleanups) cleanup();
  await srv?.close();
});

describe('help and version', { timeout: 180_000 }, () => {
  it('prints help with examples, the version, and exits 2 for a group without a command', async () => {
    const [help, runHelp, version, group] = await Promise.all([
      srv.run(['--help']),
      srv.run(['deployment', 'run', '--help']),
      srv.run(['--version']),
      srv.run(['work-pool']),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: drover \[options\] \[command\]\n/);
    expect(help.stdout).toContain('Exit codes: 0 ok, 1 failure, 2 bad usage.');
    expect(runHelp.code).toBe(0);
    expect(runHelp.stdout).toContain('Usage: drover deployment run [options] <name>');
    expect(runHelp.stdout).toContain('Examples:\n  $ drover deployment run hello/example --param name=ada --watch\n');
    expect(version).toEqual({ code: 0, stdout: `${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`, stderr: '' });
    expect(group.code).toBe(2);
    expect(group.stdout).toBe('');
    expect(group.stderr).toMatch(/^Usage: drover work-pool\|work-pools \[options\] \[command\]/);
  });
});

describe('work-pool and work-queue', { timeout: 180_000 }, () => {
  it('creates, lists (table and JSON), updates, pauses and deletes pools and queues', async () => {
    const created = await srv.run(['work-pool', 'create', 'local', '--type', 'process', '--description', 'on this machine']);
    expect(created).toEqual({ code: 0, stdout: 'Created work pool local (process)\nStart a worker for it: drover worker start --pool local\n', stderr: '' });

    const [table, listed, coloured] = await Promise.all([
      srv.run(['work-pool', 'ls']),
      srv.run(['work-pool', 'ls', '--json']),
      srv.run(['work-pool', 'ls'], { env: { FORCE_COLOR: '1' } }),
    ]);
    // Piped output has no colour codes; FORCE_COLOR turns them on.
    expect(table.stdout).toBe('NAME   TYPE     STATUS     CONCURRENCY  DESCRIPTION\nlocal  process  NOT_READY  unlimited    on this machine\n');
    expect(json(z.array(WorkPool), listed.stdout).map((p) => [p.name, p.type, p.description])).toEqual([['local', 'process', 'on this machine']]);
    expect(coloured.stdout).toContain('\x1b[1mNAME\x1b[0m');

    expect((await srv.run(['work-pool', 'update', 'local', '--concurrency-limit', '3'])).stdout).toBe('Updated work pool local\n');
    const [cleared, paused] = await Promise.all([
      srv.run(['work-pool', 'update', 'local', '--concurrency-limit', 'none', '--json']),
      srv.run(['work-pool', 'pause', 'local', '--json']),
    ]);
    expect(json(WorkPool, cleared.stdout).concurrencyLimit).toBeNull();
    expect(json(WorkPool, paused.stdout).isPaused).toBe(true);
    expect((await srv.run(['work-pool', 'resume', 'local'])).stdout).toBe('Resumed work pool local\n');

    expect((await srv.run(['work-queue', 'create', 'urgent', '--pool', 'local', '--priority', '1'])).stdout).toBe(
      'Created work queue urgent in pool local (priority 1)\n',
    );
    const [queues, queueTable] = await Promise.all([
      srv.run(['work-queue', 'ls', '--pool', 'local', '--json']),
      srv.run(['work-queue', 'ls', '--pool', 'local']),
    ]);
    const queuePaused = await srv.run(['work-queue', 'pause', 'urgent', '--pool', 'local']);
    expect(json(z.array(WorkQueue), queues.stdout).map((q) => [q.name, q.priority])).toEqual([
      ['urgent', 1],
      ['default', 2],
    ]);
    expect(queueTable.stdout).toBe(
      'NAME     PRIORITY  STATUS     CONCURRENCY  LAST POLLED\nurgent   1         not ready  unlimited    -\ndefault  2         not ready  unlimited    -\n',
    );
    expect(queuePaused.stdout).toBe('Paused work queue urgent in pool local\n');
    const limited = json(WorkQueue, (await srv.run(['work-queue', 'update', 'urgent', '--pool', 'local', '--concurrency-limit', '2', '--json'])).stdout);
    expect([limited.isPaused, limited.concurrencyLimit]).toEqual([true, 2]);
    expect((await srv.run(['work-queue', 'delete', 'urgent', '--pool', 'local'])).stdout).toBe('Deleted work queue urgent in pool local\n');

    const inspect = await srv.run(['work-pool', 'inspect', 'local']);
    expect(inspect.stdout).toMatch(new RegExp(`^name: +local\nid: +${UUID}\ntype: +process\n`));
    expect(inspect.stdout).toContain('No workers yet. Start one with `drover worker start --pool local`.\n');
  });

  it('prints the default job template, and creates a pool from an edited one (or says what is wrong with it)', async () => {
    const printed = await srv.run(['work-pool', 'get-default-base-job-template', '--type', 'docker']);
    expect(JSON.parse(printed.stdout)).toEqual(defaultBaseJobTemplate('docker'));
    const dir = project({});
    const written = await srv.run(['work-pool', 'get-default-base-job-template', '--type', 'process', '--file', 'template.json'], { cwd: dir });
    expect(written.stdout).toBe('Wrote the default process job template to template.json\n');
    const template = JSON.parse(readFileSync(join(dir, 'template.json'), 'utf8'));
    template.variables.properties.env.default = { MODE: 'test' };
    writeFileSync(join(dir, 'template.json'), JSON.stringify(template));
    writeFileSync(join(dir, 'broken.json'), JSON.stringify({ jobConfiguration: {}, variables: { type: 'array', properties: {} } }));
    const [fromFile, broken] = await Promise.all([
      srv.run(['work-pool', 'create', 'templated', '--type', 'process', '--base-job-template', 'template.json', '--json'], { cwd: dir }),
      srv.run(['work-pool', 'create', 'broken', '--type', 'process', '--base-job-template', 'broken.json'], { cwd: dir }),
    ]);
    expect(json(WorkPool, fromFile.stdout).baseJobTemplate.variables.properties.env).toMatchObject({ default: { MODE: 'test' } });
    expect(broken).toEqual({ code: 1, stdout: '', stderr: 'Error: broken.json: variables.type: Invalid input: expected "object"\n' });
    expect((await srv.run(['work-pool', 'delete', 'templated'])).stdout).toBe('Deleted work pool templated\n');
  });
});

const PROJECT_YAML = `name: demo
deployments:
  - name: nightly
    entrypoint: flows/hello.ts:hello
    parameters:
      name: yaml
    schedules:
      - cron: "0 2 * * *"
        timezone: Europe/London
        slug: nightly
    workPool:
      name: local
  - name: every-minute
    entrypoint: flows/tick.ts:tick
    schedules:
      - interval: 60
    workPool:
      name: local
      workQueueName: fast
`;

describe('deploy and deployment', { timeout: 180_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = project({ ...FLOWS, 'drover.yaml': PROJECT_YAML });
    await srv.run(['work-pool', 'create', 'local', '--type', 'process']);
  }, 180_000);

  it('--dry-run shows what would be created, with next run times, and changes nothing', async () => {
    const [text, planned] = await Promise.all([
      srv.run(['deploy', '--all', '--dry-run'], { cwd: dir }),
      srv.run(['deploy', '--all', '--dry-run', '--json'], { cwd: dir }),
    ]);
    expect(text.code).toBe(0);
    const nightlyTimes = getDates({ cron: '0 2 * * *', timezone: 'Europe/London' }, { start: new Date(), n: 3 }).map((d) =>
      d.toISOString().replace('.000Z', 'Z'),
    );
    expect(text.stdout).toContain(
      [
        'Would create deployment hello/nightly (from drover.yaml deployments.0)',
        '  entrypoint:  flows/hello.ts:hello',
        '  work pool:   local',
        '  parameters:  {"name":"yaml"}',
        '  schedules:',
        '    cron 0 2 * * * (Europe/London) [nightly]',
        `      next: ${nightlyTimes.join(', ')}`,
      ].join('\n'),
    );
    expect(text.stdout).toContain(
      'Would create deployment tick/every-minute (from drover.yaml deployments.1)\n  entrypoint:  flows/tick.ts:tick\n  work pool:   local, queue fast (will be created)\n',
    );
    const plan = JSON.parse(planned.stdout) as { dryRun: boolean; deployments: { name: string; action: string; schedules: { next: string[] }[] }[] };
    expect(plan.dryRun).toBe(true);
    expect(plan.deployments.map((d) => [d.name, d.action])).toEqual([
      ['hello/nightly', 'create'],
      ['tick/every-minute', 'create'],
    ]);
    const minutes = plan.deployments[1]?.schedules[0]?.next.map((t) => Date.parse(t)) ?? [];
    expect(minutes).toHaveLength(3);
    expect(minutes.map((t) => t % 60_000)).toEqual([0, 0, 0]);
    expect([(minutes[1] as number) - (minutes[0] as number), (minutes[2] as number) - (minutes[1] as number)]).toEqual([60_000, 60_000]);
    expect(JSON.parse((await srv.run(['deployment', 'ls', '--json'])).stdout)).toEqual([]);
  });

  it('deploys every deployment of drover.yaml, then updates only what the flags change', async () => {
    const first = await srv.run(['deploy', '--all'], { cwd: dir });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      new RegExp(
        `^Created deployment hello/nightly \\(${UUID}\\)\nCreated deployment tick/every-minute \\(${UUID}\\)\n\nNext:\n  drover worker start --pool local `,
      ),
    );
    const [again, plannedRun] = await Promise.all([
      srv.run(['deploy', '--all', '--dry-run'], { cwd: dir }),
      srv.run(['deploy', '--name', 'nightly', '--param', 'name=cli', '--version', '2', '--dry-run', '--json'], { cwd: dir }),
    ]);
    expect(again.stdout).toMatch(new RegExp(`No changes to deployment hello/nightly \\(${UUID}, from drover.yaml deployments.0\\)`));
    const planned = JSON.parse(plannedRun.stdout);
    expect(planned.deployments.map((d: { name: string; action: string; changes: string[] }) => [d.name, d.action, d.changes])).toEqual([
      ['hello/nightly', 'update', ['parameters', 'version']],
    ]);
    const updated = await srv.run(['deploy', '--name', 'nightly', '--param', 'name=cli', '--version', '2'], { cwd: dir });
    expect(updated.stdout).toMatch(new RegExp(`^Updated deployment hello/nightly \\(${UUID}\\): parameters, version\n`));

    const [listedRun, table, inspect] = await Promise.all([
      srv.run(['deployment', 'ls', '--json']),
      srv.run(['deployment', 'ls']),
      srv.run(['deployment', 'inspect', 'hello/nightly']),
    ]);
    const listed = json(z.array(Deployment), listedRun.stdout);
    expect(listed.map((d) => [`${d.flowName}/${d.name}`, d.workQueueName, d.version, d.parameters])).toEqual([
      ['hello/nightly', 'default', '2', { name: 'cli' }],
      ['tick/every-minute', 'fast', null, {}],
    ]);
    const nightly = listed[0] as Deployment;
    expect(nightly.pullSteps).toEqual([{ set_working_directory: { directory: dir } }]);
    expect(nightly.parameterSchema).toMatchObject({ properties: { name: { type: 'string', default: 'world' } } });

    expect(table.stdout.split('\n').map((line) => line.replace(/\d{4}-\d\d-\d\dT[\d:]+Z$/, 'TIME'))).toEqual([
      'NAME               POOL        SCHEDULES                       STATUS     UPDATED',
      'hello/nightly      local       cron 0 2 * * * (Europe/London)  not ready  TIME',
      'tick/every-minute  local/fast  every 1m                        not ready  TIME',
      '',
    ]);
    // No worker runs here: the deployment says why its runs would wait.
    expect(inspect.stdout).toContain(
      'status:            not ready: no online worker in pool local (start one with `drover worker start --pool local`)\nlast polled:       never\n',
    );
    expect(inspect.stdout).toContain('parameters:        {"name":"cli"}\nparameter schema:  name: string = "world", times: number = 1\n');
    expect(inspect.stdout).toMatch(new RegExp(`SCHEDULE ID +SCHEDULE +SLUG +ACTIVE\n${UUID}  cron 0 2 \\* \\* \\* \\(Europe/London\\)  nightly  yes\n`));
  });

  it('keeps a pause made on the server across redeploys, for the deployment and for a schedule', async () => {
    const [pausedDeployment, paused] = await Promise.all([
      srv.run(['deployment', 'pause', 'hello/nightly']),
      srv.run(['deployment', 'schedule', 'pause', 'hello/nightly', 'nightly']),
    ]);
    expect(pausedDeployment.stdout).toBe('Paused deployment hello/nightly: resume it with `drover deployment resume hello/nightly`\n');
    expect(paused.stdout).toMatch(new RegExp(`^Paused schedule ${UUID} of hello/nightly: cron 0 2 \\* \\* \\* \\(Europe/London\\)\n$`));
    await srv.run(['deploy', '--name', 'nightly'], { cwd: dir });
    const after = json(Deployment, (await srv.run(['deployment', 'inspect', 'hello/nightly', '--json'])).stdout);
    expect(after.paused).toBe(true);
    expect(after.schedules.map((s) => [s.slug, s.active])).toEqual([['nightly', false]]);
    const [resumed, scheduleResumed] = await Promise.all([
      srv.run(['deployment', 'resume', 'hello/nightly']),
      srv.run(['deployment', 'schedule', 'resume', 'hello/nightly', 'nightly']),
    ]);
    expect([resumed.stdout, scheduleResumed.code]).toEqual(['Resumed deployment hello/nightly\n', 0]);
  });

  it('adds, lists, previews and deletes schedules', async () => {
    const added = await srv.run(['deployment', 'schedule', 'add', 'hello/nightly', '--interval', '1h', '--slug', 'hourly', '--timezone', 'UTC']);
    expect(added.stdout).toMatch(new RegExp(`^Added schedule ${UUID} to hello/nightly: every 1h \\(UTC\\)\n$`));
    const table = await srv.run(['deployment', 'schedule', 'ls', 'hello/nightly']);
    expect(table.stdout).toMatch(
      new RegExp(
        `^ID +SCHEDULE +SLUG +ACTIVE +NEXT RUN\n${UUID}  cron 0 2 \\* \\* \\* \\(Europe/London\\)  nightly  yes +\\S+Z\n${UUID}  every 1h \\(UTC\\) +hourly +yes +\\S+:00:00Z\n$`,
      ),
    );
    const preview = JSON.parse((await srv.run(['deployment', 'schedule', 'preview', 'hello/nightly', '--count', '2', '--json'])).stdout) as {
      slug: string;
      times: string[];
    }[];
    expect(preview.map((p) => [p.slug, p.times.length])).toEqual([
      ['nightly', 2],
      ['hourly', 2],
    ]);
    const previewTable = await srv.run(['deployment', 'schedule', 'preview', 'hello/nightly', '--count', '1']);
    expect(previewTable.stdout).toMatch(/^TIME +SCHEDULE +SLUG +ACTIVE\n/);
    expect(previewTable.stdout.trim().split('\n')).toHaveLength(3);
    const deleted = await srv.run(['deployment', 'schedule', 'delete', 'hello/nightly', 'hourly']);
    expect(deleted.stdout).toMatch(new RegExp(`^Deleted schedule ${UUID} of hello/nightly: every 1h \\(UTC\\)\n$`));
  });

  it('deploys an entrypoint from the command line with its flags', async () => {
    const deployed = await srv.run(
      [
        'deploy',
        'boom.ts:boom',
        '--name',
        'adhoc',
        '--pool',
        'local',
        '--interval',
        '5m',
        '--tag',
        'a',
        '--tag',
        'b',
        '--job-variable',
        'env={"A":"1"}',
        '--description',
        'from flags',
      ],
      { cwd: join(dir, 'flows') },
    );
    expect(deployed.code).toBe(0);
    expect(deployed.stdout).toMatch(new RegExp(`^Created deployment boom/adhoc \\(${UUID}\\)\n`));
    const adhoc = json(Deployment, (await srv.run(['deployment', 'inspect', 'boom/adhoc', '--json'])).stdout);
    // The entrypoint is typed relative to where the user is and stored relative to the project root.
    expect(adhoc.entrypoint).toBe('flows/boom.ts:boom');
    expect([adhoc.tags, adhoc.jobVariables, adhoc.description, adhoc.schedules.map((s) => s.schedule)]).toEqual([
      ['a', 'b'],
      { env: { A: '1' } },
      'from flags',
      [{ interval: 300 }],
    ]);
    const removed = await srv.run(['deployment', 'delete', 'boom/adhoc']);
    expect(removed.stdout).toMatch(new RegExp(`^Deleted deployment boom/adhoc \\(${UUID}\\) and \\d+ scheduled runs?\n$`));
  });

  it('creates runs (now, later, idempotently), lists, inspects, cancels and deletes them', async () => {
    const now = await srv.run(['deployment', 'run', 'hello/nightly', '--param', 'name=ada', '--param', 'times=2', '--json']);
    const run = json(FlowRun, now.stdout);
    expect([run.state.type, run.parameters, run.deploymentName]).toEqual(['SCHEDULED', { name: 'ada', times: 2 }, 'nightly']);
    const text = await srv.run(['deployment', 'run', 'hello/nightly', '--start-in', '10m', '--idempotency-key', 'k1']);
    expect(text.stdout).toMatch(
      new RegExp(`^Created flow run \\S+ \\((${UUID})\\) of hello/nightly, scheduled for \\S+Z\nFollow it with: drover flow-run logs ${UUID} --follow\n$`),
    );
    const laterId = /\((\S+)\)/.exec(text.stdout)?.[1] as string;
    const same = json(FlowRun, (await srv.run(['deployment', 'run', 'hello/nightly', '--start-in', '10m', '--idempotency-key', 'k1', '--json'])).stdout);
    expect(same.id).toBe(laterId);
    expect(Date.parse(same.expectedStartTime) - Date.now()).toBeGreaterThan(9 * 60_000);

    const listed = json(z.array(FlowRun), (await srv.run(['flow-run', 'ls', '--deployment', 'hello/nightly', '--state', 'scheduled', '--json'])).stdout);
    expect(listed.map((r) => r.id)).toEqual(expect.arrayContaining([run.id, laterId]));
    const table = await srv.run(['flow-run', 'ls', '--deployment', 'hello/nightly']);
    expect(table.stdout).toMatch(/^ID +NAME +DEPLOYMENT +STATE +EXPECTED START +DURATION\n/);
    expect(table.stdout).toContain(`${run.id}  ${run.name}`);

    const inspect = await srv.run(['flow-run', 'inspect', run.id]);
    expect(inspect.stdout).toContain(
      `name:             ${run.name}\nid:               ${run.id}\ndeployment:       hello/nightly\nparent run:       -\nstate:            SCHEDULED\nparameters:       {"name":"ada","times":2}\n`,
    );
    // Due, but no worker runs here: inspect says why it waits.
    expect(inspect.stdout).toContain('waiting:          no online worker in pool local (start one with `drover worker start --pool local`)\n');
    expect(inspect.stdout).toMatch(/History\n\S+Z {2}state {2}SCHEDULED\n$/);
    const logs = await srv.run(['flow-run', 'logs', run.id]);
    expect(logs).toEqual({ code: 0, stdout: '', stderr: `Flow run ${run.name} has no logs yet (follow it with --follow).\n` });

    const cancelled = await srv.run(['flow-run', 'cancel', run.id]);
    expect(cancelled).toEqual({ code: 0, stdout: `Flow run ${run.id} is CANCELLED\n`, stderr: '' });
    // Cancelling again is harmless: the run stays CANCELLED.
    expect(await srv.run(['flow-run', 'cancel', run.id])).toEqual(cancelled);
    expect((await srv.run(['flow-run', 'delete', run.id])).stdout).toBe(`Deleted flow run ${run.id}\n`);
  });
});

describe('config', { timeout: 180_000 }, () => {
  it('sets, gets, views (key masked, with sources) and unsets settings; the environment wins', async () => {
    const home = project({});
    const env = { DROVER_HOME: home, DROVER_API_URL: undefined };
    const view = await srv.run(['config', 'view'], { env });
    expect(view.stdout).toBe(
      `KEY      VALUE                  SOURCE\napi.url  http://127.0.0.1:4200  default\napi.key  -                      not set\n\nProfile file: ${home}/profile.json\n`,
    );
    const set = await srv.run(['config', 'set', 'api.url', 'http://drover.internal:4200'], { env });
    expect(set).toEqual({ code: 0, stdout: `Saved api.url = http://drover.internal:4200 in ${home}/profile.json\n`, stderr: '' });
    const key = await srv.run(['config', 'set', 'api.key', 'secret-key-123456'], { env });
    expect(key.stdout).toBe(`Saved api.key (****3456) in ${home}/profile.json\n`);
    expect(statSync(join(home, 'profile.json')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(home, 'profile.json'), 'utf8'))).toEqual({ 'api.url': 'http://drover.internal:4200', 'api.key': 'secret-key-123456' });

    const [fromFile, fromEnv, masked, asJson, envNote] = await Promise.all([
      srv.run(['config', 'get', 'api.url'], { env }),
      srv.run(['config', 'get', 'api.url'], { env: { ...env, DROVER_API_URL: 'http://other:1' } }),
      srv.run(['config', 'view'], { env: { ...env, DROVER_API_URL: 'http://other:1' } }),
      srv.run(['config', 'view', '--json'], { env }),
      srv.run(['config', 'set', 'api.url', 'http://drover.internal:4200'], { env: { ...env, DROVER_API_URL: 'http://other:1' } }),
    ]);
    expect(fromFile.stdout).toBe('http://drover.internal:4200\n');
    expect(fromEnv.stdout).toBe('http://other:1\n');
    expect(masked.stdout).toBe(
      `KEY      VALUE           SOURCE\napi.url  http://other:1  env DROVER_API_URL\napi.key  ****3456        profile ${home}/profile.json\n\nProfile file: ${home}/profile.json\n`,
    );
    expect(JSON.parse(asJson.stdout).settings).toEqual([
      { key: 'api.url', value: 'http://drover.internal:4200', source: `profile ${home}/profile.json` },
      { key: 'api.key', value: '****3456', source: `profile ${home}/profile.json` },
    ]);
    expect(envNote.stderr).toBe('Note: DROVER_API_URL is set in this environment and wins over the profile while it is.\n');

    expect((await srv.run(['config', 'unset', 'api.key'], { env })).stdout).toBe(`Removed api.key from ${home}/profile.json\n`);
    const missing = await srv.run(['config', 'get', 'api.key'], { env });
    expect(missing).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error: api.key is not set: save one with `drover config set api.key VALUE` or set DROVER_API_KEY\n',
    });
    // The saved URL is what the client uses when the environment says nothing.
    const unreachable = await srv.run(['work-pool', 'ls'], { env: { DROVER_HOME: home, DROVER_API_URL: undefined } });
    expect(unreachable.stderr).toMatch(/^Error: Cannot reach the Drover server at http:\/\/drover\.internal:4200 \(/);
  });
});

describe('init', { timeout: 180_000 }, () => {
  it('writes drover.yaml, .droverignore and an example flow, and says what to do next', async () => {
    const dir = project({});
    const result = await srv.run(['init', '--name', 'shop', '--recipe', 'local'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        `Created Drover project "shop" in ${dir} (recipe: local):`,
        '  drover.yaml',
        '  .droverignore',
        '  flows/example.ts',
        '',
        'Next:',
        '  npm install @drover/client zod          # flows/example.ts imports them',
        '  drover work-pool create local --type process',
        '  drover deploy --all',
        '  drover worker start --pool local',
        '',
      ].join('\n'),
    );
    const written = Project.parse(parse(readFileSync(join(dir, 'drover.yaml'), 'utf8')));
    expect(written.name).toBe('shop');
    expect(existsSync(join(dir, 'flows/example.ts'))).toBe(true);
  });
});

describe('server start and status', { timeout: 180_000 }, () => {
  it('serves until SIGTERM, answers status, and refuses a port in use', async () => {
    const home = project({});
    const server = srv.start(['server', 'start', '--port', '0', '--no-services'], { env: { DROVER_HOME: home, DROVER_LOG_LEVEL: 'silent' } });
    const [, url] = (await server.waitFor(/listening at (http:\/\/\S+)/)) as unknown as [string, string];
    await server.waitFor(/Stop it with Ctrl\+C\.\n/);
    expect(server.output().stdout).toContain(`  database: ${home}/drover.db\n  services: none (--no-services)\n`);
    const [status, asJson] = await Promise.all([
      srv.run(['server', 'status'], { env: { DROVER_API_URL: url } }),
      srv.run(['server', 'status', '--json'], { env: { DROVER_API_URL: url } }),
    ]);
    expect(status).toEqual({ code: 0, stdout: `Drover server at ${url} is up (version 0.0.0)\n`, stderr: '' });
    expect(JSON.parse(asJson.stdout)).toEqual({ url, status: 'up', version: '0.0.0' });

    const port = new URL(url).port;
    const taken = await srv.run(['server', 'start', '--port', port], { env: { DROVER_HOME: project({}), DROVER_LOG_LEVEL: 'silent' } });
    expect(taken).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error: Port ${port} on 127.0.0.1 is already in use (another Drover server?): stop it or choose another port with --port\n`,
    });

    server.child.kill('SIGTERM');
    const ended = await server.exited;
    expect(ended.code).toBe(0);
    expect(ended.stderr).toBe('Drover server stopped (SIGTERM).\n');
    expect(existsSync(join(home, 'drover.db'))).toBe(true);
    const down = await srv.run(['server', 'status', '--json'], { env: { DROVER_API_URL: url } });
    expect(down.code).toBe(1);
    expect(JSON.parse(down.stdout)).toMatchObject({ url, status: 'down' });
  });

  it('waits for a server that is starting with --wait', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    const port = (blocker.address() as { port: number }).port;
    await new Promise((resolve) => blocker.close(resolve));
    const url = `http://127.0.0.1:${port}`;
    const waiting = srv.run(['server', 'status', '--wait', '--timeout', '30s'], { env: { DROVER_API_URL: url } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const server = srv.start(['server', 'start', '--port', String(port), '--no-services'], { env: { DROVER_HOME: project({}), DROVER_LOG_LEVEL: 'silent' } });
    expect((await waiting).stdout).toBe(`Drover server at ${url} is up (version 0.0.0)\n`);
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(0);
  });
});

describe('server on PostgreSQL', { timeout: 60_000 }, () => {
  // The machine's PostgreSQL, which scripts/postgres.sh starts for the suite.
  const TEST_PG_URL = process.env.DROVER_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  const database = `drover_cli_test_${process.pid}`;
  const target = new URL(TEST_PG_URL);
  target.pathname = `/${database}`;
  const url = target.href;
  beforeAll(async () => {
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin(`CREATE DATABASE ${database}`);
  });
  afterAll(() => admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));

  it('moves a SQLite database up with migrate-db, serves it, and runs the services alone', async () => {
    const home = project({});
    const sqlite = srv.start(['server', 'start', '--port', '0', '--no-services'], { env: { DROVER_HOME: home, DROVER_LOG_LEVEL: 'silent' } });
    const [, sqliteUrl] = (await sqlite.waitFor(/listening at (http:\/\/\S+)/)) as unknown as [string, string];
    expect((await srv.run(['work-pool', 'create', 'moved', '--type', 'process'], { env: { DROVER_API_URL: sqliteUrl } })).code).toBe(0);
    sqlite.child.kill('SIGTERM');
    expect((await sqlite.exited).code).toBe(0);

    const refused = await srv.run(['server', 'migrate-db', '--from', join(home, 'drover.db'), '--to', 'mysql://db/drover']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Invalid --to "mysql://db/drover": expected a URL like postgresql://user:password@host:5432/database');

    const moved = await srv.run(['server', 'migrate-db', '--from', join(home, 'drover.db'), '--to', url, '--json']);
    expect(moved.code).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({ to: url, tables: { work_pools: 1, work_queues: 1, flow_runs: 0 } });
    const again = await srv.run(['server', 'migrate-db', '--from', join(home, 'drover.db'), '--to', url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^Error: The target database already holds data \(1 rows in work_pools\)/);

    const env = { DROVER_DATABASE_URL: url, DROVER_LOG_LEVEL: 'silent' };
    const api = srv.start(['server', 'start', '--port', '0', '--no-services'], { env });
    const [, apiUrl] = (await api.waitFor(/listening at (http:\/\/\S+)/)) as unknown as [string, string];
    await api.waitFor(/Stop it with Ctrl\+C\.\n/);
    expect(api.output().stdout).toContain(`  database: ${url}\n  services: none (--no-services)\n`);
    const pools = z.array(WorkPool).parse(JSON.parse((await srv.run(['work-pool', 'ls', '--json'], { env: { DROVER_API_URL: apiUrl } })).stdout));
    expect(pools.map((pool) => pool.name)).toEqual(['moved']);

    const services = srv.start(['server', 'services', 'start'], { env });
    await services.waitFor(/Stop them with Ctrl\+C\.\n/);
    expect(services.output().stdout).toContain('Drover services running: scheduler, late-runs, worker-health, run-health\n');
    services.child.kill('SIGTERM');
    api.child.kill('SIGTERM');
    expect(await services.exited).toMatchObject({ code: 0, stderr: 'Drover services stopped (SIGTERM).\n' });
    expect((await api.exited).code).toBe(0);
  });
});

describe('drover.yaml templating', { timeout: 60_000 }, () => {
  it('reads {{ $NAME }} from the environment of `drover deploy`', async () => {
    const dir = project({
      ...FLOWS,
      'drover.yaml':
        'name: demo\ndeployments:\n  - name: templated\n    entrypoint: flows/tick.ts:tick\n    version: "{{ $DROVER_TEST_VERSION }}"\n    description: "built by {{$DROVER_TEST_BUILDER}}"\n    workPool:\n      name: local\n',
    });
    const deployed = await srv.run(['deploy', '--all'], { cwd: dir, env: { DROVER_TEST_VERSION: '2026.12.1', DROVER_TEST_BUILDER: 'ci' } });
    expect(deployed.code).toBe(0);
    const read = json(Deployment, (await srv.run(['deployment', 'inspect', 'tick/templated', '--json'])).stdout);
    expect([read.version, read.description]).toEqual(['2026.12.1', 'built by ci']);
  });
});
