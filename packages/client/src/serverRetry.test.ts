import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './serverRetry.js';

describe('backoffDelayMs', () => {
  it('draws up to 250 ms × 2^attempt, capped at 5 s, and never under 50 ms', () => {
    const attempts = [0, 1, 2, 3, 4, 5, 6, 50, 2000];
    const highest = () => 1 - Number.EPSILON;
    expect(attempts.map((attempt) => Math.round(backoffDelayMs(attempt, highest)))).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
    expect(attempts.map((attempt) => backoffDelayMs(attempt, () => 0.5))).toEqual([125, 250, 500, 1000, 2000, 2500, 2500, 2500, 2500]);
    expect(attempts.map((attempt) => backoffDelayMs(attempt, () => 0))).toEqual(attempts.map(() => 50));
  });

  it('spreads its waits over the whole range by default (full jitter)', () => {
    const draws = Array.from({ length: 2000 }, () => backoffDelayMs(3));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(50);
    expect(Math.max(...draws)).toBeLessThan(2000);
    // Uniform over [0, 2000): each quarter gets about 500 of the 2000 draws.
    const quarters = [0, 1, 2, 3].map((q) => draws.filter((d) => d >= q * 500 && d < (q + 1) * 500).length);
    for (const count of quarters) expect(count).toBeGreaterThan(380);
  });
});
