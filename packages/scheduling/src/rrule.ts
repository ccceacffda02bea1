/**
 * RRule schedules, evaluated on "floating" wall time: rrule gets no tzid, DTSTART/UNTIL/RDATE/
 * EXDATE are read as wall times in the schedule's zone (a `Z` suffix does not change that, like
 * Prefect's relabelling; a TZID parameter is refused), and each result's UTC fields are wall time that
 * `placeWalls` puts in the zone. rrule therefore never sees the process's TZ (TOOLCHAIN P11).
 *
 * rrule's own RRuleSet iterates its rules one after another and evaluates an EXRULE over the
 * whole `between` range, so the set is merged here instead, lazily, from one stream per rule.
 */
import { rruleError } from '@drover/schemas';
import rrulePkg from 'rrule';
import { InvalidScheduleError } from './errors.js';
import { DAY, DEFAULT_ANCHOR_WALL, floating, HOUR, isValidWall, MINUTE, SECOND } from './wallTime.js';

// rrule ships CJS without an exports map: named ESM imports crash at run time (TOOLCHAIN P10).
const { RRule } = rrulePkg;
type RRuleOptions = ConstructorParameters<typeof RRule>[0] & object;

/** One RRULE or EXRULE: its options without DTSTART, and DTSTART as floating ms. */
interface Rule {
  readonly options: RRuleOptions;
  readonly dtstart: number;
}

/** An rrule set ready to iterate. */
export interface RRulePlan {
  readonly rules: readonly Rule[];
  readonly exrules: readonly Rule[];
  /** RDATEs and EXDATEs as floating ms; rdates ascending and distinct. */
  readonly rdates: readonly number[];
  readonly exdates: ReadonlySet<number>;
}

const plans = new Map<string, RRulePlan>();

/** Parses and checks an rrule text once; plans are cached by text. */
export function rrulePlan(text: string): RRulePlan {
  let plan = plans.get(text);
  if (plan === undefined) {
    plan = buildPlan(text);
    if (plans.size >= 1024) plans.clear();
    plans.set(text, plan);
  }
  return plan;
}

function invalid(text: string, problem: string, cause?: unknown): InvalidScheduleError {
  const shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return new InvalidScheduleError(`Invalid rrule "${shown}": ${problem}`, { rrule: text }, { cause });
}

function buildPlan(text: string): RRulePlan {
  const problem = rruleError(text);
  if (problem) throw invalid(text, problem);
  let dtstart = DEFAULT_ANCHOR_WALL;
  const ruleBodies: string[] = [];
  const exruleBodies: string[] = [];
  const rdates: number[] = [];
  const exdates = new Set<number>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    const colon = line.indexOf(':');
    const bare = colon < 0;
    const name = bare ? 'RRULE' : (line.slice(0, colon).split(';')[0] as string).toUpperCase();
    const body = bare ? line : line.slice(colon + 1);
    if (name === 'RRULE') ruleBodies.push(body);
    else if (name === 'EXRULE') exruleBodies.push(body);
    else {
      const dates = body.split(',').map((value) => wallOfValue(text, value));
      if (name === 'DTSTART') dtstart = dates[0] as number;
      else if (name === 'RDATE') rdates.push(...dates);
      else if (name === 'EXDATE') for (const date of dates) exdates.add(date);
      else throw invalid(text, `line "${line}" is not DTSTART, RRULE, EXRULE, RDATE or EXDATE`);
    }
  }
  const toRule = (body: string): Rule => {
    try {
      const options = RRule.parseString(body.toUpperCase());
      // Validate now (bad combinations throw here rather than on first use).
      new RRule({ ...options, dtstart: new Date(dtstart) }, true);
      return { options, dtstart };
    } catch (cause) {
      throw invalid(text, cause instanceof Error ? cause.message : String(cause), cause);
    }
  };
  rdates.sort((a, b) => a - b);
  return {
    rules: ruleBodies.map(toRule),
    exrules: exruleBodies.map(toRule),
    rdates: rdates.filter((date, i) => i === 0 || date !== rdates[i - 1]),
    exdates,
  };
}

