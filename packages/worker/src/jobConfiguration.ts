/**
 * A run's job configuration, as Prefect builds it: the pool's template variables take their
 * schema defaults, then the deployment's job variables, then the run's (`env` is merged key by
 * key at every layer, every other variable is replaced whole); they are checked against the
 * pool's variables schema; then every `{{ placeholder }}` in the job configuration is filled.
 */
import { type BaseJobTemplate, droverErrorOf, type JsonObject } from '@drover/schemas';
import { Ajv, type ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';

type Values = Record<string, unknown>;

/**
 * Names that reach an object's prototype when assigned (`x.__proto__.command = …` sets `command`
 * on every object of the worker, and later runs of other deployments would run it).
 */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Refuses a layer of job variables with a prototype name in any key, at any depth, dotted or
 * not: they are data, and no variable of any pool has such a name.
 */
function refusePrototypeKeys(values: unknown, source: string, where: string, path = ''): void {
  if (typeof values !== 'object' || values === null) return;
  for (const [key, value] of Object.entries(values)) {
    const name = Array.isArray(values) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
    const bad = key.split('.').find((part) => PROTOTYPE_KEYS.has(part));
    if (bad !== undefined) {
      throw droverErrorOf(
        'JOB_VARIABLES_INVALID',
        `Invalid job variables for ${where}: the key "${name}" in ${source} names "${bad}", which reaches the prototype every object of the worker shares; remove or rename it`,
        { key: name, source },
      );
    }
    refusePrototypeKeys(value, source, where, name);
  }
}

/** Expands dotted keys (`"env.FOO": "x"`) into nesting; a nested key given directly wins. */
function expandDotted(values: Values): Values {
  const out: Values = {};
  for (const [key, value] of Object.entries(values)) {
    if (!key.includes('.')) continue;
    const [head, ...rest] = key.split('.') as [string, ...string[]];
    // Own keys only: `out.toString` is Object.prototype's, and must not be written to.
    const nested = (Object.hasOwn(out, head) ? out[head] : {}) as Values;
    nested[rest.join('.')] = value;
    out[head] = nested;
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

/** The defaults the variables schema declares (as own keys whatever their names, for `refusePrototypeKeys` to see). */
export function variableDefaults(template: BaseJobTemplate): Values {
  return Object.fromEntries(
    Object.entries(template.variables.properties)
      .filter(([, schema]) => Object.hasOwn(schema, 'default') && schema.default !== null && schema.default !== undefined)
      .map(([name, schema]) => [name, schema.default]),
  );
}

/**
 * A pool's template comes from whoever created the pool: its `pattern`s run on RE2 (re2js, linear
 * time), as the server's parameter schemas do, so a catastrophic pattern cannot stall the worker.
 * A pattern RE2 cannot run (a lookahead, a backreference) is not checked here. The same wrapper
 * as the server's (parameters.ts): the two share no runtime package but @drover/schemas, which
 * stays zod-only.
 */
const linearRegExp = Object.assign(
  (pattern: string) => {
    let compiled: ReturnType<typeof RE2JS.compile> | null;
    try {
      compiled = RE2JS.compile(RE2JS.translateRegExp(pattern));
    } catch {
      compiled = null;
    }
    // ajv dedupes compiled patterns by `toString()`, which RE2JS does not make unique per pattern.
    return { test: (text: string) => compiled === null || compiled.test(text), toString: () => `/${pattern}/` };
  },
  { code: 'RE2JS' },
);

const ajv = new Ajv({ allErrors: true, strict: false, code: { regExp: linearRegExp } });
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
    throw droverErrorOf('JOB_VARIABLES_INVALID', `Invalid job variables for ${where}: ${problems.join('; ')}`, { problems });
  }
}

const PLACEHOLDER = /\{\{\s*([\w.\-[\]$]+)\s*\}\}/g;
const WHOLE = /^\{\{\s*([\w.\-[\]$]+)\s*\}\}$/;
const REMOVE = Symbol('remove');

/** A value by path; own properties only, so `{{ constructor }}` or `{{ toString }}` find nothing. */
function lookup(path: string, values: Values, env: NodeJS.ProcessEnv): unknown {
  if (path.startsWith('$')) return Object.hasOwn(env, path.slice(1)) ? env[path.slice(1)] : '';
  let current: unknown = values;
  for (const part of path.replaceAll(/\[(\d+)\]/g, '.$1').split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, part)) return undefined;
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
      // fromEntries defines own keys: a template key "__proto__" stays a key, not this object's prototype.
      return Object.fromEntries(
        Object.entries(node)
          .map(([key, value]) => [key, walk(value)] as const)
          .filter(([, rendered]) => rendered !== REMOVE),
      );
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
  const defaults = variableDefaults(template);
  refusePrototypeKeys(defaults, "the pool's variable defaults", where);
  refusePrototypeKeys(deploymentVariables, "the deployment's job variables", where);
  refusePrototypeKeys(runVariables, "the run's job variables", where);
  const values = mergeJobVariables(defaults, deploymentVariables, runVariables);
  validateJobVariables(template, values, where);
  return renderTemplate(template.jobConfiguration, values, env) as Values;
}
