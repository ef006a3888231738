/**
 * Pod IP allocation for the runner's node: addresses from a range, one per pod key, reused after
 * release. Pure bookkeeping, no I/O.
 */

export function ipToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`not an IPv4 address: ${ip}`);
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Addresses from `first` to `last` inclusive, handed out lowest free first. */
export class IpPool {
  private readonly first: number;
  private readonly last: number;
  private readonly byKey = new Map<string, number>();
  private readonly used = new Set<number>();

  constructor(first: string, last: string) {
    this.first = ipToInt(first);
    this.last = ipToInt(last);
    if (this.last < this.first) throw new Error(`empty range ${first}-${last}`);
  }

  /** Records an address already in use (a pod that kept its IP across a runner restart). */
  reserve(key: string, ip: string): void {
    const n = ipToInt(ip);
    this.byKey.set(key, n);
    this.used.add(n);
  }

  /** The key's address: the one it has, or the lowest free one. Throws when the range is full. */
  allocate(key: string): string {
    const had = this.byKey.get(key);
    if (had !== undefined) return intToIp(had);
    for (let n = this.first; n <= this.last; n++) {
      if (this.used.has(n)) continue;
      this.used.add(n);
      this.byKey.set(key, n);
      return intToIp(n);
    }
    throw new Error("pod IP range exhausted");
  }

  release(key: string): void {
    const n = this.byKey.get(key);
    if (n === undefined) return;
    this.byKey.delete(key);
    this.used.delete(n);
  }
}
