/**
 * The url-backend address policy (common/model/gateway/address.ts) at connect time: a DNS `lookup` for
 * undici's connector, the WebSocket dialler and the health prober that refuses a name resolving to a
 * refused address (a pod, a Service, loopback, metadata...) before any socket is opened, so nothing
 * is sent. The name is resolved once per connection and the checked address is the one dialled: a
 * name that changes its answer later (DNS rebinding) is judged again on the next connection.
 * Address literals never reach a lookup: the table refused them when it compiled the route.
 */
import {
  lookup as dnsLookup,
  type LookupAddress,
  type LookupAllOptions,
  type LookupOneOptions,
} from "node:dns";
import type { LookupFunction } from "node:net";
import type { UrlPolicy } from "../../common/model/gateway/address.ts";

/** The error a refused resolution ends in; `serve.ts` answers it with 403, never retried. */
export class AddressRefused extends Error {
  readonly code = "EPORTICO_ADDRESS_REFUSED";
  readonly hostname: string;
  readonly reason: string;
  constructor(hostname: string, reason: string) {
    super(`${hostname} resolves to a refused address: ${reason}`);
    this.hostname = hostname;
    this.reason = reason;
  }
}

type Resolve = (
  hostname: string,
  options: LookupAllOptions,
  cb: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const defaultResolve: Resolve = (h, o, cb) => dnsLookup(h, o, cb);

/**
 * A `lookup` that resolves every address of `hostname` and fails with AddressRefused when any of
 * them is refused (one bad answer is enough: the connector could pick it).
 */
export function guardedLookup(policy: UrlPolicy, resolve: Resolve = defaultResolve): LookupFunction {
  return ((hostname: string, options: LookupOneOptions | LookupAllOptions, callback: unknown) => {
    const cb = callback as (err: Error | null, address: string | LookupAddress[], family?: number) => void;
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return cb(err, "", 0);
      for (const a of addresses) {
        const why = policy.checkAddress(a.address, hostname);
        if (why) return cb(new AddressRefused(hostname, why), "", 0);
      }
      if ((options as LookupAllOptions).all) return cb(null, addresses);
      const first = addresses[0];
      if (!first)
        return cb(Object.assign(new Error(`${hostname}: no address`), { code: "ENOTFOUND" }), "", 0);
      cb(null, first.address, first.family);
    });
  }) as LookupFunction;
}

/** Whether an error (possibly wrapped by undici or `ws`) is a refused resolution. */
export function refusedAddress(err: unknown): AddressRefused | undefined {
  for (
    let e = err as { cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as never, depth++
  ) {
    if (e instanceof AddressRefused) return e;
    if (e instanceof AggregateError) {
      const inner = e.errors.find((x) => x instanceof AddressRefused) as AddressRefused | undefined;
      if (inner) return inner;
    }
  }
  return undefined;
}
