/**
 * Property test: getDates for random cron expressions and zones equals a brute-force scan that
 * walks every UTC minute, reads the wall time with luxon, and applies the DST rules directly
 * (first occurrence of a repeated wall time; a skipped wall time fires at wall − offset before
 * the gap). A second check compares field parsing with cron-parser on UTC. Seeded, so a failure
 * reproduces.
 */
import { CronExpressionParser } from 'cron-parser';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { getDates } from './getDates.js';

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ZONES = [
  'UTC',
  'America/New_York',
  'Europe/London',
  'Australia/Lord_Howe',
  'Asia/Tokyo',
  'America/St_Johns',
  'Asia/Kathmandu',
  'Pacific/Chatham',
  'Europe/Dublin',
  'America/Sao_Paulo',
  'America/Santiago',
  'Africa/Casablanca',
];
const DOW_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** A random field: `*`, `*\/s`, a value, `a/s` (a to max), a list, a range or a stepped range. */
function field(random: () => number, min: number, max: number, names?: readonly string[]): string {
  const value = () => min + Math.floor(random() * (max - min + 1));
  const show = (v: number) => (names && random() < 0.3 ? (names[v % names.length] as string) : String(v));
  const roll = random();
  if (roll < 0.3) return '*';
  if (roll < 0.45) return `*/${1 + Math.floor(random() * Math.min(12, max))}`;
  if (roll < 0.55) return show(value());
  if (roll < 0.6) return `${show(value())}/${1 + Math.floor(random() * 5)}`;
  if (roll < 0.75) return [...new Set([value(), value(), value()])].map(show).join(',');
  const a = value();
  const b = value();
  const range = `${show(Math.min(a, b))}-${show(Math.max(a, b))}`;
  return roll < 0.9 ? range : `${range}/${1 + Math.floor(random() * 3)}`;
}

/** The values a generated field allows (only the syntax `field` produces). */
function expand(text: string, min: number, max: number, names?: readonly string[]): Set<number> {
  const num = (token: string) => {
    const index = names?.indexOf(token) ?? -1;
    return index >= 0 ? index : Number(token);
  };
  const out = new Set<number>();
  for (const item of text.split(',')) {
    const [base = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    const [lo, hi] = base === '*' ? [min, max] : base.includes('-') ? base.split('-').map(num) : [num(base), stepText ? max : num(base)];
    for (let v = lo as number; v <= (hi as number); v += step) out.add(v);
  }
  return out;
}

function bruteForce(cron: string, dayOr: boolean, zone: string, fromMs: number, toMs: number): string[] {
  const [mi, h, dom, mo, dow] = cron.split(' ') as [string, string, string, string, string];
  const minutes = expand(mi, 0, 59);
  const hours = expand(h, 0, 23);
  const days = expand(dom, 1, 31);
  const months = expand(mo, 1, 12);
  const weekdays = new Set([...expand(dow, 0, 6, DOW_NAMES)].map((d) => d % 7));
  const domRestricted = dom !== '*';
  const dowRestricted = dow !== '*';
  const matches = (minute: number, hour: number, day: number, month: number, weekday: number) => {
    if (!minutes.has(minute) || !hours.has(hour) || !months.has(month)) return false;
    const domOk = days.has(day);
    const dowOk = weekdays.has(weekday % 7);
    if (domRestricted && dowRestricted) return dayOr ? domOk || dowOk : domOk && dowOk;
    return domOk && dowOk;
  };
  const MINUTE = 60_000;
  const wallOf = (t: DateTime) => Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute);
  const seen = new Set<number>();
  const found = new Set<number>();
  let previous = DateTime.fromMillis(fromMs - 3 * 3_600_000 - MINUTE, { zone });
  for (let ms = fromMs - 3 * 3_600_000; ms <= toMs; ms += MINUTE) {
    const now = DateTime.fromMillis(ms, { zone });
    const wall = wallOf(now);
    // Wall times skipped by a forward jump fire at wall time minus the offset before the jump.
    for (let skipped = wallOf(previous) + MINUTE; skipped < wall; skipped += MINUTE) {
      const f = new Date(skipped);
      if (matches(f.getUTCMinutes(), f.getUTCHours(), f.getUTCDate(), f.getUTCMonth() + 1, f.getUTCDay())) {
        found.add(skipped - previous.offset * MINUTE);
      }
    }
    // A repeated wall time (fall-back) fires at its first occurrence only.
    if (!seen.has(wall)) {
      seen.add(wall);
      if (matches(now.minute, now.hour, now.day, now.month, now.weekday)) found.add(ms);
    }
    previous = now;
  }
  return [...found]
    .filter((ms) => ms >= fromMs && ms <= toMs)
    .sort((a, b) => a - b)
    .map((ms) => new Date(ms).toISOString());
}

