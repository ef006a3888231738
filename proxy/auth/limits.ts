/**
 * Abuse limits on the data path: a token bucket per key (user, client IP) and a count of open
 * connections per key. Non-blocking: a caller over its limit is told how long to wait (429 with
 * Retry-After), never queued. Memory is bounded: idle keys (a full bucket, no open connection) are
 * forgotten, oldest first, once there are more than `maxKeys`.
 */

export interface BucketOptions {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size: how many requests may arrive at once. */
  burst: number;
  maxKeys: number;
  now?: () => number;
}

export type Verdict = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  last: number;
}

export class KeyedBuckets {
  readonly #o: Required<BucketOptions>;
  /** Insertion order = least recently used first (a key is re-inserted when used). */
  readonly #buckets = new Map<string, Bucket>();

  constructor(o: BucketOptions) {
    this.#o = { now: () => performance.now(), ...o };
  }

  /** Takes one token from `key`'s bucket, or says how long until one is there. */
  take(key: string): Verdict {
    const now = this.#o.now();
    const b = this.#buckets.get(key) ?? { tokens: this.#o.burst, last: now };
    this.#buckets.delete(key);
    b.tokens = Math.min(this.#o.burst, b.tokens + ((now - b.last) / 1000) * this.#o.ratePerSecond);
    b.last = now;
    this.#buckets.set(key, b);
    if (this.#buckets.size > this.#o.maxKeys) this.#evict();
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / this.#o.ratePerSecond)) };
  }

  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Drops the least recently used keys. A forgotten key starts again with a full bucket: a client
   * cycling through more keys than `maxKeys` gains a burst per key, but memory stays bounded.
   */
  #evict(): void {
    for (const k of this.#buckets.keys()) {
      if (this.#buckets.size <= this.#o.maxKeys) return;
      this.#buckets.delete(k);
    }
  }
}

/** Open connections (WebSockets, status streams, requests in flight) per key, with a ceiling. */
export class ConnectionCounts {
  readonly #max: number;
  readonly #open = new Map<string, number>();

  constructor(maxPerKey: number) {
    this.#max = maxPerKey;
  }

  /** Counts one more for `key` and returns its release, or undefined when `key` is at the ceiling. */
  acquire(key: string): (() => void) | undefined {
    const n = this.#open.get(key) ?? 0;
    if (n >= this.#max) return undefined;
    this.#open.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left <= 0) this.#open.delete(key);
      else this.#open.set(key, left);
    };
  }

  open(key: string): number {
    return this.#open.get(key) ?? 0;
  }
}
