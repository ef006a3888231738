/**
 * Where the API puts a user's workspaces and what it names them. Pure and deterministic: the same
 * user and repository always give the same namespace and name, so two replicas (or a retried call)
 * that provision at once meet at one object instead of making two.
 */
import { randomBytes } from "node:crypto";
import { MAX_LABEL, labelSafe, shortHash, slugify } from "../../common/model/workspace/names.ts";

/** The `{user}` placeholder of a namespace template (`ws-{user}`). */
export const USER_PLACEHOLDER = "{user}";

/**
 * The namespace of `user`'s workspaces: `template` itself when it has no `{user}`, else the template
 * with the user name made a DNS label (`Alice.Smith@x` → `ws-alice-smith-x-1a2b3c4d`: cleaned names
 * carry a hash of the exact name, so two users never share a namespace).
 */
export function namespaceFor(template: string, user: string): string {
  if (!template.includes(USER_PLACEHOLDER)) return template;
  const room = MAX_LABEL - (template.length - USER_PLACEHOLDER.length);
  let label = labelSafe(user);
  if (label.length > room) {
    const hash = shortHash(user);
    const slug = slugify(user)
      .slice(0, Math.max(0, room - hash.length - 1))
      .replace(/-+$/, "");
    label = slug ? `${slug}-${hash}` : hash;
  }
  return template.replace(USER_PLACEHOLDER, label);
}

/**
 * Longest workspace name the API makes or accepts: host routing puts `{name}--{namespace}` in one DNS
 * label, and the children are `ws-{name}`; 40 leaves the namespace room.
 */
export const MAX_API_NAME = 40;

/** A DNS-1035 label of at most MAX_API_NAME characters. */
export const API_NAME = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;

/** A fresh name for a workspace of `className`: `{class}-{5 random}`. */
export function generatedName(
  className: string,
  random: () => string = () => randomBytes(4).toString("hex"),
): string {
  const base = slugify(className).replace(/^[^a-z]+/, "") || "ws";
  return `${base.slice(0, MAX_API_NAME - 6).replace(/-+$/, "")}-${random().slice(0, 5)}`;
}

/**
 * The name of `user`'s workspace for `repoOwner/repoName`: the repository's name and a hash of all
 * three, so it is the same on every call and differs for every user and repository.
 */
export function provisionName(user: string, repoOwner: string, repoName: string): string {
  const hash = shortHash(`${user}\u0000${repoOwner}\u0000${repoName}`);
  const slug = slugify(repoName).replace(/^[^a-z]+/, "");
  const room = MAX_API_NAME - hash.length - 1;
  const head = slug.slice(0, room).replace(/-+$/, "");
  return head ? `${head}-${hash}` : `r-${hash}`;
}

/** `{base}/{owner}/{repo}.git`. */
export const cloneUrl = (base: string, repoOwner: string, repoName: string): string =>
  `${base}/${repoOwner}/${repoName}.git`;

/** The request id a sync carries: when it was asked for, and a nonce so two asks never collide. */
export function syncRequestId(
  now: Date,
  random: () => string = () => randomBytes(3).toString("hex"),
): string {
  return `${now.toISOString().replace(/\.\d+Z$/, "Z")}-${random()}`;
}
