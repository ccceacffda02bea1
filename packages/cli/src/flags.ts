/**
 * Parsers for flag and argument values, used as commander `argParser`s so a bad value stops the
 * command before it talks to the server. Each throws a `UsageError` (exit 2) that names the flag,
 * the value and what was expected: `Invalid --limit "0": expected a whole number from 1 to 1000`.
 */
import { DeploymentFullName, Id, Schedule, StateType, toIssues } from '@drover/schemas';
import { z } from 'zod';
import { UsageError } from './errors.js';

function invalid(flag: string, value: string, expected: string): UsageError {
  return new UsageError(`Invalid ${flag} "${value}": expected ${expected}`, { flag, value });
}

/** A whole number in `[min, max]`. */
export function intFlag(flag: string, min: number, max: number): (value: string) => number {
  const schema = z.coerce.number().int().min(min).max(max);
  return (value) => {
    const result = /^\s*-?\d+\s*$/.test(value) ? schema.safeParse(value) : undefined;
    if (!result?.success) throw invalid(flag, value, `a whole number from ${min} to ${max}`);
    return result.data;
  };
}

/**
 * A whole number in `[min, max]`, or `none` to clear a limit. `none` stays a string here (commander
 * turns a parser's null into ''); `limitValue` makes it null for the API.
 */
export function limitFlag(flag: string, min: number, max: number): (value: string) => number | 'none' {
  const int = intFlag(flag, min, max);
  return (value) => {
    if (value === 'none') return 'none';
    try {
      return int(value);
    } catch {
      throw invalid(flag, value, `a whole number from ${min} to ${max}, or "none" to remove the limit`);
    }
  };
}

/** A parsed `limitFlag` value as the API takes it: null for none, undefined when not given. */
export function limitValue(value: number | 'none' | undefined): number | null | undefined {
  return value === 'none' ? null : value;
}

