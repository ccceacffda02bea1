import { DroverError, type Issue } from '@drover/schemas';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { canonicalJson } from './canonicalJson.js';

// One compiler for every deployment's parameter schema. Compiled validators are cached by schema
// text, since compiling costs ~1 ms and runs are created thousands of times per schema.
const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
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

/** Every way `parameters` breaks `schema`, as `path: message` issues (empty when valid). */
export function parameterIssues(schema: Record<string, unknown>, parameters: Record<string, unknown>): Issue[] {
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
  throw new DroverError('PARAMETERS_INVALID', `Parameters for deployment "${deploymentName}" do not match its schema: ${list}`, {
    deployment: deploymentName,
    issues,
  });
}
