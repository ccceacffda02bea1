import type { Zone } from './zone.js';

/**
 * Turns ascending wall times (floating ms) into ascending, distinct instants at or after
 * `startMs`. Ambiguous wall times take their first occurrence and nonexistent ones move forward
 * by the DST gap (see `Zone.resolve`). A moved time can land after later wall times (with
 * Lord Howe's 30-minute gap, 02:15 becomes 02:45 while 02:30 stays 02:30), so moved times wait in
 * a small buffer until the wall clock passes them; duplicates are dropped.
 */
export function* placeWalls(zone: Zone, walls: Iterator<number>, startMs: number): Generator<number, void, undefined> {
  let last = Number.NEGATIVE_INFINITY;
  // Moved instants waiting for their turn, ascending, with the wall time each one shows.
  const held: number[] = [];
  const heldWall: number[] = [];
  for (let next = walls.next(); !next.done; next = walls.next()) {
    const wall = next.value;
    const instant = zone.resolve(wall);
    const shifted = zone.shifted;
    while (held.length > 0 && ((heldWall[0] as number) <= wall || (!shifted && (held[0] as number) <= instant))) {
      const due = held.shift() as number;
      heldWall.shift();
      if (due >= startMs && due > last) {
        last = due;
        yield due;
      }
    }
    if (shifted) {
      let i = held.length;
      while (i > 0 && (held[i - 1] as number) > instant) i--;
      held.splice(i, 0, instant);
      heldWall.splice(i, 0, zone.wallOf(instant));
    } else if (instant >= startMs && instant > last) {
      last = instant;
      yield instant;
    }
  }
  for (const due of held) {
    if (due >= startMs && due > last) {
      last = due;
      yield due;
    }
  }
}

/** Where to start scanning wall times so that every instant at or after `startMs` is found. */
export function scanStart(zone: Zone, startMs: number): number {
  // A wall time just before start's wall time can still land at or after start if it sat in a DST
  // gap that ended shortly before start; starting from start + the earlier offset covers it.
  return startMs + Math.min(zone.offsetAt(startMs), zone.offsetAt(startMs - 2 * 86_400_000));
}
