/**
 * Zod issues as lines a person can act on, for files the user wrote (drover.yaml, a job
 * template): `deployments.0.schedules.0.cron: Invalid cron "0 25 * * *": hour must be 0-23`.
 * Unknown keys get the key they were probably meant to be (`work_pool` → `workPool`), missing
 * values say so, and a union (a build step, a pull step) reports the branch the user chose.
 */
import type { z } from 'zod';

interface RawIssue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
  readonly expected?: string;
  readonly errors?: readonly (readonly RawIssue[])[];
}

interface Def {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly element?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly out?: z.ZodType;
  readonly valueType?: z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The schema with optional/default/preprocess wrappers taken off. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (let i = 0; i < 20; i++) {
    const def = defOf(current);
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in && def.out) current = defOf(def.in).type === 'transform' ? def.out : def.in;
    else break;
  }
  return current;
}

/**
 * The keys an object schema accepts; for a union, those of the branch that best fits `value`
 * (most of its keys known), so a cron schedule lists cron's keys, not interval's.
 */
function keysOf(schema: z.ZodType | undefined, value?: unknown): string[] {
  if (!schema) return [];
  const def = defOf(unwrap(schema));
  if (def.shape) return Object.keys(def.shape);
  if (!def.options) return [];
  const given = value && typeof value === 'object' ? Object.keys(value) : [];
  const branches = def.options.map((option) => keysOf(option, value));
  const fit = (keys: string[]) => given.filter((key) => keys.includes(key)).length;
  const best = Math.max(...branches.map(fit));
  return [...new Set(branches.filter((keys) => fit(keys) === best).flat())];
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const segment of path) current = current && typeof current === 'object' ? (current as Record<PropertyKey, unknown>)[segment] : undefined;
  return current;
}

/** The schema found at `path` below `schema` (undefined when the path leaves what it describes). */
function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let current: z.ZodType | undefined = schema;
  for (const segment of path) {
    if (!current) return undefined;
    const def = defOf(unwrap(current));
    if (def.shape) current = def.shape[String(segment)];
    else if (def.element) current = def.element;
    else if (def.valueType) current = def.valueType;
    else if (def.options) current = def.options.map((o) => schemaAt(o, [segment])).find(Boolean);
    else return undefined;
  }
  return current;
}

const normalise = (key: string) => key.toLowerCase().replace(/[_-]/g, '');

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

/** The allowed key `key` was most likely meant to be (`work_pool` → `workPool`, `shedules` → `schedules`). */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  const exact = allowed.find((candidate) => normalise(candidate) === normalise(key));
  if (exact) return exact;
  const scored = allowed.map((candidate) => ({ candidate, d: distance(normalise(key), normalise(candidate)) })).sort((a, b) => a.d - b.d);
  const best = scored[0];
  return best && best.d <= Math.max(1, Math.floor(key.length / 4)) ? best.candidate : undefined;
}

function unknownKey(key: string, allowed: readonly string[]): string {
  const guess = closestKey(key, allowed);
  if (guess) return `Unknown key "${key}": did you mean "${guess}"?`;
  return allowed.length > 0 ? `Unknown key "${key}" (allowed: ${allowed.join(', ')})` : `Unknown key "${key}"`;
}

function explain(issue: RawIssue, prefix: readonly PropertyKey[], root: z.ZodType, input: unknown): { path: string; message: string }[] {
  const path = [...prefix, ...issue.path];
  const at = (message: string, where = path) => ({ path: where.map(String).join('.'), message });
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = keysOf(schemaAt(root, path), valueAt(input, path));
      return (issue.keys ?? []).map((key) => at(unknownKey(key, allowed)));
    }
    case 'invalid_type':
      return [at(/received undefined$/.test(issue.message) ? `Required (expected ${issue.expected ?? 'a value'})` : issue.message)];
    case 'invalid_union': {
      const branches = issue.errors ?? [];
      // The branch the user meant is the one that did not reject the value's own keys.
      const chosen = branches.find((branch) => !branch.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0));
      if (chosen) return chosen.flatMap((i) => explain(i, path, root, input));
      const given = branches.flatMap((branch) => branch.flatMap((i) => (i.code === 'unrecognized_keys' && i.path.length === 0 ? (i.keys ?? []) : [])));
      const kinds = branches.flatMap((branch) => branch.flatMap((i) => (i.code === 'invalid_type' && i.path.length === 1 ? [String(i.path[0])] : [])));
      if (given.length > 0 && kinds.length > 0) {
        const key = given[0] as string;
        const guess = closestKey(key, kinds);
        return [at(`Unknown key "${key}": ${guess ? `did you mean "${guess}"?` : `use one of ${[...new Set(kinds)].join(', ')}`}`)];
      }
      const first = branches[0]?.[0];
      return first ? explain(first, path, root, input) : [at(issue.message)];
    }
    default:
      return [at(issue.message)];
  }
}

/** One `path: message` line per problem (the message alone for the whole value); `input` is the value parsed. */
export function explainIssues(error: z.ZodError, schema: z.ZodType, input?: unknown): string[] {
  const lines = (error.issues as unknown as RawIssue[]).flatMap((issue) => explain(issue, [], schema, input));
  return [...new Set(lines.map(({ path, message }) => (path ? `${path}: ${message}` : message)))];
}
