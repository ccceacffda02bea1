/**
 * A run's job configuration, as Prefect builds it: the pool's template variables take their
 * schema defaults, then the deployment's job variables, then the run's (`env` is merged key by
 * key at every layer, every other variable is replaced whole); they are checked against the
 * pool's variables schema; then every `{{ placeholder }}` in the job configuration is filled.
 */
import { type BaseJobTemplate, DroverError, type JsonObject } from '@drover/schemas';
import { Ajv, type ValidateFunction } from 'ajv';

type Values = Record<string, unknown>;

/** Expands dotted keys (`"env.FOO": "x"`) into nesting; a nested key given directly wins. */
function expandDotted(values: Values): Values {
  const out: Values = {};
  for (const [key, value] of Object.entries(values)) {
    if (!key.includes('.')) continue;
    const [head, ...rest] = key.split('.');
    const nested = (out[head as string] ?? {}) as Values;
    nested[rest.join('.')] = value;
    out[head as string] = nested;
  }
  for (const [key, value] of Object.entries(values)) if (!key.includes('.')) out[key] = value;
  return out;
}

/** Merges layers lowest first: `env` key by key, everything else replaced whole. */
export function mergeJobVariables(...layers: readonly Values[]): Values {
  const merged: Values = {};
  for (const layer of layers.map(expandDotted)) {
    for (const [key, value] of Object.entries(layer)) {
      merged[key] = key === 'env' && isObject(value) && isObject(merged.env) ? { ...merged.env, ...value } : value;
    }
  }
  return merged;
}

const isObject = (value: unknown): value is Values => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The defaults the variables schema declares. */
export function variableDefaults(template: BaseJobTemplate): Values {
  const defaults: Values = {};
  for (const [name, schema] of Object.entries(template.variables.properties)) {
    if ('default' in schema && schema.default !== null && schema.default !== undefined) defaults[name] = schema.default;
  }
  return defaults;
}

const ajv = new Ajv({ allErrors: true, strict: false });
// A worker renders every run with its pool's one template: compile its schema once.
const validators = new WeakMap<BaseJobTemplate, ValidateFunction>();

/** Checks merged variables against the pool's schema: unknown names and wrong types are errors. */
export function validateJobVariables(template: BaseJobTemplate, values: Values, where: string): void {
  const known = Object.keys(template.variables.properties);
  const unknown = Object.keys(values).filter((name) => !known.includes(name));
  const problems = unknown.map((name) => `unknown variable "${name}" (this pool's variables: ${known.join(', ')})`);
  let validate = validators.get(template);
  if (!validate) {
    validate = ajv.compile({ ...template.variables, additionalProperties: true, required: [] });
    validators.set(template, validate);
  }
  if (!validate(values)) {
    for (const error of validate.errors ?? []) problems.push(`${error.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(variables)'} ${error.message}`);
  }
  if (problems.length > 0) {
    throw new DroverError('JOB_VARIABLES_INVALID', `Invalid job variables for ${where}: ${problems.join('; ')}`, { problems });
  }
}

const PLACEHOLDER = /\{\{\s*([\w.\-[\]$]+)\s*\}\}/g;
const WHOLE = /^\{\{\s*([\w.\-[\]$]+)\s*\}\}$/;
const REMOVE = Symbol('remove');

function lookup(path: string, values: Values, env: NodeJS.ProcessEnv): unknown {
  if (path.startsWith('$')) return env[path.slice(1)] ?? '';
  let current: unknown = values;
  for (const part of path.replaceAll(/\[(\d+)\]/g, '.$1').split('.')) {
    if (current === null || typeof current !== 'object' || !(part in current)) return undefined;
    current = (current as Values)[part];
  }
  return current;
}

/**
 * Fills placeholders: a string that is one placeholder becomes the value itself (an object, a
 * number...), or disappears from its parent when the value is missing; placeholders inside text
 * become text (missing ones empty). `{{ $NAME }}` reads the worker's environment.
 */
export function renderTemplate(template: unknown, values: Values, env: NodeJS.ProcessEnv = process.env): unknown {
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') {
      const whole = WHOLE.exec(node);
      if (whole) {
        const value = lookup(whole[1] as string, values, env);
        return value === undefined ? REMOVE : value;
      }
      return node.replaceAll(PLACEHOLDER, (_m, path: string) => {
        const value = lookup(path, values, env);
        return value === undefined || value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
      });
    }
    if (Array.isArray(node)) return node.map(walk).filter((item) => item !== REMOVE);
    if (isObject(node)) {
      const out: Values = {};
      for (const [key, value] of Object.entries(node)) {
        const rendered = walk(value);
        if (rendered !== REMOVE) out[key] = rendered;
      }
      return out;
    }
    return node;
  };
  const rendered = walk(template);
  return rendered === REMOVE ? undefined : rendered;
}

/** The rendered job configuration for a run of a deployment in a pool. */
export function buildJobConfiguration(
  template: BaseJobTemplate,
  deploymentVariables: JsonObject,
  runVariables: JsonObject,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
): Values {
  const values = mergeJobVariables(variableDefaults(template), deploymentVariables, runVariables);
  validateJobVariables(template, values, where);
  return renderTemplate(template.jobConfiguration, values, env) as Values;
}
