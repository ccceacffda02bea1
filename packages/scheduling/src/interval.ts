/**
 * Interval schedules. The whole-day part of the interval steps in calendar days in the zone (a
 * daily 09:00 stays 09:00 across DST) and the rest in exact seconds, so occurrence k is
 * `place(anchorWall + k·days) + k·rest`. Each occurrence is computed from the anchor directly,
 * which keeps the anchor's wall-clock time even when `start` is in another DST period than the
 * anchor (Prefect shifts by an hour there) and makes far anchors cost nothing.
 */
import { InvalidScheduleError } from './errors.js';
import { DAY, SECOND } from './wallTime.js';
import type { Zone } from './zone.js';

/** Occurrences at or after `startMs`, ascending and distinct. Checks the interval at once. */
export function intervalInstants(
  zone: Zone,
  intervalSeconds: number,
  anchor: { readonly wall: number; readonly instant: number },
  startMs: number,
): Generator<number, void, undefined> {
  const stepMs = Math.round(intervalSeconds * SECOND);
  if (!Number.isFinite(intervalSeconds) || !(stepMs >= 1)) {
    throw new InvalidScheduleError(`Invalid interval ${intervalSeconds}: expected a number of seconds of at least 0.001`, { interval: intervalSeconds });
  }
  return steps(zone, stepMs, anchor, startMs);
}

function* steps(zone: Zone, stepMs: number, anchor: { readonly wall: number; readonly instant: number }, startMs: number): Generator<number, void, undefined> {
  const anchorMs = anchor.instant;
  const days = Math.floor(stepMs / DAY);
  if (days === 0) {
    // Sub-day intervals step in exact UTC time (Python 3.13 Prefect).
    for (let k = Math.ceil((startMs - anchorMs) / stepMs); ; k++) yield anchorMs + k * stepMs;
  }
  const restMs = stepMs - days * DAY;
  const anchorWall = anchor.wall;
  // k = 0 is the anchor itself, even when it is the second of an ambiguous pair of wall times.
  const at = (k: number) => (k === 0 ? anchorMs : zone.resolve(anchorWall + k * days * DAY) + k * restMs);
  let k = Math.ceil((startMs - anchorMs) / stepMs);
  while (at(k - 1) >= startMs) k--;
  while (at(k) < startMs) k++;
  let last = Number.NEGATIVE_INFINITY;
  for (; ; k++) {
    const instant = at(k);
    // A zone that skips a whole day (Pacific/Apia, 2011-12-30) maps two days onto one instant.
    if (instant > last) {
      last = instant;
      yield instant;
    }
  }
}
