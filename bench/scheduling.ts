/**
 * @drover/scheduling against the raw libraries, for 1,000 occurrences in America/New_York.
 *
 *   pnpm --filter @drover/scheduling build && pnpm --filter @drover/bench bench
 *
 * Each row times the same work both ways, after a warm-up, as the median of several rounds.
 * "raw" is what a caller would write with the library alone to get the same instants:
 *  - cron: cron-parser with `tz` (it converts through luxon on every step);
 *  - interval: a luxon loop adding calendar days in the zone;
 *  - rrule: rrule with `tzid` (the library's own way to get zoned instants, TZ=UTC only), and
 *    floating rrule without any zone placement, a lower bound that does less work than we do.
 */
import { getDates, type ScheduleLike } from '@drover/scheduling';
import { CronExpressionParser } from 'cron-parser';
import { DateTime } from 'luxon';
import rrulePkg from 'rrule';

const { RRule } = rrulePkg;
const ZONE = 'America/New_York';
const N = 1000;
const WARMUP = 20;
const ROUNDS = 7;
const REPS = 20;
const START = new Date('2025-01-01T05:00:00Z');

let peakRss = process.memoryUsage().rss;
let sink = 0;

/** Median over rounds of the mean ms per call. */
function time(fn: () => Date[]): number {
  for (let i = 0; i < WARMUP; i++) sink += fn().length;
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < REPS; i++) sink += fn().length;
    rounds.push((performance.now() - t0) / REPS);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(rounds.length / 2)] as number;
}

function firstCall(fn: () => Date[]): number {
  const t0 = performance.now();
  sink += fn().length;
  return performance.now() - t0;
}

const same = (a: Date[], b: Date[]) => a.length === b.length && a.every((d, i) => d.getTime() === b[i]?.getTime());

interface Row {
  name: string;
  ours: () => Date[];
  raw: { name: string; fn: () => Date[]; sameDates: boolean }[];
}

function ours(schedule: ScheduleLike): () => Date[] {
  return () => getDates(schedule, { start: START, n: N });
}

function rawCron(expr: string): () => Date[] {
  return () => {
    const it = CronExpressionParser.parse(expr, { currentDate: new Date(START.getTime() - 1), tz: ZONE });
    const out: Date[] = [];
    for (let i = 0; i < N; i++) out.push(it.next().toDate());
    return out;
  };
}

function rawLuxonDays(): () => Date[] {
  return () => {
    const first = DateTime.fromISO('2025-01-01T09:00', { zone: ZONE });
    const out: Date[] = [];
    for (let i = 0; i < N; i++) out.push(first.plus({ days: i }).toJSDate());
    return out;
  };
}

function rawRRule(tzid: boolean): () => Date[] {
  const options = RRule.parseString('FREQ=DAILY');
  return () => new RRule({ ...options, dtstart: new Date(Date.UTC(2025, 0, 1, 9)), ...(tzid ? { tzid: ZONE } : {}) }, true).all((_d, i) => i < N);
}

const cronDaily: ScheduleLike = { cron: '0 9 * * *', timezone: ZONE };
const cronQuarter: ScheduleLike = { cron: '*/15 * * * *', timezone: ZONE };
const intervalDaily: ScheduleLike = { interval: 86_400, anchorDate: '2025-01-01T09:00', timezone: ZONE };
const rruleDaily: ScheduleLike = { rrule: 'DTSTART:20250101T090000\nRRULE:FREQ=DAILY', timezone: ZONE };

const cold = {
  cron: firstCall(ours(cronDaily)),
  interval: firstCall(ours(intervalDaily)),
  rrule: firstCall(ours(rruleDaily)),
};

const rows: Row[] = [
  { name: "cron '0 9 * * *'", ours: ours(cronDaily), raw: [{ name: 'cron-parser (tz)', fn: rawCron('0 9 * * *'), sameDates: true }] },
  { name: "cron '*/15 * * * *'", ours: ours(cronQuarter), raw: [{ name: 'cron-parser (tz)', fn: rawCron('*/15 * * * *'), sameDates: true }] },
  { name: 'interval 86400 s', ours: ours(intervalDaily), raw: [{ name: 'luxon plus({days})', fn: rawLuxonDays(), sameDates: true }] },
  {
    name: 'rrule FREQ=DAILY',
    ours: ours(rruleDaily),
    raw: [
      { name: 'rrule (tzid)', fn: rawRRule(true), sameDates: true },
      { name: 'rrule (floating, no zone)', fn: rawRRule(false), sameDates: false },
    ],
  },
];

console.log(
  `node ${process.version}, TZ=${process.env.TZ ?? '(unset)'}, ${N} occurrences in ${ZONE}, median of ${ROUNDS} rounds x ${REPS} calls after ${WARMUP} warm-up calls\n`,
);
// All getDates rows first, so the peak RSS they reach is measured before the raw libraries run.
const oursMs = rows.map((row) => time(row.ours));
const oursPeakRss = peakRss;
console.log('schedule              | getDates ms | raw library               | raw ms  | ratio  | same dates');
console.log('----------------------|-------------|---------------------------|---------|--------|-----------');
for (const [i, row] of rows.entries()) {
  const ms = oursMs[i] as number;
  for (const raw of row.raw) {
    const rawMs = time(raw.fn);
    const match = raw.sameDates ? (same(row.ours(), raw.fn()) ? 'yes' : 'NO') : 'n/a';
    console.log(
      `${row.name.padEnd(22)}| ${ms.toFixed(3).padStart(11)} | ${raw.name.padEnd(26)}| ${rawMs.toFixed(3).padStart(7)} | ${(ms / rawMs).toFixed(3).padStart(6)} | ${match}`,
    );
  }
}
console.log(
  `\nfirst call in the process (cold zone cache, includes parsing): cron ${cold.cron.toFixed(2)} ms, interval ${cold.interval.toFixed(2)} ms, rrule ${cold.rrule.toFixed(2)} ms`,
);
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
console.log(`peak RSS: ${mib(oursPeakRss)} after the getDates rows, ${mib(peakRss)} after the raw libraries (checksum ${sink})`);