/** `20250309T023000`, `20250309T023000Z` or `20250309` as floating ms (the Z is ignored: wall time in the zone). */
function wallOfValue(text: string, value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})Z?)?$/i.exec(value.trim());
  const [y, mo, d, h, mi, s] = m ? [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) : [];
  if (!m || !isValidWall(y as number, mo as number, d as number, h as number, mi as number, s as number)) {
    throw invalid(text, `"${value}" is not a date like 20250101T090000`);
  }
  return floating(y as number, mo as number, d as number, h as number, mi as number, s as number);
}

const FAR_FUTURE = new Date(floating(9999, 12, 31, 23, 59, 59));

/** How much the caller wants: rrule computes in chunks, and these size the chunks. */
export interface RRuleWindow {
  /** Dates probably needed (getDates' n); the first chunk is this big. */
  readonly expected?: number | undefined;
  /** No wall time after this is needed. */
  readonly untilWall?: number | undefined;
}

/** Matching wall times (floating ms) at or after `fromWall`, ascending and distinct. */
export function* rruleWalls(plan: RRulePlan, fromWall: number, window: RRuleWindow = {}): Generator<number, void, undefined> {
  const includes = plan.rules.map((rule) => ruleWalls(rule, fromWall, window));
  const heads = includes.map((stream) => stream.next());
  const excludes = plan.exrules.map((rule) => ruleWalls(rule, fromWall, window));
  const exHeads = excludes.map((stream) => stream.next());
  let r = 0;
  while (r < plan.rdates.length && (plan.rdates[r] as number) < fromWall) r++;
  let last = Number.NEGATIVE_INFINITY;
  for (;;) {
    let next = r < plan.rdates.length ? (plan.rdates[r] as number) : Number.POSITIVE_INFINITY;
    for (const head of heads) if (!head.done && head.value < next) next = head.value;
    if (next === Number.POSITIVE_INFINITY) return;
    if (r < plan.rdates.length && plan.rdates[r] === next) r++;
    for (let i = 0; i < heads.length; i++) {
      const head = heads[i] as IteratorResult<number, void>;
      if (!head.done && head.value === next) heads[i] = (includes[i] as Generator<number>).next();
    }
    if (next === last || plan.exdates.has(next)) continue;
    last = next;
    let excluded = false;
    for (let i = 0; i < exHeads.length; i++) {
      let head = exHeads[i] as IteratorResult<number, void>;
      while (!head.done && head.value < next) head = (excludes[i] as Generator<number>).next();
      exHeads[i] = head;
      if (!head.done && head.value === next) excluded = true;
    }
    if (!excluded) yield next;
  }
}

/**
 * One rule's wall times from `fromWall`, fetched from rrule in chunks (the expected count first,
 * then growing). rrule walks from DTSTART on every call, so each chunk first moves DTSTART forward
 * by whole periods (see `rebase`).
 */
function* ruleWalls(rule: Rule, fromWall: number, window: RRuleWindow): Generator<number, void, undefined> {
  const until = new Date(Math.min(window.untilWall ?? Number.POSITIVE_INFINITY, FAR_FUTURE.getTime()));
  let after = fromWall;
  let inclusive = true;
  // A few spare dates cover EXDATEs and times placed before start.
  let chunk = Math.min(Math.max((window.expected ?? 0) + 8, 8), 4096);
  for (;;) {
    const size = chunk;
    const rrule = boundedRRule(rule, rebase(rule, after));
    const dates = rrule.between(new Date(after), until, inclusive, (_date, i) => i < size);
    for (const date of dates) yield date.getTime();
    // Fewer than asked: the rule ended, passed `until`, or went MAX_IDLE_PERIODS without a match.
    if (dates.length < size) return;
    after = (dates[dates.length - 1] as Date).getTime();
    inclusive = false;
    chunk = Math.min(chunk * 4, 4096);
  }
}

