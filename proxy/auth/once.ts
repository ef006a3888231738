/**
 * Values that may be used once: the `state` of each login, so a callback URL works once. Kept in
 * memory for as long as the value could still be presented (the login cookie's 10 minutes), then
 * forgotten; bounded, oldest out first.
 *
 * Per process. Across replicas the same callback is still refused, by the provider: an
 * authorization code is single-use (RFC 6749 4.1.2), so a second exchange fails there.
 */
export class UsedOnce {
  /** Digest or value → until when it is remembered (ms); insertion order = oldest first. */
  readonly #used = new Map<string, number>();
  readonly #maxKeys: number;
  readonly #now: () => number;

  constructor(o: { maxKeys: number; now?: () => number }) {
    this.#maxKeys = o.maxKeys;
    this.#now = o.now ?? Date.now;
  }

  /** True the first time `key` is used before `until`; false when it was used already. */
  use(key: string, until: number): boolean {
    const now = this.#now();
    const seen = this.#used.get(key);
    if (seen !== undefined && seen > now) return false;
    this.#used.delete(key);
    this.#used.set(key, until);
    // Oldest first: entries live about as long as each other, so the oldest expire first anyway.
    for (const k of this.#used.keys()) {
      if (this.#used.size <= this.#maxKeys) break;
      this.#used.delete(k);
    }
    return true;
  }

  get size(): number {
    return this.#used.size;
  }
}