/** A JSON value when `text` is valid JSON, else the text itself (`--param count=3`, `--param name=ada`). */
export function jsonOrString(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Repeatable `key=value`; values are JSON when they parse as JSON, else strings. */
export function keyValueFlag(flag: string): (value: string, previous: Record<string, unknown> | undefined) => Record<string, unknown> {
  return (value, previous) => {
    const eq = value.indexOf('=');
    if (eq <= 0) throw invalid(flag, value, 'key=value, e.g. name=ada or count=3');
    return { ...previous, [value.slice(0, eq)]: jsonOrString(value.slice(eq + 1)) };
  };
}

/** Repeatable `key=value` with string values (`drover init --field image=etl`). */
export function fieldFlag(flag: string): (value: string, previous: Record<string, string> | undefined) => Record<string, string> {
  return (value, previous) => {
    const eq = value.indexOf('=');
    if (eq <= 0) throw invalid(flag, value, 'key=value, e.g. repository=https://github.com/org/repo');
    return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
  };
}

/** A JSON object (`--params '{"name": "ada"}'`). */
export function jsonObjectFlag(flag: string): (value: string) => Record<string, unknown> {
  return (value) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch (error) {
      throw invalid(flag, value, `a JSON object such as '{"name": "ada"}' (${(error as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw invalid(
        flag,
        value,
        `a JSON object such as '{"name": "ada"}', not ${Array.isArray(parsed) ? 'an array' : typeof parsed === 'object' ? 'null' : `a ${typeof parsed}`}`,
      );
    }
    return parsed as Record<string, unknown>;
  };
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const DURATION = /^(?:\d+(?:\.\d+)?[smhd])+$/;

/** A duration such as `30s`, `10m`, `1h30m` or `2d`, in seconds (a bare number is seconds). */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed);
  if (!DURATION.test(trimmed)) return undefined;
  let seconds = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)([smhd])/g)) seconds += Number(amount) * (UNIT_SECONDS[unit as string] as number);
  return seconds;
}

export function durationFlag(flag: string): (value: string) => number {
  return (value) => {
    const seconds = parseDuration(value);
    if (seconds === undefined || seconds <= 0) throw invalid(flag, value, 'a duration such as 30s, 10m, 1h30m or 2d');
    return seconds;
  };
}

const IsoDateTime = z.iso.datetime({ offset: true, local: true });

/** An ISO-8601 date-time; without an offset it is UTC. Returns the instant as ISO UTC. */
export function isoFlag(flag: string): (value: string) => string {
  return (value) => {
    if (!IsoDateTime.safeParse(value).success) throw invalid(flag, value, 'an ISO-8601 date-time such as 2026-01-01T09:00:00Z');
    const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(value);
    return new Date(hasZone ? value : `${value}Z`).toISOString();
  };
}

/** Repeatable state type, case-insensitive, commas allowed (`--state failed,crashed`). */
export function stateFlag(flag: string): (value: string, previous: StateType[] | undefined) => StateType[] {
  return (value, previous) => {
    const states = value.split(',').map((s) => s.trim().toUpperCase());
    for (const state of states) {
      if (!StateType.safeParse(state).success) throw invalid(flag, value, `one of ${StateType.options.join(', ')}`);
    }
    return [...new Set([...(previous ?? []), ...(states as StateType[])])];
  };
}

/** A flow run id. */
export function runIdArg(value: string): string {
  if (!Id.safeParse(value).success) throw invalid('flow run id', value, 'a UUID such as 0192f0c4-3b5e-7a1c-9d2e-4f6a8b0c1d2e (see `drover flow-run ls`)');
  return value;
}

/** `flow-name/deployment-name` or a deployment id. */
export function deploymentArg(value: string): string {
  if (Id.safeParse(value).success) return value;
  const result = DeploymentFullName.safeParse(value);
  if (!result.success) throw new UsageError(result.error.issues[0]?.message ?? `Invalid deployment "${value}"`, { value });
  return value;
}

export interface ScheduleFlags {
  readonly cron?: string;
  readonly interval?: number;
  readonly rrule?: string;
  readonly timezone?: string;
  readonly anchorDate?: string;
}

const SCHEDULE_FLAG: Record<string, string> = { cron: '--cron', interval: '--interval', rrule: '--rrule', timezone: '--timezone', anchorDate: '--anchor-date' };

/** `--interval`: seconds, or a duration such as 10m. */
export function intervalFlag(value: string): number {
  const seconds = parseDuration(value);
  if (seconds === undefined) throw invalid('--interval', value, 'seconds, or a duration such as 30s, 10m or 1h');
  return seconds;
}

/**
 * The schedule the flags describe (undefined with none of --cron, --interval, --rrule), checked
 * with the `Schedule` schema; a problem is reported against its flag:
 * `--cron: Invalid cron "0 25 * * *": hour must be 0-23`.
 */
export function scheduleFromFlags(flags: ScheduleFlags): Schedule | undefined {
  const kinds = (['cron', 'interval', 'rrule'] as const).filter((kind) => flags[kind] !== undefined);
  if (kinds.length === 0) {
    if (flags.timezone !== undefined) throw new UsageError('--timezone needs a schedule: add --cron, --interval or --rrule');
    if (flags.anchorDate !== undefined) throw new UsageError('--anchor-date needs --interval');
    return undefined;
  }
  if (kinds.length > 1) throw new UsageError(`Give one schedule flag, not ${kinds.map((k) => SCHEDULE_FLAG[k]).join(' and ')}`);
  if (flags.anchorDate !== undefined && kinds[0] !== 'interval') throw new UsageError('--anchor-date needs --interval');
  const input = Object.fromEntries(
    Object.entries(SCHEDULE_FLAG).flatMap(([key]) => (flags[key as keyof ScheduleFlags] === undefined ? [] : [[key, flags[key as keyof ScheduleFlags]]])),
  );
  const result = Schedule.safeParse(input);
  if (!result.success) {
    const [issue] = toIssues(result.error);
    const flag = SCHEDULE_FLAG[issue?.path.split('.')[0] ?? ''] ?? 'schedule';
    throw new UsageError(`${flag}: ${issue?.message ?? 'invalid schedule'}`, { flag });
  }
  return result.data;
}

/**
 * A value checked with a @drover/schemas schema. Schemas whose message names the value
 * (names, timezones) are shown as `--pool: Invalid work pool name "a b": use ...`; others as
 * `Invalid --version "...": <message>`.
 */
export function schemaFlag<T>(flag: string, schema: z.ZodType<T>): (value: string) => T {
  return (value) => {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    if (issue?.code === 'custom') throw new UsageError(`${flag}: ${issue.message}`, { flag, value });
    const expected = (issue?.message ?? 'a valid value')
      .replace(/^Too big: expected string to have <=(\d+) characters$/, 'at most $1 characters')
      .replace(/^Too small: expected string to have >=(\d+) characters?$/, 'at least $1 character');
    throw invalid(flag, value, expected);
  };
}

/** Like `schemaFlag`, collecting repeated values into a list. */
export function schemaListFlag<T>(flag: string, schema: z.ZodType<T>): (value: string, previous: T[] | undefined) => T[] {
  const one = schemaFlag(flag, schema);
  return (value, previous) => [...(previous ?? []), one(value)];
}

/** An argument checked with a schema whose message names the value (`Invalid work pool name "a b": use ...`). */
export function schemaArg<T>(schema: z.ZodType<T>): (value: string) => T {
  return (value) => {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    throw new UsageError(result.error.issues[0]?.message ?? `Invalid value "${value}"`, { value });
  };
}
