/**
 * `portico-proxy session-keys`: makes the Secret holding the proxy's session keys once, and never
 * replaces it. The chart runs it as a pre-install/pre-upgrade hook Job when the keys are neither a
 * value nor a Secret of the user's own, so `helm template` (Argo CD) renders no random bytes and a
 * sync never logs anyone out.
 *
 * Invariants:
 * - A Secret that exists is never overwritten: with usable keys it is kept as it is; without them
 *   the command fails and says what to do (the user's keys are theirs to fix).
 * - Creation is one `create` call: when two runs race, the API server's AlreadyExists decides, and
 *   the loser keeps what the winner made.
 * - The keys are never logged.
 *
 * The decision is the pure `planSessionKeys`; the API calls sit behind `SecretStore`.
 */
import { randomBytes } from "node:crypto";
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1Secret } from "@kubernetes/client-node";
import { SessionCodec } from "./session.ts";

/** What the command needs of a Secret. */
export interface SecretLike {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  data?: Record<string, string>;
}

/** The Secret calls the command makes (client-node behind it; a map in unit tests). */
export interface SecretStore {
  get(namespace: string, name: string): Promise<SecretLike | undefined>;
  /** Creates the Secret; "exists" when one of that name is already there (nothing is written then). */
  create(namespace: string, secret: SecretLike): Promise<"created" | "exists">;
  /** Merges annotations into the Secret's metadata. */
  annotate(namespace: string, name: string, annotations: Record<string, string>): Promise<void>;
}

export interface SessionKeysOptions {
  namespace: string;
  secret: string;
  /** The key of the JWKS in the Secret's data. */
  key: string;
  /** Labels on a Secret the command makes (the chart passes its own). */
  labels: Readonly<Record<string, string>>;
}

/** Helm's annotation that keeps an object when a release stops rendering it. */
export const HELM_KEEP = "helm.sh/resource-policy";
const HELM_RELEASE = "meta.helm.sh/release-name";

/** A fresh JWKS with one 256-bit A256GCM key, in the form SessionCodec reads. */
export function generateJwks(random: (n: number) => Buffer = randomBytes): { keys: object[] } {
  return {
    keys: [
      {
        kty: "oct",
        kid: `portico-${random(6).toString("hex")}`,
        alg: "A256GCM",
        use: "enc",
        k: random(32).toString("base64url"),
      },
    ],
  };
}

/** Why keys in a Secret cannot be used, or undefined when they can. */
export async function unusableKeys(secret: SecretLike, key: string): Promise<string | undefined> {
  const raw = secret.data?.[key];
  if (!raw) return `it has no key ${JSON.stringify(key)}`;
  try {
    await SessionCodec.create(JSON.parse(Buffer.from(raw, "base64").toString("utf8")));
    return undefined;
  } catch (err) {
    // The reason only (SessionCodec's messages name no key material).
    return `its ${JSON.stringify(key)} is not a usable JWKS (${err instanceof SyntaxError ? "not JSON" : (err as Error).message})`;
  }
}

/** What to do about the Secret as found. */
export type Plan =
  | { action: "create" }
  | { action: "keep" }
  /** Made by the chart's old `lookup` template: keep, and tell Helm not to delete it on upgrade. */
  | { action: "adopt" }
  | { action: "refuse"; reason: string };

/** Pure: the action for `existing` (undefined: no such Secret). */
export async function planSessionKeys(existing: SecretLike | undefined, key: string): Promise<Plan> {
  if (!existing) return { action: "create" };
  const why = await unusableKeys(existing, key);
  if (why) return { action: "refuse", reason: why };
  const a = existing.metadata?.annotations ?? {};
  if (a[HELM_RELEASE] && a[HELM_KEEP] !== "keep") return { action: "adopt" };
  return { action: "keep" };
}

/** The Secret the command creates. */
export function newSecret(o: SessionKeysOptions, jwks: object): SecretLike {
  return {
    metadata: { name: o.secret, namespace: o.namespace, labels: { ...o.labels } },
    data: { [o.key]: Buffer.from(JSON.stringify(jwks)).toString("base64") },
  };
}

export interface Outcome {
  /** created, kept (as found), adopted (kept, marked for Helm to keep) or refused. */
  result: "created" | "kept" | "adopted" | "refused";
  message: string;
}

/** Makes the Secret if absent; never replaces one. */
export async function ensureSessionKeys(store: SecretStore, o: SessionKeysOptions): Promise<Outcome> {
  const ref = `Secret ${o.namespace}/${o.secret}`;
  for (let attempt = 0; ; attempt++) {
    const plan = await planSessionKeys(await store.get(o.namespace, o.secret), o.key);
    switch (plan.action) {
      case "keep":
        return { result: "kept", message: `${ref} has session keys: kept as they are` };
      case "adopt":
        await store.annotate(o.namespace, o.secret, { [HELM_KEEP]: "keep" });
        return {
          result: "adopted",
          message: `${ref} (made by an older chart) has session keys: kept, and marked ${HELM_KEEP}=keep so upgrades leave it`,
        };
      case "refuse":
        return {
          result: "refused",
          message:
            `${ref} exists but ${plan.reason}; it is left as it is. Put a JWKS of 256-bit oct keys ` +
            `under ${JSON.stringify(o.key)}, or delete the Secret to have new keys made (that logs every user out)`,
        };
      case "create":
        if ((await store.create(o.namespace, newSecret(o, generateJwks()))) === "created")
          return { result: "created", message: `${ref} created with new session keys` };
        // Someone made it between our get and create: judge what they made.
        if (attempt > 0) throw new Error(`${ref}: created and gone again while deciding; run again`);
    }
  }
}

/** `SecretStore` over client-node's CoreV1Api. */
export function kubeSecretStore(core: CoreV1Api): SecretStore {
  const code = (err: unknown) => (err as { code?: number }).code;
  return {
    async get(namespace, name) {
      try {
        return (await core.readNamespacedSecret({ namespace, name })) as SecretLike;
      } catch (err) {
        if (code(err) === 404) return undefined;
        throw err;
      }
    },
    async create(namespace, secret) {
      try {
        await core.createNamespacedSecret({ namespace, body: { ...secret, type: "Opaque" } as V1Secret });
        return "created";
      } catch (err) {
        if (code(err) === 409) return "exists";
        throw err;
      }
    },
    async annotate(namespace, name, annotations) {
      await core.patchNamespacedSecret(
        { namespace, name, body: { metadata: { annotations } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    },
  };
}
