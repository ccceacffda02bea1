import { describe, expect, it } from 'vitest';
import { DeploymentCreate } from './deployments.js';
import { DroverError, isDroverError } from './errors.js';
import { describeIssues, toIssues } from './issues.js';
import { DeploymentFullName, splitDeploymentName } from './names.js';
import { Project, toScheduleCreate } from './project.js';

describe('names', () => {
  it('addresses deployments as flow-name/deployment-name', () => {
    expect(DeploymentFullName.safeParse('etl/nightly').success).toBe(true);
    expect(splitDeploymentName('etl/nightly')).toEqual({ flowName: 'etl', deploymentName: 'nightly' });
  });
  it.each(['etl', 'etl/nightly/x', '/nightly', 'etl/', 'et l/nightly', '-etl/nightly'])('rejects %s', (value) => {
    const result = DeploymentFullName.safeParse(value);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe(
      `Invalid deployment "${value}": expected flow-name/deployment-name, each 1-100 letters, digits, "-", "_" or ".", starting with a letter or digit`,
    );
  });
  it('names the rule for a bad deployment name', () => {
    const result = DeploymentCreate.safeParse({ flowName: 'etl', name: 'night ly' });
    expect(result.error?.issues[0]?.message).toBe(
      'Invalid deployment name "night ly": use 1-100 letters, digits, "-", "_" or ".", starting with a letter or digit',
    );
  });
});

describe('DeploymentCreate', () => {
  it('fills defaults', () => {
    const parsed = DeploymentCreate.parse({ flowName: 'etl', name: 'nightly', schedules: [{ schedule: { cron: '@daily' } }] });
    expect(parsed.enforceParameterSchema).toBe(true);
    expect(parsed.schedules[0]).toEqual({
      schedule: { cron: '@daily', dayOr: true },
      active: true,
      slug: null,
      parameters: {},
      maxScheduledRuns: null,
      catchup: 'all',
      maxLateSeconds: null,
    });
  });
});

describe('Project (drover.yaml)', () => {
  it('reads flattened schedules into API schedules', () => {
    const project = Project.parse({
      name: 'demo',
      deployments: [
        {
          name: 'nightly',
          entrypoint: 'flows/etl.ts:etl',
          schedules: [{ cron: '0 2 * * *', timezone: 'Europe/London', slug: 'night', catchup: 'latest' }],
        },
      ],
    });
    const schedule = project.deployments[0]?.schedules[0];
    expect(schedule && toScheduleCreate(schedule)).toEqual({
      schedule: { cron: '0 2 * * *', timezone: 'Europe/London', dayOr: true },
      active: undefined,
      slug: 'night',
      parameters: undefined,
      maxScheduledRuns: undefined,
      catchup: 'latest',
      maxLateSeconds: undefined,
    });
  });
  it('reports the key path of a bad value', () => {
    const result = Project.safeParse({
      name: 'demo',
      deployments: [{ name: 'a', entrypoint: 'flows/a.ts:a', schedules: [{ cron: '0 25 * * *' }] }],
    });
    expect(result.error && describeIssues(toIssues(result.error))).toBe('deployments.0.schedules.0.cron: Invalid cron "0 25 * * *": hour must be 0-23');
  });
});

describe('errors', () => {
  it('recognises an error rebuilt from JSON by its code', () => {
    const error = new DroverError('DEPLOYMENT_NOT_FOUND', 'Deployment "a/b" not found', { name: 'a/b' });
    const copy = JSON.parse(JSON.stringify(error));
    expect(isDroverError(error, 'DEPLOYMENT_NOT_FOUND')).toBe(true);
    expect(isDroverError(copy, 'DEPLOYMENT_NOT_FOUND')).toBe(true);
    expect(isDroverError(copy, 'FLOW_NOT_FOUND')).toBe(false);
    expect(isDroverError(new Error('x'))).toBe(false);
  });
});
