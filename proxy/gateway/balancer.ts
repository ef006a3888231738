/**
 * Load balancing for GatewayRoute rules: one `Balancer` per rule, picking among the endpoints that are
 * healthy right now. Pure apart from the small state each strategy keeps (a round-robin cursor, smooth
 * weighted round-robin's current weights); no timers, no I/O, so every property is testable directly.
 *
 * Rules shared by every strategy:
 *   - weight 0 sends nothing ("0 sends none", crd-reference) unless every endpoint has weight 0;
 *   - endpoints in `ctx.exclude` (already tried by this request) are skipped while another remains;
 *   - the list may change between calls: state is keyed by endpoint id, never by position alone.
 */
import type { LoadBalancerStrategy } from "../../crds/types.ts";
import type { Balancer, Endpoint, PickContext } from "../../common/model/gateway/model.ts";

/** Open requests to an endpoint right now (LeastConnections). */
export type Inflight = (endpointId: string) => number;

/**
 * The balancer for a rule's `loadBalancer.strategy` (RoundRobin when absent). `pick` takes the list as
 * a snapshot: pass a new array when endpoints change rather than changing one in place.
 */
export function createBalancer(strategy: LoadBalancerStrategy | undefined, inflight: Inflight): Balancer {
  switch (strategy ?? "RoundRobin") {
    case "RoundRobin":
      return new RoundRobin();
    case "WeightedRoundRobin":
      return new SmoothWeighted();
    case "LeastConnections":
      return new LeastConnections(inflight);
    case "IPHash":
      return new Rendezvous((ctx) => ctx.clientIp);
    case "ConsistentHash":
      return new Rendezvous((ctx) => ctx.hashKey ?? ctx.clientIp);
  }
}

/** An endpoint's weight as the strategies use it: finite and not negative. */
const weightOf = (e: Endpoint): number => (Number.isFinite(e.weight) && e.weight > 0 ? e.weight : 0);

/**
 * The endpoints a pick may choose from: the ones with weight above 0 (all of them when none has), then
 * those not yet tried by this request (all of the former when every one was tried). Undefined when
 * `endpoints` is empty. `weighted` says whether weights still matter (false when every one was 0).
 */
export function candidates(
  endpoints: readonly Endpoint[],
  exclude: ReadonlySet<string> | undefined,
): { list: readonly Endpoint[]; weighted: boolean } | undefined {
  if (endpoints.length === 0) return undefined;
  const positive = endpoints.filter((e) => weightOf(e) > 0);
  const pool = positive.length > 0 ? positive : endpoints;
  const fresh = exclude && exclude.size > 0 ? pool.filter((e) => !exclude.has(e.id)) : pool;
  return { list: fresh.length > 0 ? fresh : pool, weighted: positive.length > 0 };
}

/**
 * A cursor over an endpoint list that changes under it. It remembers the list of the last turn and
 * where in it the turn was: the next turn is the endpoint after that one in the current list, or — when
 * it left — the first endpoint after it in the old list that is still there, so a change neither skips
 * nor repeats anyone.
 */
class Cursor {
  #prev: readonly Endpoint[] = [];
  #lastIndex = -1;

