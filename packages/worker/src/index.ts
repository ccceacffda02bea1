/**
 * @drover/worker: the long-running process an operator starts in each environment. A worker
 * joins a work pool, claims the pool's due runs and launches each as a job (a process, a Docker
 * container or a Kubernetes Job) from the pool's job template, heartbeats the runs it holds,
 * stops the jobs of cancelled runs, and reports CRASHED when a job dies without a final state.
 *
 * @example
 * import { Worker } from '@drover/worker';
 * const worker = new Worker({ workPoolName: 'local', type: 'process', limit: 4 });
 * process.once('SIGTERM', () => void worker.stop());
 * await worker.start(); // resolves once stopped
 */
export {
  buildJobConfiguration,
  mergeJobVariables,
  renderTemplate,
  validateJobVariables,
  variableDefaults,
} from './jobConfiguration.js';
export { containerName, DockerLauncher, dockerRunArgs } from './launchers/docker.js';
export { jobManifest, KubernetesLauncher } from './launchers/kubernetes.js';
export type { Job, JobExit, JobSpec, Launcher, StopOutcome } from './launchers/launcher.js';
export { ENGINE_ENTRY, PROCESS_LAUNCHER_DEFAULTS, ProcessLauncher, type ProcessLauncherOptions } from './launchers/process.js';
export { WORKER_DEFAULTS, Worker, type WorkerEvents, type WorkerOptions } from './worker.js';
