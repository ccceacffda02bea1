/**
 * The built package gives the same dates whatever the process's TZ: child processes with
 * TZ=UTC, Asia/Kathmandu (+05:45) and America/St_Johns (−03:30, with DST) run dist/index.js (the
 * project's globalSetup checks it is current) on
 * the same cases and must print exactly what this process (TZ=UTC, from src) computes. Running the
 * compiled ESM also catches import bugs that only show up in Node (rrule's CJS export, P10).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { getDates, type ScheduleLike } from './getDates.js';

const zones = ['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Tokyo', 'Asia/Kathmandu', 'America/St_Johns'];
const cases: { schedule: ScheduleLike; start: string; end?: string; n?: number }[] = zones.flatMap((timezone) => [
  { schedule: { cron: '*/20 * * * *', timezone }, start: '2025-03-08T22:00', n: 300 },
  { schedule: { cron: '30 2 * * *', timezone }, start: '2025-01-01T00:00', n: 400 },
  { schedule: { cron: '0 0 13 * 5', timezone, dayOr: false }, start: '2020-01-01T00:00:00Z', n: 10 },
  { schedule: { interval: 3600, timezone, anchorDate: '2025-01-01T00:30' }, start: '2025-03-08T00:00', end: '2025-04-08T00:00' },
  { schedule: { interval: 86_400, timezone, anchorDate: '2001-06-01T09:00' }, start: '2025-01-01T00:00', n: 400 },
  { schedule: { rrule: 'DTSTART:20250101T023000\nRRULE:FREQ=DAILY', timezone }, start: '2025-01-01T00:00', n: 400 },
  {
    schedule: { rrule: 'DTSTART:20250301T090000\nRRULE:FREQ=MINUTELY;INTERVAL=45\nEXDATE:20250309T093000', timezone },
    start: '2025-03-08T12:00+01:00',
    n: 300,
  },
]);

const childScript = `
import { getDates } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = JSON.parse(input).map(({ schedule, ...options }) => getDates(schedule, options).map((d) => d.toISOString()));
process.stdout.write(JSON.stringify(out));
`;

describe('results do not depend on the process TZ', () => {
  const expected = () => cases.map(({ schedule, ...options }) => getDates(schedule, options).map((d) => d.toISOString()));

  it.each(['UTC', 'Asia/Kathmandu', 'America/St_Johns'])('TZ=%s', (tz) => {
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', childScript], {
      input: JSON.stringify(cases),
      env: { ...process.env, TZ: tz },
      encoding: 'utf8',
    });
    const actual = JSON.parse(output) as string[][];
    expect(actual).toEqual(expected());
    expect(actual.flat().length).toBeGreaterThan(15_000);
  });
});
