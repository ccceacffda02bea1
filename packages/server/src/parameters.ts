import { droverErrorOf, type Issue } from '@drover/schemas';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { RE2JS } from 're2js';
import { canonicalJson } from './canonicalJson.js';

/**
 * `pattern` and `patternProperties` come from users, and V8's backtracking engine takes
 * exponential time on some of them (`^(a+)+$` against 30 characters blocks the event loop for
 * seconds). RE2JS is a pure-JS port of RE2: linear time in the input, no native build. A pattern
 * RE2 cannot run (a lookahead or backreference, common in password rules written with zod) is not
 * checked by the server: refusing it would refuse the deployment of such a flow, and the flow's
 * own parameter schema still checks it in the job, where a slow pattern stalls that run alone.
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

// One compiler for every deployment's parameter schema. Compiled validators are cached by schema
// text, since compiling costs ~1 ms and runs are created thousands of times per schema.
const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false, code: { regExp: linearRegExp } });
const cache = new Map<string, ValidateFunction>();
const CACHE_LIMIT = 1000;

function compile(schema: Record<string, unknown>): ValidateFunction {
  const key = canonicalJson(schema);
  let validate = cache.get(key);
  if (!validate) {
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    validate = ajv.compile(schema);
    cache.set(key, validate);
  }
  return validate;
}

/**
 * Throws VALIDATION_ERROR when `schema` is not a JSON Schema ajv can compile (an unknown type, a
 * keyword of the wrong shape), so the deployment is refused when it is saved rather than every one
 * of its runs failing later.
 */
export function assertParameterSchema(deploymentName: string, schema: Record<string, unknown> | null | undefined): void {
  if (!schema) return;
  try {
    compile(schema);
  } catch (cause) {
    const problem = (cause as Error).message.replace(/^schema is invalid: /, '');
    throw droverErrorOf(
      'VALIDATION_ERROR',
      `Invalid parameterSchema for deployment "${deploymentName}": ${problem} (expected a JSON Schema, draft 2020-12)`,
      { deployment: deploymentName, problem },
      { cause },
    );
  }
}

/** Every way `parameters` breaks `schema`, as `path: message` issues (empty when valid). */
function parameterIssues(schema: Record<string, unknown>, parameters: Record<string, unknown>): Issue[] {
  const validate = compile(schema);
  if (validate(parameters)) return [];
  return (validate.errors ?? []).map((error) => {
    const path = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
    const missing = error.keyword === 'required' ? String((error.params as { missingProperty?: string }).missingProperty) : undefined;
    const extra = error.keyword === 'additionalProperties' ? String((error.params as { additionalProperty?: string }).additionalProperty) : undefined;
    if (missing) return { path: path ? `${path}.${missing}` : missing, message: 'is required' };
    if (extra) return { path: path ? `${path}.${extra}` : extra, message: 'is not a parameter of this flow' };
    return { path, message: error.message ?? 'is invalid' };
  });
}

/** Throws PARAMETERS_INVALID listing every violation when `parameters` break the deployment's schema. */
export function assertParameters(deploymentName: string, schema: Record<string, unknown>, parameters: Record<string, unknown>): void {
  const issues = parameterIssues(schema, parameters);
  if (issues.length === 0) return;
  const list = issues.map((issue) => `${issue.path || '(parameters)'} ${issue.message}`).join('; ');
  throw droverErrorOf('PARAMETERS_INVALID', `Parameters for deployment "${deploymentName}" do not match its schema: ${list}`, {
    deployment: deploymentName,
    issues,
  });
}

/**
 * Throws JOB_VARIABLES_INVALID when `values` name a variable the pool's job template does not
 * have, or give one a value of the wrong type: the worker would refuse the run when it launches
 * it, so the deployment or run is refused now, when its author is there to read why. `where`
 * says whose variables these are (`deployment "etl/nightly"`, `run of etl/nightly`).
 */
export function assertJobVariables(where: string, poolName: string, variablesSchema: Record<string, unknown>, values: Record<string, unknown>): void {
  const properties = (variablesSchema.properties ?? {}) as Record<string, unknown>;
  const known = Object.keys(properties);
  const problems = Object.keys(values)
    .filter((name) => !Object.hasOwn(properties, name))
    .map((name) => `unknown variable "${name}" (pool "${poolName}" has: ${known.join(', ')})`);
  // Only the variables given are checked (`required` is the template's defaults' business).
  const validate = compile({ ...variablesSchema, required: [], additionalProperties: true });
  if (!validate(values)) {
    for (const error of validate.errors ?? []) {
      const path = error.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(variables)';
      const value = JSON.stringify(
        path === '(variables)' ? values : path.split('.').reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], values),
      );
      problems.push(`${path} is ${value}, which ${error.message ?? 'is invalid'}`);
    }
  }
  if (problems.length > 0) {
    throw droverErrorOf('JOB_VARIABLES_INVALID', `Invalid job variables for ${where} in work pool "${poolName}": ${problems.join('; ')}`, {
      workPoolName: poolName,
      problems,
    });
  }
}
