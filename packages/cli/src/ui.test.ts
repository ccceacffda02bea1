// The web UI end to end: the real `drover server start` serving it, a real process worker, and
// Debian's Chromium driven by playwright-core. Every page is screenshotted into test-results/ui/
// and checked by axe-core; any page error or console error (a Content-Security-Policy refusal
// is one) fails the test that saw it.
/// <reference lib="dom" />
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DroverClient } from '@drover/client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './testBrowser.js';
import { drover, freePort, killHard, makeProject, repoRoot, spawnDrover } from './testCli.js';

const requireHere = createRequire(import.meta.url);
const clientEntry = requireHere.resolve('@drover/client');
const zodEntry = join(dirname(requireHere.resolve('zod')), 'index.js');
// Read as a file and evaluated in each page (knip, which sees no import, is told in knip.json).
const axeSource = readFileSync(requireHere.resolve('axe-core/axe.min.js'), 'utf8');
const shots = join(repoRoot, 'test-results/ui');

const FLOWS = {
  'flows/greet.ts': `import { flow } from '${clientEntry}';
import { z } from '${zodEntry}';
export const greet = flow({ name: 'greet', parameters: z.object({ name: z.string().min(1), times: z.number().int().min(1).max(5).default(1) }) }, async ({ name, times }, ctx) => {
  for (let i = 0; i < times; i++) ctx.logger.info(\`Hello, \${name}! (\${i + 1})\`);
  return { greeted: name, times };
});
`,
  'flows/slow.ts': `import { flow } from '${clientEntry}';
export const slow = flow({ name: 'slow' }, async (_p, ctx) => {
  for (let i = 0; i < 600; i++) {
    ctx.logger.info(\`still working (\${i})\`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});
`,
  'flows/nightly.ts': `import { flow } from '${clientEntry}';
export const nightly = flow({ name: 'nightly' }, async () => ({ ok: true }));
`,
  'drover.yaml': `name: ui-test
deployments:
  - name: on-demand
    entrypoint: flows/greet.ts:greet
    parameters: { name: world }
    tags: [ui]
    workPool: { name: local }
  - name: long
    entrypoint: flows/slow.ts:slow
    workPool: { name: local }
  - name: at-two
    entrypoint: flows/nightly.ts:nightly
    schedules:
      - cron: "0 2 * * *"
        timezone: Europe/London
      - rrule: "FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=9;BYMINUTE=0"
        timezone: America/New_York
    workPool: { name: local }
`,
};

interface ServerProcess {
  readonly url: string;
  readonly env: Record<string, string>;
  readonly client: DroverClient;
  stop(): Promise<void>;
}

/** `drover server start` as a user runs it, on a free port and a fresh DROVER_HOME. */
async function startServerProcess(extraEnv: Record<string, string> = {}): Promise<ServerProcess> {
  const home = mkdtempSync(join(tmpdir(), 'drover-ui-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnDrover(['server', 'start', '--port', String(port)], { DROVER_HOME: home, ...extraEnv }, home);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await fetch(`${url}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`drover server start did not answer at ${url}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const env = { DROVER_API_URL: url, DROVER_HOME: join(home, 'cli'), ...extraEnv };
  return {
    url,
    env,
    client: new DroverClient({ apiUrl: url, apiKey: extraEnv.DROVER_API_KEY ?? '' }),
    async stop() {
      await killHard(child);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

let browser: Browser;
beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** A page whose errors (uncaught, or logged: a CSP refusal is logged) are kept for the test to check. */
async function openPage(viewport = { width: 1280, height: 900 }, colorScheme: 'light' | 'dark' = 'light'): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  return { page, problems };
}

/** Saves the page's screenshot and fails on any serious or critical axe-core violation. */
async function checkPage(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  // Evaluated through the DevTools protocol, which the page's CSP does not govern: the page itself still may load no script but its own.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run(context: Document): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> };
      }
    ).axe;
    const result = await axe.run(document);
    return result.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
  });
  expect(violations, `axe-core on ${name}`).toEqual([]);
}