/**
 * Most periods (years, months, … seconds, by FREQ) rrule may walk without reaching a time that
 * matches the rule's BY parts; it then stops as if the rule had ended. rrule itself stops only at
 * a match or at the year 9999, so a rule that never matches (`BYMONTH=2;BYMONTHDAY=30`, a BYSETPOS
 * past every period's times) costs seconds per call without this bound. 3000 periods still covers
 * the longest gap of ordinary rules (a DAILY rule for 29 February: 2922 days, 2096 to 2104) and
 * costs about 0.1 s. A YEARLY rule gets 400: the Gregorian calendar repeats every 400 years, so a
 * yearly rule idle for 400 periods never matches.
 */
const MAX_IDLE_PERIODS = 3000;
const MAX_IDLE_YEARS = 400;

/**
 * An RRule that gives up after {@link MAX_IDLE_PERIODS} periods without a candidate time. rrule
 * 2.8.1 (pinned) has no iteration limit, but its period loop reads `options.interval` twice per
 * period (its `interval === 0` stop check and the step to the next period) and stops when it reads
 * 0, and reads `options.tzid` once per candidate time; getters on those two count the periods
 * walked since the last candidate. `rrule.bounds.test.ts` fails if a new rrule stops doing so.
 */
function boundedRRule(rule: Rule, dtstart: number): InstanceType<typeof RRule> {
  const rrule = new RRule({ ...rule.options, dtstart: new Date(dtstart) }, true);
  const interval = rrule.options.interval;
  const maxReads = 2 * (rule.options.freq === RRule.YEARLY ? MAX_IDLE_YEARS : MAX_IDLE_PERIODS);
  let reads = 0;
  Object.defineProperties(rrule.options, {
    interval: { get: () => (++reads > maxReads ? 0 : interval) },
    tzid: {
      get: () => {
        reads = 0;
        // Never a zone: times are floating wall times (see the top of this file).
        return null;
      },
    },
  });
  return rrule;
}

const FIXED_PERIOD: Record<number, number> = {
  [RRule.WEEKLY]: 7 * DAY,
  [RRule.DAILY]: DAY,
  [RRule.HOURLY]: HOUR,
  [RRule.MINUTELY]: MINUTE,
  [RRule.SECONDLY]: SECOND,
};

/**
 * DTSTART moved forward by whole multiples of INTERVAL periods to at most one period before
 * `after`. Every BY* default that rrule takes from DTSTART (time of day, weekday, day of month,
 * month) is unchanged by such a move, and the periods keep their phase, so the occurrences from
 * `after` on are the same; rrule just has fewer periods to walk (a MINUTELY rule from 2020 would
 * otherwise walk millions). Not done with COUNT (the count starts at DTSTART), nor for monthly
 * and yearly rules whose DTSTART day does not exist in every month or year.
 */
function rebase(rule: Rule, after: number): number {
  const { options, dtstart } = rule;
  if (after <= dtstart || options.count != null) return dtstart;
  const interval = options.interval ?? 1;
  const freq = options.freq as number;
  const period = FIXED_PERIOD[freq];
  if (period !== undefined) {
    const step = period * interval;
    const k = Math.floor((after - dtstart) / step) - 1;
    return k > 0 ? dtstart + k * step : dtstart;
  }
  const date = new Date(dtstart);
  if (date.getUTCDate() > 28) return dtstart;
  const monthsPerStep = (freq === RRule.YEARLY ? 12 : 1) * interval;
  const afterDate = new Date(after);
  const months = (afterDate.getUTCFullYear() - date.getUTCFullYear()) * 12 + (afterDate.getUTCMonth() - date.getUTCMonth());
  const k = Math.floor(months / monthsPerStep) - 1;
  if (k <= 0) return dtstart;
  date.setUTCMonth(date.getUTCMonth() + k * monthsPerStep);
  return date.getTime();
}
