/** How the UI writes times, durations and schedules. Times are shown in the browser's zone. */
import type { Deployment } from '@drover/schemas';
import cronstrue from 'cronstrue';

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function localTime(iso: string): string {
  return dateTime.format(new Date(iso));
}

/** `1.2 s`, `3 min 4 s`, `2 h 5 min`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** A run's duration: start to end, or to `now` while it runs; null when it never started. */
export function runDuration(run: { startTime: string | null; endTime: string | null }, now: number): number | null {
  if (!run.startTime) return null;
  return (run.endTime ? Date.parse(run.endTime) : now) - Date.parse(run.startTime);
}

type Schedule = Deployment['schedules'][number]['schedule'];

/** A schedule in words: "At 02:00, every day (Europe/London)", "every 1 h", "RRULE:...". */
export function describeSchedule(schedule: Schedule): string {
  const zone = schedule.timezone ?? 'UTC';
  if ('cron' in schedule) {
    let words: string;
    try {
      words = cronstrue.toString(schedule.cron, { use24HourTimeFormat: true, verbose: true });
    } catch {
      words = schedule.cron;
    }
    return `${words} (${zone})`;
  }
  if ('interval' in schedule) {
    const from = schedule.anchorDate ? ` from ${String(schedule.anchorDate)}` : '';
    return `Every ${duration(schedule.interval * 1000)}${from} (${zone})`;
  }
  return `${schedule.rrule} (${zone})`;
}

/** The states a run can be in, with the colours the UI gives them (one per state, light and dark alike). */
export const STATE_COLORS: Record<string, string> = {
  SCHEDULED: '#8a94a6',
  PENDING: '#b28a1e',
  RUNNING: '#2f6fdf',
  COMPLETED: '#1f9d55',
  FAILED: '#d64545',
  CANCELLING: '#9b6bd6',
  CANCELLED: '#6b6f80',
  CRASHED: '#e8730c',
  PAUSED: '#5a8fa8',
};

export const STATE_TYPES = Object.keys(STATE_COLORS);

export const FINAL_STATES = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED']);
