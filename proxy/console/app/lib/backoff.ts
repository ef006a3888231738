/**
 * Reconnect delays: from RECONNECT_FIRST_MS, doubling per failed attempt, capped at
 * RECONNECT_MAX_MS, with "equal jitter" (half fixed, half random) so that the tabs a proxy restart
 * dropped do not all come back in the same instant. Pure: the random source is passed in.
 */
import { RECONNECT_FIRST_MS, RECONNECT_MAX_MS } from "../../protocol.ts";

/** The delay before reconnect attempt `attempt` (0 = the first retry), `random` in [0, 1). */
export function backoffDelay(
  attempt: number,
  random: number,
  first = RECONNECT_FIRST_MS,
  max = RECONNECT_MAX_MS,
): number {
  const exp = Math.min(max, first * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(exp / 2 + (exp / 2) * Math.min(Math.max(random, 0), 1));
}
