/** How the CLI shows Drover's objects to people: schedules, states, times, durations. */
import { assertNever, type FlowRun, type Schedule, type State, type StateType } from '@drover/schemas';
import type { Output, Style } from './output.js';

/** An instant as `2026-01-01T09:00:00Z` (UTC, whole seconds). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return new Date(iso).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Seconds as `45s`, `3m 20s`, `2h 5m`, `1d 2h`. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.round(totalSeconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ''}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${s % 3600 >= 60 ? ` ${Math.floor((s % 3600) / 60)}m` : ''}`;
  return `${Math.floor(s / 86_400)}d${s % 86_400 >= 3600 ? ` ${Math.floor((s % 86_400) / 3600)}h` : ''}`;
}

/** A schedule in one line: `cron 0 9 * * 1-5 (Europe/London)`, `every 10s`, `rrule FREQ=DAILY`. */
export function describeSchedule(schedule: Schedule): string {
  const zone = schedule.timezone ? ` (${schedule.timezone})` : '';
  if ('cron' in schedule) return `cron ${schedule.cron}${schedule.dayOr ? '' : ' (days AND)'}${zone}`;
  if ('interval' in schedule) return `every ${formatDuration(schedule.interval)}${schedule.anchorDate ? ` from ${schedule.anchorDate}` : ''}${zone}`;
  return `rrule ${schedule.rrule.replace(/\s*\n\s*/g, ' ')}${zone}`;
}

function stateStyle(type: StateType): Style {
  switch (type) {
    case 'COMPLETED':
      return 'green';
    case 'FAILED':
    case 'CRASHED':
      return 'red';
    case 'RUNNING':
      return 'blue';
    case 'SCHEDULED':
    case 'PENDING':
    case 'PAUSED':
      return 'yellow';
    case 'CANCELLING':
    case 'CANCELLED':
      return 'grey';
    default:
      return assertNever(type);
  }
}

/** `COMPLETED`, or `SCHEDULED (Late)` when the state's name is not the type's default, coloured by type. */
export function stateLabel(out: Output, state: State): string {
  const plain = state.name.toUpperCase() === state.type ? state.type : `${state.type} (${state.name})`;
  return out.paint(stateStyle(state.type), plain);
}

/** How long a run ran, or `-` if it never started. */
export function runDuration(run: FlowRun): string {
  if (!run.startTime) return '-';
  const end = run.endTime ? Date.parse(run.endTime) : Date.now();
  return formatDuration((end - Date.parse(run.startTime)) / 1000);
}

/** `flow/deployment` for a run, or `-` for a run without a deployment. */
export function runDeploymentName(run: FlowRun): string {
  return run.deploymentName ? `${run.flowName}/${run.deploymentName}` : '-';
}

/** A JSON value on one line, for tables and field lists. */
export function inlineJson(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}
