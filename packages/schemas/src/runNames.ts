import { z } from 'zod';

/**
 * Flow-run name templates, in Prefect's spirit: `"etl-{date}"`, `"{flow_name}-{scheduled_time:%Y%m%d}"`.
 * A placeholder is a parameter name or one of the built-ins below; `scheduled_time` takes an
 * optional strftime-like format (`%Y %m %d %H %M %S`, in UTC). Rendered where the run is made, so
 * scheduled runs are named too.
 */
export const RUN_NAME_BUILTINS = ['flow_name', 'deployment_name', 'scheduled_time'] as const;

const PLACEHOLDER = /\{([A-Za-z_][\w]*)(?::([^{}]*))?\}/g;

/** A template's placeholders, in order, with their formats. */
export function runNamePlaceholders(template: string): { key: string; format: string | undefined }[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => ({ key: m[1] as string, format: m[2] }));
}

/** The placeholders of `template` that are neither built-ins nor among `parameterNames`. */
export function unknownRunNameKeys(template: string, parameterNames: readonly string[]): string[] {
  return runNamePlaceholders(template)
    .map((p) => p.key)
    .filter((key) => !(RUN_NAME_BUILTINS as readonly string[]).includes(key) && !parameterNames.includes(key));
}

const pad = (n: number) => String(n).padStart(2, '0');

function formatTime(date: Date, format: string | undefined): string {
  if (format === undefined || format === '') return date.toISOString();
  const parts: Record<string, string> = {
    Y: String(date.getUTCFullYear()),
    m: pad(date.getUTCMonth() + 1),
    d: pad(date.getUTCDate()),
    H: pad(date.getUTCHours()),
    M: pad(date.getUTCMinutes()),
    S: pad(date.getUTCSeconds()),
    '%': '%',
  };
  return format.replace(/%(.)/g, (whole, code: string) => parts[code] ?? whole);
}

/**
 * The run name `template` gives for these values, or the keys it needs and `parameters` lack
 * (`missing`): a parameter the run does not have is the caller's error to report, with the run.
 */
export function renderRunName(
  template: string,
  values: { parameters: Record<string, unknown>; flowName: string; deploymentName: string; scheduledTime: Date },
): { name: string; missing: string[] } {
  const missing: string[] = [];
  const name = template.replace(PLACEHOLDER, (_whole, key: string, format: string | undefined) => {
    if (key === 'flow_name') return values.flowName;
    if (key === 'deployment_name') return values.deploymentName;
    if (key === 'scheduled_time') return formatTime(values.scheduledTime, format);
    if (!Object.hasOwn(values.parameters, key) || values.parameters[key] === undefined) {
      missing.push(key);
      return '';
    }
    const value = values.parameters[key];
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
  // Names are at most 200 characters (FlowRunCreate's limit); a long parameter is cut, not refused.
  return { name: name.length > 200 ? `${name.slice(0, 199)}…` : name, missing };
}

/** A flow-run name template: 1-200 characters, placeholders `{name}` or `{scheduled_time:%Y%m%d}`. */
export const RunNameTemplate = z
  .string()
  .min(1)
  .max(200)
  .refine((t) => !/[{}]/.test(t.replace(PLACEHOLDER, '')), 'a name template whose braces are placeholders like {date} or {scheduled_time:%Y%m%d}');
