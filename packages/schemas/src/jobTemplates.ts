import { assertNever } from './assertNever.js';
import type { BaseJobTemplate, WorkPoolType } from './workPools.js';

const common = {
  command: { type: ['string', 'null'], default: null, description: 'The command that starts the flow run; the engine when empty.' },
  env: { type: 'object', additionalProperties: { type: ['string', 'null'] }, default: {}, description: 'Environment variables of the job.' },
  labels: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Labels attached to the job.' },
  name: { type: ['string', 'null'], default: null, description: 'The job name; the flow run name when empty.' },
};
const commonConfiguration = { command: '{{ command }}', env: '{{ env }}', labels: '{{ labels }}', name: '{{ name }}' };
const image = { type: 'string', default: 'node:20-slim', description: 'The container image the job runs.' };
const imagePullPolicy = { type: 'string', enum: ['IfNotPresent', 'Always', 'Never'], default: 'IfNotPresent' };

/**
 * The template a new pool of `type` gets when none is given: its job configuration (placeholders
 * for every variable) and the variables' JSON schema with defaults, as Prefect's workers define them.
 */
export function defaultBaseJobTemplate(type: WorkPoolType): BaseJobTemplate {
  switch (type) {
    case 'process':
      return {
        jobConfiguration: { ...commonConfiguration, streamOutput: '{{ streamOutput }}', workingDir: '{{ workingDir }}', reuseProcess: '{{ reuseProcess }}' },
        variables: {
          type: 'object',
          properties: {
            ...common,
            streamOutput: { type: 'boolean', default: true, description: 'Copy the job output to the worker output.' },
            workingDir: { type: ['string', 'null'], default: null, description: 'Where the job runs; the deployment directory when empty.' },
            reuseProcess: {
              type: 'boolean',
              default: false,
              description:
                'Let a warm engine process that ran a run of this deployment run its next ones too, keeping the loaded flow (faster; runs share the process, its memory and what a flow leaves behind).',
            },
          },
        },
      };
    case 'docker':
      return {
        jobConfiguration: {
          ...commonConfiguration,
          image: '{{ image }}',
          imagePullPolicy: '{{ imagePullPolicy }}',
          networks: '{{ networks }}',
          volumes: '{{ volumes }}',
          autoRemove: '{{ autoRemove }}',
          memLimit: '{{ memLimit }}',
        },
        variables: {
          type: 'object',
          properties: {
            ...common,
            image,
            imagePullPolicy,
            networks: { type: 'array', items: { type: 'string' }, default: [], description: 'Docker networks to join.' },
            volumes: { type: 'array', items: { type: 'string' }, default: [], description: 'Volumes as host:container[:mode].' },
            autoRemove: { type: 'boolean', default: true, description: 'Remove the container when it exits.' },
            memLimit: { type: ['string', 'null'], default: null, description: 'Memory limit such as 512m.' },
          },
        },
      };
    case 'kubernetes':
      return {
        jobConfiguration: {
          ...commonConfiguration,
          namespace: '{{ namespace }}',
          podWatchTimeoutSeconds: '{{ podWatchTimeoutSeconds }}',
          jobManifest: {
            apiVersion: 'batch/v1',
            kind: 'Job',
            metadata: { generateName: '{{ name }}-', namespace: '{{ namespace }}', labels: '{{ labels }}' },
            spec: {
              backoffLimit: 0,
              ttlSecondsAfterFinished: '{{ finishedJobTtl }}',
              template: {
                spec: {
                  restartPolicy: 'Never',
                  serviceAccountName: '{{ serviceAccountName }}',
                  containers: [{ name: 'drover-job', image: '{{ image }}', imagePullPolicy: '{{ imagePullPolicy }}', args: '{{ command }}', env: '{{ env }}' }],
                },
              },
            },
          },
        },
        variables: {
          type: 'object',
          properties: {
            ...common,
            image,
            imagePullPolicy,
            namespace: { type: 'string', default: 'default', description: 'The namespace jobs are created in.' },
            serviceAccountName: { type: ['string', 'null'], default: null, description: 'The pod service account.' },
            finishedJobTtl: { type: ['integer', 'null'], default: null, description: 'Seconds to keep a finished job.' },
            podWatchTimeoutSeconds: {
              type: 'number',
              exclusiveMinimum: 0,
              default: 60,
              description: 'A pod still pending after this long (an image that cannot be pulled, no node to run it) fails the run and its job is deleted.',
            },
          },
        },
      };
    default:
      return assertNever(type);
  }
}
