/**
 * `flow.fromSource(source, entrypoint)`: a deployment of a flow that lives in a git repository,
 * as Prefect's `flow.from_source`. Its workers clone the repository before each run (a git_clone
 * pull step); this process clones it once too, to read the flow's name and parameter schema.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DroverError, describeIssues, droverErrorOf, GitCloneStep, toIssues } from '@drover/schemas';
import { type DeploymentOptions, findProjectRoot, RunnerDeployment } from './deployments.js';
import { loadFlow } from './loadFlow.js';
import { runPullSteps } from './pullSteps.js';

/** Where the code of a `fromSource` flow is: a git repository, at a branch, tag or commit. */
export interface FlowSource {
  readonly repository: string;
  /** A branch or a tag (the default branch when absent). */
  readonly branch?: string;
  readonly commit?: string;
  /** `{{ env.NAME }}`: a token read from that environment variable, here and in each job; never the token itself. */
  readonly accessToken?: string;
  readonly submodules?: boolean;
}

/**
 * Clones `source` into the project's `node_modules/.cache/drover/sources/` (so the flow's own
 * imports, `@drover/client` and the rest, resolve through the project's dependencies), loads the
 * flow `entrypoint` names there (relative to the repository's root), and returns its deployment,
 * whose jobs clone the same source first.
 *
 * @example
 * const etl = await flow.fromSource({ repository: 'https://github.com/acme/flows.git', branch: 'main' }, 'flows/etl.ts:etl', { workPoolName: 'local' });
 * await etl.deploy();
 */
export async function fromSource(source: FlowSource, entrypoint: string, options: DeploymentOptions = {}): Promise<RunnerDeployment> {
  const parsed = GitCloneStep.safeParse(source);
  if (!parsed.success) {
    throw new DroverError('VALIDATION_ERROR', `Invalid source for flow.fromSource: ${describeIssues(toIssues(parsed.error))}`, {
      repository: String(source.repository),
    });
  }
  const step = { git_clone: parsed.data };
  const key = createHash('sha256').update(JSON.stringify(step)).digest('hex').slice(0, 16);
  const cache = join(findProjectRoot(process.cwd()), 'node_modules', '.cache', 'drover', 'sources');
  mkdirSync(cache, { recursive: true });
  let checkout: string;
  try {
    checkout = await runPullSteps([{ git_clone: { ...step.git_clone, directory: key } }], cache, () => {});
  } catch (error) {
    throw droverErrorOf(
      'FLOW_LOAD_ERROR',
      `Cannot read flow "${entrypoint}" from ${source.repository}: ${(error as Error).message}`,
      { repository: source.repository },
      { cause: error },
    );
  }
  const flow = await loadFlow(entrypoint, checkout);
  return new RunnerDeployment(flow, { ...options, entrypoint, pullSteps: options.pullSteps ?? [step] });
}