/** An instant near the zone's next offset change after `from` (or `from` when there is none in a year). */
function nearTransition(zone: string, from: number): number {
  const start = DateTime.fromMillis(from, { zone }).offset;
  for (let ms = from; ms < from + 366 * 86_400_000; ms += 6 * 3_600_000) {
    if (DateTime.fromMillis(ms, { zone }).offset !== start) return ms - 24 * 3_600_000;
  }
  return from;
}

describe('cron against a brute-force minute scan', () => {
  const random = mulberry32(20_251_127);
  const cases: [string, boolean, string, number][] = [];
  for (let i = 0; i < 150; i++) {
    const cron = [
      field(random, 0, 59),
      field(random, 0, 23),
      random() < 0.5 ? '*' : field(random, 1, 31),
      random() < 0.7 ? '*' : field(random, 1, 12),
      random() < 0.5 ? '*' : field(random, 0, 6, DOW_NAMES),
    ].join(' ');
    // Lord Howe's 30-minute shift is the one where moved and real times interleave: weight it.
    const zone = random() < 0.25 ? 'Australia/Lord_Howe' : (ZONES[Math.floor(random() * ZONES.length)] as string);
    const from = Date.UTC(2016, 0, 1) + Math.floor(random() * 12 * 365) * 86_400_000;
    cases.push([cron, random() < 0.5, zone, random() < 0.7 ? nearTransition(zone, from) : from]);
  }

  it.each(cases)('%s dayOr=%s in %s from %d', (cron, dayOr, zone, fromMs) => {
    const toMs = fromMs + 2 * 86_400_000;
    const expected = bruteForce(cron, dayOr, zone, fromMs, toMs);
    const actual = getDates({ cron, dayOr, timezone: zone }, { start: new Date(fromMs), end: new Date(toMs), n: 10_000 });
    expect(actual.map((d) => d.toISOString())).toEqual(expected);
  });
});

describe('cron field parsing agrees with cron-parser (UTC, at most one day field restricted)', () => {
  const random = mulberry32(7);
  const cases: [string, number][] = [];
  while (cases.length < 150) {
    const dom = random() < 0.5 ? '*' : field(random, 1, 31);
    const dow = dom !== '*' || random() < 0.4 ? '*' : field(random, 0, 6, DOW_NAMES);
    const cron = [field(random, 0, 59), field(random, 0, 23), dom, random() < 0.6 ? '*' : field(random, 1, 12), dow].join(' ');
    cases.push([cron, Date.UTC(2000, 0, 1) + Math.floor(random() * 40 * 365 * 86_400) * 1000]);
  }

  it.each(cases)('%s from %d', (cron, fromMs) => {
    let expected: string[];
    try {
      const iterator = CronExpressionParser.parse(cron, { currentDate: new Date(fromMs - 1), tz: 'UTC' });
      expected = iterator.take(50).map((date) => date.toISOString() as string);
    } catch {
      return; // cron-parser refuses day/month pairs that never occur; getDates' own error is tested elsewhere
    }
    expect(getDates({ cron }, { start: new Date(fromMs), n: 50 }).map((d) => d.toISOString())).toEqual(expected);
  });
});
