/**
 * Timezone offsets without the process's TZ: offsets come from `Intl` for a named zone, and are
 * cached per 48-day bucket as the list of transitions inside it, so placing a wall time in a zone
 * costs a few array reads instead of an `Intl` call.
 */
import { InvalidScheduleError } from './errors.js';
import { DAY, daysFromCivil, HOUR, MINUTE, SECOND } from './wallTime.js';

/**
 * Spacing of the `Intl` samples that find transitions. A transition pair closer than this could
 * be missed; the closest pair in tzdata from 1900 to 2040 is 7 days apart (America/Boa_Vista, 2000).
 */
const SAMPLE = 3 * DAY;
const BUCKET = 16 * SAMPLE;
const MAX_BUCKETS = 4096;

interface Bucket {
  /** Instants at which `offsets[i]` starts to apply; `starts[0]` is the bucket's start. */
  readonly starts: number[];
  readonly offsets: number[];
}

/** A named IANA zone: UTC offset of an instant, and the instant of a wall time. */
export class Zone {
  private readonly format: Intl.DateTimeFormat | undefined;
  private readonly buckets = new Map<number, Bucket>();
  private lastIndex = Number.NaN;
  private last: Bucket = { starts: [0], offsets: [0] };
  /** Set by `resolve`: true when the wall time did not exist and was moved forward by the DST gap. */
  shifted = false;

  constructor(readonly name: string) {
    let format: Intl.DateTimeFormat;
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: name,
        hourCycle: 'h23',
        era: 'short',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch (cause) {
      throw new InvalidScheduleError(`Invalid timezone "${name}": expected an IANA name such as America/New_York`, { timezone: name }, { cause });
    }
    const resolved = format.resolvedOptions().timeZone;
    this.format = resolved === 'UTC' || resolved === 'Etc/UTC' || resolved === 'Etc/GMT' ? undefined : format;
  }

  /** UTC offset in ms (local = instant + offset) at the instant `ts`. */
  offsetAt(ts: number): number {
    if (this.format === undefined) return 0;
    const index = Math.floor(ts / BUCKET);
    let bucket = this.last;
    if (index !== this.lastIndex) {
      bucket = this.buckets.get(index) ?? this.load(index);
      this.lastIndex = index;
      this.last = bucket;
    }
    const { starts, offsets } = bucket;
    for (let i = starts.length - 1; i > 0; i--) if (ts >= (starts[i] as number)) return offsets[i] as number;
    return offsets[0] as number;
  }

  /** Wall time (floating ms) of the instant `ts`. */
  wallOf(ts: number): number {
    return ts + this.offsetAt(ts);
  }

  /**
   * Instant of the wall time `wall` (floating ms). An ambiguous wall time (the repeated hour at
   * fall-back) gives its first occurrence; a nonexistent one (the skipped hour at spring-forward)
   * moves forward by the gap (02:30 becomes 03:30 after a one-hour gap) and sets `shifted`.
   */
  resolve(wall: number): number {
    const before = this.offsetAt(wall - DAY);
    const after = this.offsetAt(wall + DAY);
    const early = wall - before;
    if (before === after && this.offsetAt(early) === before) {
      this.shifted = false;
      return early;
    }
    const late = wall - after;
    const earlyOk = this.offsetAt(early) === before;
    const lateOk = this.offsetAt(late) === after;
    this.shifted = !earlyOk && !lateOk;
    if (earlyOk && lateOk) return Math.min(early, late);
    if (lateOk) return late;
    // Valid under the earlier offset only, or in a gap: the pre-transition offset moves it forward.
    return early;
  }

  private load(index: number): Bucket {
    const start = index * BUCKET;
    const end = start + BUCKET;
    const starts = [start];
    const offsets = [this.rawOffset(start)];
    let t = start;
    let offset = offsets[0] as number;
    while (t < end) {
      const next = Math.min(t + SAMPLE, end);
      const nextOffset = this.rawOffset(next);
      if (nextOffset === offset) {
        t = next;
        continue;
      }
      // A change in (t, next]: bisect to the second, record it, and go on from there in case
      // a second change hides in the same sample interval.
      let lo = t;
      let hi = next;
      while (hi - lo > SECOND) {
        const mid = lo + Math.floor((hi - lo) / 2 / SECOND) * SECOND;
        if (this.rawOffset(mid) === offset) lo = mid;
        else hi = mid;
      }
      offset = this.rawOffset(hi);
      if (hi < end) {
        starts.push(hi);
        offsets.push(offset);
      }
      t = hi;
    }
    if (this.buckets.size >= MAX_BUCKETS) this.buckets.clear();
    const bucket = { starts, offsets };
    this.buckets.set(index, bucket);
    return bucket;
  }

  /** Offset from `Intl` at the whole second containing `ts`. */
  private rawOffset(ts: number): number {
    const second = Math.floor(ts / SECOND) * SECOND;
    const text = (this.format as Intl.DateTimeFormat).format(second);
    const [month, day, year, hour, minute, sec] = (text.match(/\d+/g) ?? []).map(Number) as number[];
    const signedYear = /B/.test(text) ? 1 - (year as number) : (year as number);
    const wall =
      daysFromCivil(signedYear, month as number, day as number) * DAY + (hour as number) * HOUR + (minute as number) * MINUTE + (sec as number) * SECOND;
    return wall - second;
  }
}

const zones = new Map<string, Zone>();

/** The cached `Zone` for an IANA name (`undefined` = UTC). Throws InvalidScheduleError for an unknown name. */
export function getZone(name: string | undefined): Zone {
  const key = name ?? 'UTC';
  let zone = zones.get(key);
  if (zone === undefined) {
    zone = new Zone(key);
    if (zones.size >= 512) zones.clear();
    zones.set(key, zone);
  }
  return zone;
}
