import { z } from 'zod';

// Intl is the one timezone database every runtime we support carries (Node, browsers, Deno), so the
// schema stays dependency-free; luxon and cron-parser read the same database, so what passes here works there.
const IANA_SHAPE = /^(UTC|[A-Za-z]+(?:\/[A-Za-z0-9_+-]+)+|[A-Za-z]{3,5}[0-9]?[A-Za-z]{0,3})$/;
/**
 * Names found valid, so the `Intl` check (~20 µs) runs once per zone. Rejected names are not kept:
 * they come from users without limit. Valid ones are few (about 600 zones), but `Intl` accepts any
 * letter case, so the set is capped too.
 */
const known = new Set<string>();
const KNOWN_LIMIT = 2048;

/** True when `name` is an IANA timezone name the runtime knows (`UTC`, `America/New_York`). */
export function isTimezone(name: string): boolean {
  if (known.has(name)) return true;
  if (!IANA_SHAPE.test(name)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
  } catch {
    return false;
  }
  if (known.size >= KNOWN_LIMIT) known.clear();
  known.add(name);
  return true;
}

/** How many names the validity cache holds (at most 2048), for tests of its bound. */
export function timezoneCacheSize(): number {
  return known.size;
}

/** An IANA timezone name; schedules without one run in UTC. */
export const Timezone = z
  .string()
  .max(64)
  .superRefine((value, ctx) => {
    if (!isTimezone(value)) {
      ctx.addIssue({
        code: 'custom',
        message: `Invalid timezone "${value}" (use an IANA name such as America/New_York)`,
      });
    }
  });
export type Timezone = z.infer<typeof Timezone>;

/**
 * An ISO-8601 date-time, or a Date (sent over the wire as its ISO string). Without an offset it is
 * wall time in the schedule's timezone.
 */
export const DateTimeInput = z.union([
  z.iso.datetime({ offset: true, local: true, error: 'expected an ISO-8601 date-time such as 2026-01-01T09:00:00' }),
  z.date().transform((date) => date.toISOString()),
]);
export type DateTimeInput = z.input<typeof DateTimeInput>;
