/** Management calls by name, as in Prefect's SDK; each is one API call with the SDK's errors. */
import type { Deployment, DeploymentUpdate, WorkPool, WorkQueue } from '@drover/schemas';
import { isDroverError } from '@drover/schemas';
import { type DroverClient, getClient } from './api.js';

/** The deployment `flow-name/deployment-name` (or id); throws NotFoundError (DEPLOYMENT_NOT_FOUND). */
export function getDeployment(name: string, client: DroverClient = getClient()): Promise<Deployment> {
  return client.deployments.read(name);
}

export function updateDeployment(name: string, changes: DeploymentUpdate, client: DroverClient = getClient()): Promise<Deployment> {
  return client.deployments.update(name, changes);
}

/** Deletes a deployment and its scheduled runs; false when there was none. */
export async function deleteDeployment(name: string, client: DroverClient = getClient()): Promise<boolean> {
  try {
    await client.deployments.delete(name);
    return true;
  } catch (error) {
    if (isDroverError(error, 'DEPLOYMENT_NOT_FOUND')) return false;
    throw error;
  }
}

export function getWorkPool(name: string, client: DroverClient = getClient()): Promise<WorkPool> {
  return client.workPools.read(name);
}

export function createWorkQueue(
  workPoolName: string,
  name: string,
  options: { description?: string; isPaused?: boolean; concurrencyLimit?: number; priority?: number } = {},
  client: DroverClient = getClient(),
): Promise<WorkQueue> {
  return client.workQueues.create({ workPoolName, name, ...options });
}
