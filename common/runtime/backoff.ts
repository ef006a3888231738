/**
 * Capped exponential backoff, shared by the work queue (failed reconciles) and the watched cache
 * (watch restarts), so both back off the same way.
 */

/**
 * Delay before retry number `failures` (1 = first failure): `min(maxMs, baseMs * 2^(failures-1))`.
 * With `jitter` in [0, 1] the delay is reduced by up to that fraction (`random()` in [0, 1)), so
 * retries of many keys spread out but never exceed the cap. Jitter is off (0) by default.
 */
export function backoffDelayMs(
  failures: number,
  baseMs: number,
  maxMs: number,
  jitter = 0,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(failures));
  // 2^(n-1) overflows to Infinity for large n; Math.min then picks the cap, which is what we want.
  const capped = Math.min(maxMs, baseMs * 2 ** (n - 1));
  if (jitter <= 0) return capped;
  return Math.round(capped * (1 - Math.min(1, jitter) * random()));
}
