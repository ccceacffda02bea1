/** `drover flow-run ls|inspect|logs|cancel|retry|delete`: runs, their states and their logs. */
import type { DroverClient } from '@drover/client';
import { type FlowRun, isTerminal, type LogRecord, type StateType } from '@drover/schemas';
import type { Command } from 'commander';
import { type Context, examples } from '../cliContext.js';
import { deploymentArg, intFlag, runIdArg, stateFlag } from '../flags.js';
import { formatTime, inlineJson, runDeploymentName, runDuration, stateLabel } from '../format.js';
import { followRun, logLine, stateLine } from '../watch.js';

/** Upcoming runs `flow-run ls` shows above the latest ones. */
const UPCOMING = 3;

interface LsOptions {
  state?: StateType[];
  deployment?: string;
  flow?: string;
  limit: number;
  json?: boolean;
}

async function readAllLogs(ctx: Context, id: string): Promise<LogRecord[]> {
  const all: LogRecord[] = [];
  for (let afterId = 0; ; ) {
    const page = await ctx.client().flowRuns.logs({ flowRunId: id, afterId, limit: 5000 });
    all.push(...page);
    if (page.length < 5000) return all;
    afterId = page.at(-1)?.id ?? afterId;
  }
}

/**
 * Why a due SCHEDULED run (a Late one, typically) has not started, in words: its deployment is not
 * ready (paused, no online worker, queue or pool paused, nobody polling), or a concurrency limit
 * is full; null for a run that is not waiting. Prefect users' most common question.
 */
async function whyWaiting(client: DroverClient, run: FlowRun): Promise<string | null> {
  const due = run.state.type === 'SCHEDULED' && run.nextScheduledStartTime !== null && Date.parse(run.nextScheduledStartTime) <= Date.now();
  if (!due || !run.deploymentId) return null;
  const deployment = await client.deployments.read(run.deploymentId);
  if (deployment.status === 'NOT_READY') return deployment.statusReason;
  const active = async (filter: { deploymentId?: string; workPoolName?: string }) =>
    (await client.flowRuns.list({ ...filter, states: ['PENDING', 'RUNNING', 'CANCELLING'], page: { limit: 1000, offset: 0 } })).length;
  if (deployment.concurrencyLimit !== null) {
    const n = await active({ deploymentId: deployment.id });
    if (n >= deployment.concurrencyLimit) return `the deployment's concurrency limit is full (${n} of ${deployment.concurrencyLimit} runs active)`;
  }
  if (deployment.workPoolName) {
    const pool = await client.workPools.read(deployment.workPoolName);
    if (pool.concurrencyLimit !== null) {
      const n = await active({ workPoolName: pool.name });
      if (n >= pool.concurrencyLimit) return `work pool ${pool.name}'s concurrency limit is full (${n} of ${pool.concurrencyLimit} runs active)`;
    }
    return `nothing holds it back: the next poll of a worker of pool ${pool.name} takes it`;
  }
  return 'nothing holds it back: the next poll of its runner takes it';
}