  /** Index in `list` where the next turn starts. */
  start(list: readonly Endpoint[]): number {
    const prev = this.#prev;
    if (list === prev) return (this.#lastIndex + 1) % list.length;
    const last = prev[this.#lastIndex];
    if (!last) return 0;
    const at = new Map(list.map((e, i) => [e.id, i]));
    const same = at.get(last.id);
    if (same !== undefined) return (same + 1) % list.length;
    for (let k = 1; k < prev.length; k++) {
      const i = at.get(prev[(this.#lastIndex + k) % prev.length]!.id);
      if (i !== undefined) return i;
    }
    return 0;
  }

  /** Records that `list[i]` was taken. */
  took(list: readonly Endpoint[], i: number): void {
    this.#prev = list;
    this.#lastIndex = i;
  }

  /** The first endpoint of `list`, from the cursor on, that `ok` accepts (and moves past it). */
  next(list: readonly Endpoint[], ok: (e: Endpoint) => boolean): Endpoint | undefined {
    const from = this.start(list);
    for (let k = 0; k < list.length; k++) {
      const i = (from + k) % list.length;
      if (ok(list[i]!)) {
        this.took(list, i);
        return list[i];
      }
    }
    return undefined;
  }
}

/** Endpoints in turn, in list order; weights only decide who is in the pool (weight 0 is not). */
class RoundRobin implements Balancer {
  readonly #cursor = new Cursor();

  pick(endpoints: readonly Endpoint[], ctx: PickContext): Endpoint | undefined {
    const c = candidates(endpoints, ctx.exclude);
    if (!c) return undefined;
    const allowed = new Set(c.list);
    // The cursor walks the whole list so its position means the same from one pick to the next,
    // whatever this request excluded.
    return this.#cursor.next(endpoints, (e) => allowed.has(e));
  }
}

/**
 * Weights are scaled to integers so the arithmetic is exact (no drift over millions of picks). Smooth
 * weighted round-robin is scale-invariant, so the sequence is the one the real-valued weights give. An
 * endpoint's weight is a backend weight (an integer) divided by the backend's endpoint count; the
 * scale, 1000 × lcm(1..16), divides evenly for up to 16 endpoints per backend (and for many counts
 * beyond), and keeps sums far below 2^53.
 */
const WEIGHT_SCALE = 720_720_000;
const scaled = (w: number): number => Math.max(1, Math.round(w * WEIGHT_SCALE));

/**
 * nginx's smooth weighted round-robin: each pick adds every candidate's weight to its current weight,
 * takes the highest (the first on a tie) and subtracts the total from it. Over any `sum(weights)` picks
 * each endpoint gets exactly its weight's share, interleaved rather than in bursts.
 */
class SmoothWeighted implements Balancer {
  readonly #current = new Map<string, number>();

  pick(endpoints: readonly Endpoint[], ctx: PickContext): Endpoint | undefined {
    const c = candidates(endpoints, ctx.exclude);
    if (!c) return undefined;
    // Forget endpoints that left, so one coming back later starts afresh.
    if (this.#current.size > endpoints.length) {
      const ids = new Set(endpoints.map((e) => e.id));
      for (const id of this.#current.keys()) if (!ids.has(id)) this.#current.delete(id);
    }
    let total = 0;
    let best: Endpoint | undefined;
    let bestCurrent = -Infinity;
    for (const e of c.list) {
      const w = c.weighted ? scaled(weightOf(e)) : 1;
      const cur = (this.#current.get(e.id) ?? 0) + w;
      this.#current.set(e.id, cur);
      total += w;
      if (cur > bestCurrent) {
        best = e;
        bestCurrent = cur;
      }
    }
    this.#current.set(best!.id, bestCurrent - total);
    return best;
  }
}

/** The endpoint with the fewest open requests per unit of weight; ties go round-robin. */
class LeastConnections implements Balancer {
  readonly #cursor = new Cursor();
  readonly #inflight: Inflight;

  constructor(inflight: Inflight) {
    this.#inflight = inflight;
  }

  pick(endpoints: readonly Endpoint[], ctx: PickContext): Endpoint | undefined {
    const c = candidates(endpoints, ctx.exclude);
    if (!c) return undefined;
    const load = new Map<Endpoint, number>();
    let min = Infinity;
    for (const e of c.list) {
      const l = this.#inflight(e.id) / (c.weighted ? weightOf(e) : 1);
      load.set(e, l);
      if (l < min) min = l;
    }
    // Loads computed along different float paths may differ in the last bits; treat those as ties.
    const tie = min + Math.abs(min) * 1e-9;
    return this.#cursor.next(endpoints, (e) => {
      const l = load.get(e);
      return l !== undefined && l <= tie;
    });
  }
}

/**
 * Weighted rendezvous hashing (highest random weight): every endpoint scores `-weight / ln(h)` with
 * `h` uniform in (0,1) from a hash of key and endpoint id; the highest score wins. The same key lands
 * on the same endpoint while it stays; when one leaves only its keys move (every other endpoint's
 * score is unchanged), and they come back when it returns; a key's share of endpoints follows weight.
 * A retry with the winner excluded gets the key's second choice, just as stable.
 */
class Rendezvous implements Balancer {
  readonly #key: (ctx: PickContext) => string;

  constructor(key: (ctx: PickContext) => string) {
    this.#key = key;
  }

  pick(endpoints: readonly Endpoint[], ctx: PickContext): Endpoint | undefined {
    const c = candidates(endpoints, ctx.exclude);
    if (!c) return undefined;
    const seed = hashPrefix(this.#key(ctx));
    let best: Endpoint | undefined;
    let bestScore = -Infinity;
    for (const e of c.list) {
      const score = -(c.weighted ? weightOf(e) : 1) / Math.log(unitHash(seed, e.id));
      // Ties (practically never with 53 bits) go to the lower id so the answer does not depend on order.
      if (score > bestScore || (score === bestScore && best !== undefined && e.id < best.id)) {
        best = e;
        bestScore = score;
      }
    }
    return best;
  }
}

/** The hash state after the key and a separator; each endpoint id continues from it. */
type HashState = readonly [number, number];

/** Feeds `s` into the two 32-bit lanes of a cyrb53-style hash (bryc, public domain). */
function feed(h1: number, h2: number, s: string): [number, number] {
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  return [h1, h2];
}

/** Hashes the key once per pick; the separator keeps `"ab" + "c"` apart from `"a" + "bc"`. */
export function hashPrefix(key: string): HashState {
  return feed(0xdeadbeef, 0x41c6ce57, `${key}\u0000`);
}

/**
 * A uniform number in (0,1), never 0 or 1, from the hash of key and endpoint id: 53 well-mixed bits
 * (cyrb53's finaliser), so `ln(h)` is finite and below 0.
 */
export function unitHash(seed: HashState, id: string): number {
  let [h1, h2] = feed(seed[0], seed[1], id);
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const bits = 4294967296 * (2097151 & h2) + (h1 >>> 0);
  return (bits + 0.5) / 2 ** 53;
}
