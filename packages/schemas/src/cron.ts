/**
 * Cron validation: five fields (minute hour day-of-month month day-of-week) or one of the macros,
 * with names, ranges, steps and lists. Extensions whose meaning differs between cron dialects
 * (`L`, `W`, `#`, `?`) and the random/hashed forms (`R`, `H`) are rejected, so an expression means
 * the same thing to every reader.
 */

export const CRON_MACROS = {
  '@yearly': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@hourly': '0 * * * *',
} as const;

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  { name: 'day-of-week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

/** The five fields of a valid cron expression, macros expanded. Call only on validated input. */
export function cronFields(expression: string): string[] {
  const trimmed = expression.trim();
  const macro = CRON_MACROS[trimmed.toLowerCase() as keyof typeof CRON_MACROS];
  return (macro ?? trimmed).split(/\s+/);
}

/** Why `expression` is not a valid cron expression, or undefined when it is. */
export function cronError(expression: string): string | undefined {
  const trimmed = expression.trim();
  if (trimmed.startsWith('@')) {
    if (trimmed.toLowerCase() in CRON_MACROS) return undefined;
    return `unknown macro ${trimmed} (use one of ${Object.keys(CRON_MACROS).join(', ')})`;
  }
  const fields = trimmed === '' ? [] : trimmed.split(/\s+/);
  if (fields.length !== 5) {
    return `expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`;
  }
  for (const [i, spec] of FIELDS.entries()) {
    const problem = fieldError(fields[i] as string, spec);
    if (problem) return problem;
  }
  return undefined;
}

function fieldError(field: string, spec: FieldSpec): string | undefined {
  if (/^[RH]\b|^[RH]\(/i.test(field)) {
    return `${spec.name} "${field}": random and hashed forms (R, H) are not supported`;
  }
  const withoutNames = spec.names ? field.replace(new RegExp(spec.names.join('|'), 'gi'), '') : field;
  if (/[LW#?]/i.test(withoutNames)) {
    return `${spec.name} "${field}": L, W, # and ? are not supported (list the days instead)`;
  }
  for (const item of field.split(',')) {
    const problem = itemError(item, spec);
    if (problem) return problem;
  }
  return undefined;
}

function itemError(item: string, spec: FieldSpec): string | undefined {
  const [base, step, ...rest] = item.split('/');
  if (rest.length > 0 || base === undefined || base === '') {
    return `${spec.name} "${item}" is not a value, range or step`;
  }
  if (step !== undefined && !(/^\d+$/.test(step) && Number(step) >= 1)) {
    return `${spec.name} step "${step}" must be a whole number of at least 1`;
  }
  if (base === '*') return undefined;
  const bounds = base.split('-');
  if (bounds.length > 2 || bounds.some((b) => b === '')) {
    return `${spec.name} "${item}" is not a value, range or step`;
  }
  const values: number[] = [];
  for (const bound of bounds) {
    const value = fieldValue(bound, spec);
    if (value === undefined) {
      const names = spec.names ? ` or a name (${spec.names[0]}-${spec.names[spec.names.length - 1]})` : '';
      return `${spec.name} "${bound}" is not a number${names}`;
    }
    if (value < spec.min || value > spec.max) return `${spec.name} must be ${spec.min}-${spec.max}`;
    values.push(value);
  }
  const [low, high] = values as [number, number?];
  if (high !== undefined && low > high) {
    return `${spec.name} range "${base}" must go from low to high`;
  }
  return undefined;
}

function fieldValue(token: string, spec: FieldSpec): number | undefined {
  if (/^\d+$/.test(token)) return Number(token);
  const index = spec.names?.indexOf(token.toUpperCase()) ?? -1;
  if (index < 0) return undefined;
  return spec.min === 0 ? index : index + 1;
}

/** The values a valid field selects. */
function expand(field: string, spec: FieldSpec): number[] {
  const values = new Set<number>();
  for (const item of field.split(',')) {
    const [base = '*', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    const [low, high] =
      base === '*'
        ? [spec.min, spec.max]
        : ((bounds) => [bounds[0], bounds[1] ?? (stepText === undefined ? bounds[0] : spec.max)])(base.split('-').map((b) => fieldValue(b, spec) as number));
    for (let v = low as number; v <= (high as number); v += step) values.add(v);
  }
  return [...values];
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Why a valid cron expression can never fire, or undefined when it can: a day of the month that
 * no selected month has (`0 0 30 2 *`), unless the day of the week also picks days (`dayOr`).
 */
export function cronNeverFiresError(expression: string, dayOr: boolean): string | undefined {
  const [, , dom = '*', month = '*', dow = '*'] = cronFields(expression);
  if (dom === '*' || (dow !== '*' && dayOr)) return undefined;
  const days = expand(dom, FIELDS[2] as FieldSpec);
  const months = expand(month, FIELDS[3] as FieldSpec);
  if (months.some((m) => days.some((d) => d <= (DAYS_IN_MONTH[m - 1] as number)))) return undefined;
  return `it never fires: no selected month has day ${days.join(',')}`;
}