export function registerFlowRun(program: Command, ctx: Context): void {
  const flowRun = program.command('flow-run').alias('flow-runs').description('Flow runs: list, inspect, read logs, cancel, retry, delete');
  examples(flowRun, 'drover flow-run ls --state failed', 'drover flow-run logs <id> --follow');

  examples(
    flowRun
      .command('ls')
      .description('List the runs around now, newest first: the next few upcoming, then the latest ones')
      .option('-s, --state <state>', 'only runs in this state type, repeatable or comma-separated (completed, failed, running, ...)', stateFlag('--state'))
      .option('-d, --deployment <name>', 'only the runs of this deployment (flow-name/deployment-name or id)', deploymentArg)
      .option('--flow <flow>', 'only the runs of this flow')
      .option('--limit <n>', 'at most this many (1-1000)', intFlag('--limit', 1, 1000), 20)
      .option('--json', 'print the runs as JSON')
      .action(async (options: LsOptions) => {
        const client = ctx.client();
        const deploymentId = options.deployment === undefined ? undefined : (await client.deployments.read(options.deployment)).id;
        // The runs around now: the next few upcoming (a scheduler keeps many ahead), then the latest ones.
        const now = new Date().toISOString();
        const filter = { states: options.state, deploymentId, flowName: options.flow };
        const upcomingLimit = Math.min(UPCOMING, options.limit);
        const [upcoming, past] = await Promise.all([
          client.flowRuns.list({ ...filter, expectedStartAfter: now, sort: 'EXPECTED_START_ASC', page: { limit: upcomingLimit, offset: 0 } }),
          client.flowRuns.list({ ...filter, expectedStartBefore: now, sort: 'EXPECTED_START_DESC', page: { limit: options.limit, offset: 0 } }),
        ]);
        const seen = new Set(upcoming.map((r) => r.id));
        const runs = [...upcoming.reverse(), ...past.filter((r) => !seen.has(r.id)).slice(0, options.limit - upcoming.length)];
        if (options.json) return ctx.out.json(runs);
        const { out } = ctx;
        out.table(
          ['ID', 'NAME', 'DEPLOYMENT', 'STATE', 'EXPECTED START', 'DURATION'],
          runs.map((r: FlowRun) => [
            r.id,
            out.paint('bold', r.name),
            runDeploymentName(r),
            stateLabel(out, r.state),
            formatTime(r.expectedStartTime),
            runDuration(r),
          ]),
          'No flow runs match.',
        );
      }),
    'drover flow-run ls',
    'drover flow-run ls --state failed,crashed --deployment etl/nightly --limit 50',
  );

  examples(
    flowRun
      .command('inspect')
      .description('Show a flow run with its state history')
      .argument('<id>', 'the flow run id', runIdArg)
      .option('--json', 'print the run as JSON')
      .action(async (id: string, options: { json?: boolean }) => {
        const client = ctx.client();
        const [run, history, children] = await Promise.all([
          client.flowRuns.read(id),
          client.flowRuns.history(id),
          client.flowRuns.list({ parentFlowRunId: id, page: { limit: 1000, offset: 0 } }),
        ]);
        if (options.json) return ctx.out.json(run);
        const { out } = ctx;
        out.fields([
          ['name', out.paint('bold', run.name)],
          ['id', run.id],
          ['deployment', runDeploymentName(run)],
          ['parent run', run.parentFlowRunId ?? '-'],
          ['state', `${stateLabel(out, run.state)}${run.state.message ? `: ${run.state.message}` : ''}`],
          ['parameters', inlineJson(run.parameters)],
          ['tags', run.tags.join(', ') || '-'],
          ['work pool', run.workPoolName ? `${run.workPoolName} (queue ${run.workQueueName ?? '-'})` : '-'],
          ['expected start', formatTime(run.expectedStartTime)],
          ['started', formatTime(run.startTime)],
          ['ended', formatTime(run.endTime)],
          ['duration', runDuration(run)],
          ['attempts', String(run.runCount)],
          ['worker', run.workerName ?? '-'],
          ['idempotency key', run.idempotencyKey ?? '-'],
          ['result', run.result === null ? '-' : inlineJson(run.result)],
          ...(await whyWaiting(client, run).then((why) => (why ? [['waiting', why] as const] : []))),
        ]);
        if (children.length > 0) {
          out.line();
          out.line(out.paint('bold', 'Child runs'));
          out.table(
            ['ID', 'NAME', 'DEPLOYMENT', 'STATE'],
            children.map((c) => [c.id, c.name, runDeploymentName(c), stateLabel(out, c.state)]),
          );
        }
        out.line();
        out.line(out.paint('bold', 'History'));
        for (const state of history) out.line(stateLine(out, state));
      }),
    'drover flow-run inspect 0192f0c4-3b5e-7a1c-9d2e-4f6a8b0c1d2e',
  );

  examples(
    flowRun
      .command('logs')
      .description("Print a run's logs; --follow keeps printing new lines until the run ends")
      .argument('<id>', 'the flow run id', runIdArg)
      .option('-f, --follow', 'wait for new lines until the run reaches a final state')
      .option('--json', 'print log records as JSON (an array; with --follow one object per line)')
      .action(async (id: string, options: { follow?: boolean; json?: boolean }) => {
        const client = ctx.client();
        const run = await client.flowRuns.read(id);
        if (options.follow) {
          await followRun(ctx, run, { states: false, json: options.json });
          return;
        }
        const logs = await readAllLogs(ctx, id);
        if (options.json) return ctx.out.json(logs);
        for (const log of logs) ctx.out.line(logLine(ctx.out, log));
        if (logs.length === 0) ctx.err.line(`Flow run ${run.name} has no logs${isTerminal(run.state.type) ? '' : ' yet (follow it with --follow)'}.`);
      }),
    'drover flow-run logs 0192f0c4-3b5e-7a1c-9d2e-4f6a8b0c1d2e --follow',
  );

  examples(
    flowRun
      .command('cancel')
      .description('Cancel a run: a scheduled one at once, a running one through its worker')
      .argument('<id>', 'the flow run id', runIdArg)
      .option('--json', 'print the orchestration result as JSON')
      .action(async (id: string, options: { json?: boolean }) => {
        const result = await ctx.client().flowRuns.cancel(id, 'Cancelled with drover flow-run cancel');
        // A run with no job is CANCELLED at once (orchestration says so with a REJECT of CANCELLING).
        const cancelled = result.state.type === 'CANCELLING' || result.state.type === 'CANCELLED';
        if (options.json) {
          if (!cancelled) ctx.exitCode = 1;
          return ctx.out.json(result);
        }
        if (!cancelled) throw new Error(`Flow run ${id} was not cancelled: ${result.reason ?? `it is ${result.state.type}`}`);
        ctx.out.line(`Flow run ${id} is ${stateLabel(ctx.out, result.state)}`);
      }),
    'drover flow-run cancel 0192f0c4-3b5e-7a1c-9d2e-4f6a8b0c1d2e',
  );

  examples(
    flowRun
      .command('retry')
      .description('Run a FAILED, CRASHED or CANCELLED run again: it is due now, its history and logs are kept')
      .argument('<id>', 'the flow run id', runIdArg)
      .option('--json', 'print the orchestration result as JSON')
      .action(async (id: string, options: { json?: boolean }) => {
        const result = await ctx.client().flowRuns.retry(id);
        const retried = result.status === 'ACCEPT';
        if (options.json) {
          if (!retried) ctx.exitCode = 1;
          return ctx.out.json(result);
        }
        if (!retried) throw new Error(`Flow run ${id} was not retried: ${result.reason ?? `it is ${result.state.type}`}`);
        ctx.out.line(`Flow run ${id} is ${stateLabel(ctx.out, result.state)}: a worker will run it again`);
      }),
    'drover flow-run retry 0192f0c4-3b5e-7a1c-9d2e-4f6a8b0c1d2e',
  );

  examples(
    flowRun
      .command('delete')
      .description('Delete a run with its history and logs')
      .argument('<id>', 'the flow run id', runIdArg)
      .option('--json', 'print the deleted id as JSON')
      .action(async (id: string, options: { json?: boolean }) => {
        const result = await ctx.client().flowRuns.delete(id);
        if (options.json) return ctx.out.json(result);
        ctx.out.line(`Deleted flow run ${result.id}`);
      }),
    'drover flow-run delete 0192f0c4-3b5e-7a1c-9d2e-4f6a8b0c1d2e',
  );
}