describe('the web UI, served by drover server start', { timeout: 90_000 }, () => {
  let server: ServerProcess;
  let project: { dir: string; remove(): void };
  let worker: ChildProcess;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    server = await startServerProcess();
    project = makeProject(FLOWS);
    ({ page, problems } = await openPage());
  }, 60_000);
  afterAll(async () => {
    if (worker) await killHard(worker);
    await server?.stop();
    project?.remove();
  });
  afterEach(() => {
    expect(problems.splice(0)).toEqual([]);
  });

  it('greets a new user with the three commands, and serves every page path and no more', async () => {
    await page.goto(server.url);
    await expect.poll(() => page.getByRole('heading', { name: 'Welcome to Drover' }).isVisible()).toBe(true);
    expect(await page.locator('.empty pre').textContent()).toMatch(/drover deploy --all[\s\S]*drover worker start --pool local[\s\S]*drover deployment run/);
    await checkPage(page, 'empty-dashboard');
    // A page's address loads the app; the API's paths stay the API's; the headers lock the page down.
    const deep = await fetch(`${server.url}/runs/0190a3d0-0000-7000-8000-000000000000`);
    expect(deep.status).toBe(200);
    expect(deep.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await deep.text()).toContain('<div id="root">');
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await fetch(`${server.url}/flowRuns.list`)).headers.get('content-type')).toContain('application/json');
    expect((await fetch(`${server.url}/assets/nothing-here.js`)).status).toBe(404);
  });

  it('deploys, and a run started from the form reaches COMPLETED with its logs shown and searchable', async () => {
    expect((await drover(['work-pool', 'create', 'local', '--type', 'process'], { env: server.env })).code).toBe(0);
    const deployed = await drover(['deploy', '--all'], { env: server.env, cwd: project.dir });
    expect(deployed.stderr).toBe('');
    worker = spawnDrover(['worker', 'start', '--pool', 'local'], server.env, project.dir);

    await page.goto(`${server.url}/deployments`);
    await page.getByRole('link', { name: 'greet/on-demand' }).click();
    await page.getByRole('button', { name: 'Run now…' }).click();
    await page.getByLabel('name').fill('Playwright');
    await page.getByLabel('times').fill('2');
    await checkPage(page, 'deployment-run-form');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    const runId = page.url().split('/').at(-1) as string;
    // Live: no reload, the page follows the run to its end and shows what it logged.
    await expect.poll(() => page.locator('h1 .badge').textContent(), { timeout: 30_000 }).toBe('completed');
    await expect.poll(() => page.locator('.logs').textContent(), { timeout: 10_000 }).toContain('Hello, Playwright! (2)');
    expect(await page.locator('.logs').textContent()).toContain('Hello, Playwright! (1)');
    const run = await server.client.flowRuns.read(runId);
    expect(run).toMatchObject({ state: { type: 'COMPLETED' }, parameters: { name: 'Playwright', times: 2 }, result: { greeted: 'Playwright', times: 2 } });
    expect(await page.locator('pre[title="Result"]').textContent()).toContain('"greeted": "Playwright"');
    await checkPage(page, 'run');

    await page.getByLabel('Search logs').fill('(2)');
    await expect.poll(() => page.locator('.logs .log').count()).toBe(1);
    expect(await page.locator('.logs').textContent()).toContain('Hello, Playwright! (2)');
    await page.getByLabel('Search logs').fill('no line says this');
    await expect.poll(() => page.locator('.logs').textContent()).toContain('No line matches.');
  });

  it('refuses a bad parameter in the form, beside its field, and creates no run', async () => {
    const deployment = await server.client.deployments.read('greet/on-demand');
    const before = await server.client.flowRuns.list({ deploymentId: deployment.id });
    await page.goto(`${server.url}/deployments/${deployment.id}`);
    await page.getByRole('button', { name: 'Run now…' }).click();
    await page.getByLabel('times').fill('9');
    await page.getByRole('button', { name: 'Start run' }).click();
    const fieldErrors = page.locator('#root_times__error');
    await expect.poll(() => fieldErrors.textContent()).toMatch(/5/);
    await page.getByLabel('name').fill('');
    await page.getByRole('button', { name: 'Start run' }).click();
    await expect.poll(() => page.locator('#root_name__error').isVisible()).toBe(true);
    await checkPage(page, 'deployment-form-refused');
    expect(page.url()).toBe(`${server.url}/deployments/${deployment.id}`);
    expect(await server.client.flowRuns.list({ deploymentId: deployment.id })).toHaveLength(before.length);

    // The schema changes on the server while the form is open: the browser's check passes, the server's refuses, beside the field.
    const schema = deployment.parameterSchema as { properties: Record<string, Record<string, unknown>> };
    await server.client.deployments.update(deployment.id, {
      parameterSchema: { ...schema, properties: { ...schema.properties, times: { ...schema.properties.times, maximum: 1 } } },
    });
    await page.getByLabel('name').fill('again');
    await page.getByLabel('times').fill('2');
    await page.getByRole('button', { name: 'Start run' }).click();
    await expect.poll(() => fieldErrors.textContent()).toContain('must be <= 1');
    expect(await page.getByRole('alert').first().textContent()).toContain('do not match its schema');
    expect(await server.client.flowRuns.list({ deploymentId: deployment.id })).toHaveLength(before.length);
    await server.client.deployments.update(deployment.id, { parameterSchema: schema });
    // The browser reports the refused request, once: that is the refusal this test asked for.
    expect(problems.splice(0)).toEqual(['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  });

  it('cancels a long run from its page: the job stops and the run ends CANCELLED', async () => {
    const run = await server.client.flowRuns.create({ deployment: 'slow/long' });
    await page.goto(`${server.url}/runs/${run.id}`);
    await expect.poll(() => page.locator('h1 .badge').textContent(), { timeout: 30_000 }).toBe('running');
    await expect.poll(() => page.locator('.logs').textContent(), { timeout: 10_000 }).toContain('still working');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => page.locator('h1 .badge').textContent(), { timeout: 30_000 }).toBe('cancelled');
    expect((await server.client.flowRuns.read(run.id)).state.type).toBe('CANCELLED');
    // The job is gone: no line comes after the cancellation settles.
    const lines = (await server.client.flowRuns.logs({ flowRunId: run.id })).length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await server.client.flowRuns.logs({ flowRunId: run.id })).length).toBe(lines);
    await page.getByRole('button', { name: 'Retry' }).isEnabled();
  });

  it('pauses and resumes one schedule, and says when it fires in words', async () => {
    const deployment = await server.client.deployments.read('nightly/at-two');
    await page.goto(`${server.url}/deployments/${deployment.id}`);
    const words = page.getByTestId('schedule-words');
    await expect.poll(() => words.first().textContent()).toMatch(/02:00.*Europe\/London/);
    await expect.poll(() => words.nth(1).textContent()).toMatch(/^Every week on Monday, Friday at 9.*\(America\/New_York\)$/);
    await expect.poll(() => page.locator('.next-runs li').count()).toBeGreaterThan(0);
    await checkPage(page, 'deployment');
    await page.getByRole('button', { name: 'Pause schedule' }).first().click();
    await expect.poll(async () => (await server.client.deployments.read(deployment.id)).schedules[0]?.active).toBe(false);
    await expect.poll(() => page.getByRole('button', { name: 'Resume schedule' }).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Resume schedule' }).click();
    await expect.poll(async () => (await server.client.deployments.read(deployment.id)).schedules[0]?.active).toBe(true);
    await page.getByRole('button', { name: 'Pause deployment' }).click();
    await expect.poll(async () => (await server.client.deployments.read(deployment.id)).paused).toBe(true);
    await page.getByRole('button', { name: 'Resume deployment' }).click();
    await expect.poll(async () => (await server.client.deployments.read(deployment.id)).paused).toBe(false);
  });

  it('lists runs by filter, and a new run appears without a reload', async () => {
    await page.goto(`${server.url}/runs?state=COMPLETED`);
    await expect.poll(() => page.locator('table tbody tr').count()).toBe(1);
    await checkPage(page, 'runs');
    const made = await server.client.flowRuns.create({ deployment: 'greet/on-demand', parameters: { name: 'live' } });
    await expect.poll(() => page.locator('table tbody tr').count(), { timeout: 30_000 }).toBe(2);
    await expect.poll(() => page.locator('.pager').textContent()).toContain('Runs 1–2 of 2');
    expect(await page.locator(`a[href="/runs/${made.id}"]`).count()).toBe(1);
    await page.getByRole('button', { name: 'Timeline' }).click();
    await expect.poll(() => page.locator('canvas[aria-label^="Timeline of 2 runs"]').count()).toBe(1);
    await checkPage(page, 'runs-timeline');
    // By keyboard: the skip link, then the main navigation.
    await page.goto(`${server.url}/runs`);
    await page.locator('table tbody tr').first().waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Deployments');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${server.url}/deployments`);
    await checkPage(page, 'deployments');
  });

  it('shows the dashboard, the pools and their workers, in light and dark and on a narrow screen', async () => {
    await page.goto(server.url);
    await expect.poll(() => page.locator('canvas[aria-label^="Runs by state per hour"]').count()).toBe(1);
    await expect.poll(() => page.locator('.card').textContent()).toContain('1 of 1 workers online');
    await checkPage(page, 'dashboard');
    await page.goto(`${server.url}/pools`);
    await expect.poll(() => page.locator('table tbody tr').count()).toBe(1);
    await checkPage(page, 'pools');
    await page.getByRole('link', { name: 'local' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'online' }).count()).toBe(1);
    await page.getByRole('button', { name: 'Pause queue default' }).click();
    await expect.poll(async () => (await server.client.workQueues.read({ workPoolName: 'local', name: 'default' })).isPaused).toBe(true);
    await page.getByRole('button', { name: 'Resume queue default' }).click();
    await expect.poll(async () => (await server.client.workQueues.read({ workPoolName: 'local', name: 'default' })).isPaused).toBe(false);
    await page.getByRole('button', { name: 'Pause pool' }).click();
    await expect.poll(async () => (await server.client.workPools.read('local')).isPaused).toBe(true);
    await page.getByRole('button', { name: 'Resume pool' }).click();
    await expect.poll(async () => (await server.client.workPools.read('local')).isPaused).toBe(false);
    await checkPage(page, 'pool');

    const dark = await openPage({ width: 1280, height: 900 }, 'dark');
    await dark.page.goto(server.url);
    await expect.poll(() => dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(20, 22, 27)');
    await expect.poll(() => dark.page.locator('.card').count()).toBe(1);
    await checkPage(dark.page, 'dashboard-dark');
    const narrow = await openPage({ width: 375, height: 800 });
    await narrow.page.goto(`${server.url}/runs`);
    await expect.poll(() => narrow.page.locator('table tbody tr').count()).toBeGreaterThan(0);
    // Wide tables scroll in their own box; the page itself never scrolls sideways.
    expect(await narrow.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await checkPage(narrow.page, 'runs-narrow');
    expect([...dark.problems, ...narrow.problems]).toEqual([]);
    await dark.page.context().close();
    await narrow.page.context().close();
  });
});

describe('the web UI of a server with an API key', { timeout: 90_000 }, () => {
  it('asks for the key, keeps it in the tab, and its files carry no secret', async () => {
    const key = 'ui-test-key-9f8e7d6c5b4a';
    const server = await startServerProcess({ DROVER_API_KEY: key });
    const { page } = await openPage();
    try {
      await page.goto(server.url);
      await expect.poll(() => page.getByRole('heading', { name: 'API key' }).isVisible()).toBe(true);
      await checkPage(page, 'api-key');
      await page.getByLabel('API key').fill('not-the-key');
      await page.getByRole('button', { name: 'Continue' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('refused the key');
      await page.getByLabel('API key').fill(key);
      await page.getByRole('button', { name: 'Continue' }).click();
      await expect.poll(() => page.getByRole('heading', { name: 'Welcome to Drover' }).isVisible()).toBe(true);
      expect(await page.evaluate(() => [sessionStorage.getItem('drover.apiKey'), JSON.stringify(localStorage)])).toEqual([key, '{}']);
      // The static files are served without the key and hold none.
      const html = await (await fetch(server.url)).text();
      const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((match) => match[1] as string);
      expect(assets.length).toBeGreaterThan(0);
      for (const path of [...assets, '/']) {
        const response = await fetch(`${server.url}${path}`);
        expect(response.status).toBe(200);
        expect(await response.text()).not.toContain(key);
      }
      // The API still refuses a call without it.
      expect((await fetch(`${server.url}/workPools.list`)).status).toBe(401);
    } finally {
      await page.context().close();
      await server.stop();
    }
  });
});
