/**
 * Pure builders of a Workspace's children: its home claim, the Pod (with the git-clone init container),
 * the Service, the NetworkPolicy and the optional Istio VirtualService. Input is the Workspace, its
 * WorkspaceClass and the BuilderConfig; nothing here reads the environment, the clock or the network.
 * Each builder returns a complete object (apiVersion, kind, metadata.namespace) the reconciler can
 * create as it is, or compare field by field with what it observed.
 */
import { IDE_CONTAINER } from "../../common/model/workspace/names.ts";
import { createHash } from "node:crypto";
import type {
  V1Affinity,
  V1Container,
  V1EnvVar,
  V1NetworkPolicy,
  V1ObjectMeta,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodSecurityContext,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Service,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import {
  API_VERSION,
  WORKSPACE,
  type GitProtocol,
  type ResourceRequirements,
  type Workspace,
  type WorkspaceClass,
} from "../../crds/types.ts";
import type { BuilderConfig } from "../config.ts";
import {
  CHILD_SELECTOR,
  CLAIM_LABEL,
  OWNER_ANNOTATION,
  OWNER_LABEL,
  PORT_NAME,
  SERVICE_PORT,
  WORKSPACE_LABEL,
  childAnnotations,
  childLabels,
  childNames,
  ownerSlug,
  pvcName,
  requiredName,
  requiredNamespace,
  workspaceLabelValue,
} from "../../common/model/workspace/names.ts";
import { workspaceEgressRules } from "./egress.ts";
import { compareQuantities } from "../../common/model/quantity.ts";

export { compareQuantities, parseQuantity } from "../../common/model/quantity.ts";
import { basePath, fillPrefix, readinessPath, workspaceHost } from "../../common/model/workspace/template.ts";

/** Annotation on the pod: hash of the spec it was built with (see `podSpecHash`). */
export const POD_SPEC_HASH_ANNOTATION = "portico.dev/pod-spec-hash";
/** Name of the IDE container. */
export { IDE_CONTAINER };
/** Name of the first git init container: fetches the repository; the only one holding its Secret. */
export const GIT_CONTAINER = "git-clone";
/** Name of the second git init container: checks out what the first fetched, without the Secret. */
export const GIT_CHECKOUT_CONTAINER = "git-checkout";
/** Name of the pod volume (emptyDir) the two git steps share; no other container mounts it. */
export const GIT_WORK_VOLUME = "git-work";
/** Where the git work volume is mounted in both git containers. */
export const GIT_WORK_MOUNT = "/var/portico/git";
/** Protocols git may speak when a class does not say (`spec.git.allowedProtocols`). */
export const DEFAULT_GIT_PROTOCOLS: readonly GitProtocol[] = Object.freeze(["https", "ssh"]);
/** Name of the pod volume backed by the home claim. */
export const HOME_VOLUME = "home";
/** Name of the pod volume holding the ssh key (ssh repositories with a secretRef only). */
export const GIT_SECRET_VOLUME = "git-secret";
/** Where the ssh key volume is mounted in the git-clone container. */
export const GIT_SECRET_MOUNT = "/etc/portico/git-secret";
/** Mount path of the home volume when the class does not say. */
export const DEFAULT_MOUNT_PATH = "/home/coder";
/** User and group every workspace container runs as; the volume is group-owned by it. */
export const WORKSPACE_UID = 1000;
/** Environment variables the operator sets on the IDE container; a class's entries with these names are dropped. */
export const RESERVED_ENV = [
  "PORTICO_WORKSPACE",
  "PORTICO_OWNER",
  "PORTICO_BASE_PATH",
  "PORTICO_KEEP_ALIVE_URL",
] as const;

/** Istio's VirtualService, as far as the operator writes it. */
export interface VirtualService {
  apiVersion: "networking.istio.io/v1";
  kind: "VirtualService";
  metadata: V1ObjectMeta;
  spec: {
    hosts: string[];
    gateways?: string[];
    http: {
      name: string;
      match?: { uri: { prefix: string } | { exact: string } }[];
      route: { destination: { host: string; port: { number: number } } }[];
      timeout: string;
    }[];
  };
}

/** All children of one workspace. */
export interface WorkspaceChildObjects {
  pvc: V1PersistentVolumeClaim;
  pod: V1Pod;
  service: V1Service;
  networkPolicy: V1NetworkPolicy;
  virtualService?: VirtualService;
}

/**
 * Builds every child of `ws`. The pod is built even when `spec.running` is false: whether it should
 * exist is the reconciler's decision. `opts.virtualService`: whether Istio routes are wanted.
 */
export function buildChildren(
  ws: Workspace,
  cls: WorkspaceClass,
  config: BuilderConfig,
  opts: { virtualService: boolean },
): WorkspaceChildObjects {
  const children: WorkspaceChildObjects = {
    pvc: buildPvc(ws, cls, config),
    pod: buildPod(ws, cls, config),
    service: buildService(ws),
    networkPolicy: buildNetworkPolicy(ws, cls, config),
  };
  if (opts.virtualService) children.virtualService = buildVirtualService(ws, config);
  return children;
}

// ---------------------------------------------------------------------------------------------------------
// Owner references

/** An owner reference to `ws`. `controller: false` for claims shared by several workspaces. */
export function workspaceOwnerRef(ws: Workspace, controller = true): V1OwnerReference {
  const uid = ws.metadata.uid;
  if (!uid)
    throw new Error(
      `Workspace ${requiredName(ws)} has no metadata.uid (build from an object read back from the API)`,
    );
  return {
    apiVersion: API_VERSION,
    kind: WORKSPACE.kind,
    name: requiredName(ws),
    uid,
    controller,
    blockOwnerDeletion: true,
  };
}

/**
 * `existing` plus the references in `ours` whose uid is not there yet, in order. For claims shared by a
 * user's workspaces: each one adds itself, and garbage collection deletes the claim once all are gone.
 */
export function mergeOwnerRefs(
  existing: readonly V1OwnerReference[] | undefined,
  ours: readonly V1OwnerReference[] | undefined,
): V1OwnerReference[] {
  const out = [...(existing ?? [])];
  for (const ref of ours ?? []) if (!out.some((r) => r.uid === ref.uid)) out.push(ref);
  return out;
}

/**
 * The claim's owner references: with `reclaimPolicy: Delete`, the workspace (controller for its own
 * claim, a plain owner of a user's shared claim); with `Retain` (the default), none, so the claim
 * outlives the workspace.
 */
export function pvcOwnerRefs(ws: Workspace): V1OwnerReference[] {
  if (ws.spec.storage?.reclaimPolicy !== "Delete") return [];
  return [workspaceOwnerRef(ws, ws.spec.storage?.scope !== "user")];
}

// ---------------------------------------------------------------------------------------------------------
// PersistentVolumeClaim

/**
 * The home claim. Scope `workspace`: `ws-{name}-home` with the workspace's labels. Scope `user`:
 * `home-{owner}`, shared by all of the owner's workspaces in the namespace, so it carries the owner
 * label but no workspace label (it belongs to no single workspace and must not flap between them).
 */
export function buildPvc(ws: Workspace, cls: WorkspaceClass, config: BuilderConfig): V1PersistentVolumeClaim {
  const name = pvcName(ws);
  const shared = ws.spec.storage?.scope === "user";
  const size = ws.spec.storage?.size ?? cls.spec.storage?.size ?? config.defaultStorageSize;
  const storageClassName = ws.spec.storage?.storageClassName ?? cls.spec.storage?.storageClassName;
  const refs = pvcOwnerRefs(ws);
  const metadata: V1ObjectMeta = {
    name,
    namespace: requiredNamespace(ws),
    labels: shared
      ? { ...CHILD_SELECTOR, [OWNER_LABEL]: ownerSlug(ws.spec.owner), [CLAIM_LABEL]: name }
      : { ...childLabels(ws), [CLAIM_LABEL]: name },
    annotations: shared ? { [OWNER_ANNOTATION]: ws.spec.owner } : childAnnotations(ws),
  };
  if (refs.length) metadata.ownerReferences = refs;
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata,
    spec: {
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: String(size) } },
      ...(storageClassName ? { storageClassName } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Pod

/** Mount path of the home volume: the class's, default `/home/coder`. */
export function mountPath(cls: WorkspaceClass): string {
  return cls.spec.storage?.mountPath ?? DEFAULT_MOUNT_PATH;
}

/** The container security context: non-root, no privilege escalation, no capabilities, default seccomp. */
export function containerSecurityContext(): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: WORKSPACE_UID,
    runAsGroup: WORKSPACE_UID,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/**
 * The workspace pod, annotated with the hash of its spec. Scope `user`: a required pod affinity to
 * the other pods mounting the same claim, so they share a node (the claim is ReadWriteOnce).
 */
export function buildPod(ws: Workspace, cls: WorkspaceClass, config: BuilderConfig): V1Pod {
  const names = childNames(ws);
  const home: V1VolumeMount = { name: HOME_VOLUME, mountPath: mountPath(cls) };
  const volumes: V1Volume[] = [{ name: HOME_VOLUME, persistentVolumeClaim: { claimName: names.pvc } }];
  const resources = mergeResources(cls.spec.resources, ws.spec.resources);
  const clone = buildGitCloneContainer(ws, cls, config, resources);
  const checkout = buildGitCheckoutContainer(ws, cls, config, resources);
  const inits = clone && checkout ? [clone, checkout] : [];
  // The git steps' private scratch space: the fetched copy, an empty HOME, ssh's known hosts.
  if (inits.length) volumes.push({ name: GIT_WORK_VOLUME, emptyDir: {} });
  if (clone?.volumeMounts?.some((m) => m.name === GIT_SECRET_VOLUME)) volumes.push(gitSecretVolume(ws));
  const pod: V1Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: names.pod,
      namespace: requiredNamespace(ws),
      labels: { ...childLabels(ws), [CLAIM_LABEL]: names.pvc },
      annotations: { ...childAnnotations(ws) },
      ownerReferences: [workspaceOwnerRef(ws)],
    },
    spec: {
      restartPolicy: "Always",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: podSecurityContext(),
      ...(inits.length ? { initContainers: inits } : {}),
      containers: [buildIdeContainer(ws, cls, config, resources, home)],
      volumes,
      ...(ws.spec.storage?.scope === "user" ? { affinity: sharedClaimAffinity(names.pvc) } : {}),
    },
  };
  pod.metadata!.annotations![POD_SPEC_HASH_ANNOTATION] = podSpecHash(pod);
  return pod;
}

/** The ssh key and known hosts of the repository Secret, for the `git-clone` step over ssh. */
export function gitSecretVolume(ws: Workspace): V1Volume {
  return {
    name: GIT_SECRET_VOLUME,
    secret: {
      secretName: ws.spec.repository!.secretRef!.name,
      // Optional: a missing Secret shows as SecretNotFound in status rather than a pod stuck mounting.
      optional: true,
      defaultMode: 0o400,
      items: [
        { key: "ssh-privatekey", path: "ssh-privatekey" },
        { key: "known_hosts", path: "known_hosts" },
      ],
    },
  };
}

/** The pod security context of every pod mounting a home volume: non-root, the workspace's uid. */
export function podSecurityContext(): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: WORKSPACE_UID,
    runAsGroup: WORKSPACE_UID,
    fsGroup: WORKSPACE_UID,
    // Large homes start fast: the volume is re-owned only when its root is not ours yet.
    fsGroupChangePolicy: "OnRootMismatch",
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Pods mounting the same claim on one node; the first such pod matches itself, so it can schedule. */
export function sharedClaimAffinity(claim: string): V1Affinity {
  return {
    podAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: { [CLAIM_LABEL]: claim } }, topologyKey: "kubernetes.io/hostname" },
      ],
    },
  };
}

function buildIdeContainer(
  ws: Workspace,
  cls: WorkspaceClass,
  config: BuilderConfig,
  resources: V1ResourceRequirements | undefined,
  home: V1VolumeMount,
): V1Container {
  const prefix = basePath(ws, config);
  const reserved = new Set<string>(RESERVED_ENV);
  const env: V1EnvVar[] = (cls.spec.env ?? [])
    .filter((e) => !reserved.has(e.name))
    .map((e) =>
      e.value === undefined ? { name: e.name } : { name: e.name, value: fillPrefix(e.value, prefix) },
    );
  env.push(
    { name: "PORTICO_WORKSPACE", value: requiredName(ws) },
    { name: "PORTICO_OWNER", value: ws.spec.owner },
    { name: "PORTICO_BASE_PATH", value: prefix },
  );
  // Issue 15: the proxy's in-workspace keep-alive (`curl -X POST "$PORTICO_KEEP_ALIVE_URL?duration=3h"`).
  if (config.keepAliveUrl) env.push({ name: "PORTICO_KEEP_ALIVE_URL", value: config.keepAliveUrl });
  return {
    name: IDE_CONTAINER,
    image: ws.spec.image ?? cls.spec.image,
    ...(cls.spec.imagePullPolicy ? { imagePullPolicy: cls.spec.imagePullPolicy } : {}),
    ...(cls.spec.command ? { command: [...cls.spec.command] } : {}),
    ...(cls.spec.args ? { args: cls.spec.args.map((a) => fillPrefix(a, prefix)) } : {}),
    env,
    ports: [{ name: PORT_NAME, containerPort: cls.spec.port, protocol: "TCP" }],
    ...(resources ? { resources } : {}),
    readinessProbe: {
      httpGet: { path: readinessPath(cls, prefix), port: cls.spec.port },
      initialDelaySeconds: 1,
      periodSeconds: 2,
      timeoutSeconds: 2,
      successThreshold: 1,
      failureThreshold: 3,
    },
    securityContext: containerSecurityContext(),
    // A crash's last log lines become the termination message, which status shows.
    terminationMessagePolicy: "FallbackToLogsOnError",
    volumeMounts: [home],
  };
}

// ---------------------------------------------------------------------------------------------------------
// Git clone init containers

/**
 * Reads the credentials from the environment when git asks for them, so they never appear in argv,
 * logs, or any config. Git runs it with `sh -c '<helper> "$@"' <helper> get|store|erase`. It answers
 * only for the host of `spec.repository.url` (`GIT_CREDENTIAL_HOST`): a redirect elsewhere gets nothing.
 */
export const GIT_CREDENTIAL_HELPER =
  '!f() { test "$1" = get || return 0; h=; while IFS= read -r l && test -n "$l"; do case "$l" in host=*) h="${l#host=}";; esac; done; test -n "$h" && test "$h" = "${GIT_CREDENTIAL_HOST:-}" || return 0; echo "username=${GIT_USERNAME:-}"; echo "password=${GIT_PASSWORD:-}"; }; f';

/**
 * Shared start of both git scripts: git reads no configuration but the script's own. No system or
 * global file, an empty HOME in the private work volume, no template (so no sample hooks), no variable
 * that points git at another repository, config, askpass or proxy program, and only the protocols in
 * `GIT_ALLOW_PROTOCOL` (which overrides every `protocol.*` setting). `G` holds the options every git
 * call gets: hooks and fsmonitor off, no submodules, no credential helper of anyone else's.
 */
export const GIT_PRELUDE = `set -eu
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES \\
  GIT_COMMON_DIR GIT_NAMESPACE GIT_CONFIG GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT GIT_EXEC_PATH \\
  GIT_TEMPLATE_DIR GIT_ASKPASS SSH_ASKPASS GIT_PROXY_COMMAND GIT_EXTERNAL_DIFF GIT_PAGER \\
  GIT_EDITOR XDG_CONFIG_HOME GIT_SSH
work="$GIT_WORK"
repo="$work/repo.git"
target="$GIT_TARGET"
ref="\${GIT_REF:-}"
export HOME="$work/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_SYSTEM=/dev/null GIT_CONFIG_GLOBAL=/dev/null \\
  GIT_ATTR_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 GIT_NO_REPLACE_OBJECTS=1
mkdir -p "$HOME"
log() { printf 'portico git-clone: %s\\n' "$*"; }
warn() { printf 'portico git-clone: warning: %s\\n' "$*" >&2; }
G="-c core.hooksPath=/dev/null -c core.fsmonitor=false -c credential.helper= -c submodule.recurse=false -c fetch.recurseSubmodules=false -c protocol.allow=never"
`;

/**
 * The first init container's script (`git-clone`, the network step: the only one that holds the
 * repository Secret). It never opens a repository the user can write: it clones or fetches
 * `GIT_URL` into a fresh bare repository in the private work volume (`GIT_WORK`, mounted in no other
 * container but the second init step), and reads the home volume (mounted read-only) only as data —
 * the commit ids of the existing clone's branches, so a re-sync fetches only what is new (the clone's
 * objects serve as alternates; `core.alternateRefsCommand=true` keeps git from running anything in the
 * clone). Only the protocols the class allows (`GIT_PROTOCOLS`, colon-separated) are spoken.
 *
 * First run (no `$GIT_TARGET/.git`): a failed clone exits non-zero. Later runs: a failed fetch warns
 * and exits 0, so the IDE starts with the files as they are.
 */
export const GIT_CLONE_SCRIPT = `${GIT_PRELUDE}export GIT_ALLOW_PROTOCOL="\${GIT_PROTOCOLS:-https:ssh}"
helper='${GIT_CREDENTIAL_HELPER.replace(/'/g, `'\\''`)}'
g() {
  if [ -n "\${GIT_PASSWORD:-}" ]; then
    # shellcheck disable=SC2086
    git $G -c credential.helper="$helper" "$@"
  else
    # shellcheck disable=SC2086
    git $G "$@"
  fi
}
case "$GIT_URL" in
  https://*) proto=https ;;
  http://*) proto=http ;;
  ssh://*) proto=ssh ;;
  git://*) proto=git ;;
  *::*) proto="\${GIT_URL%%::*}" ;;
  [A-Za-z0-9._-]*@*:*) proto=ssh ;;
  *) proto=file ;;
esac
case ":$GIT_ALLOW_PROTOCOL:" in
  *":$proto:"*) ;;
  *)
    printf 'portico git-clone: protocol %s is not allowed by the WorkspaceClass (spec.git.allowedProtocols: %s)\\n' "$proto" "$GIT_ALLOW_PROTOCOL" >&2
    exit 1
    ;;
esac
rm -rf "$repo" "$work/fetched"

if [ ! -e "$target/.git" ]; then
  if [ -d "$target" ] && [ -n "$(ls -A "$target")" ]; then
    exit 0 # not a git repository: the checkout step says so and leaves it alone
  fi
  log "cloning $GIT_URL"
  g clone --quiet --bare --template= -- "$GIT_URL" "$repo"
  if [ -n "$ref" ] && ! g -C "$repo" rev-parse --quiet --verify "$ref^{commit}" >/dev/null; then
    log "$ref is not a branch or tag of $GIT_URL; fetching it as a commit"
    g -C "$repo" fetch --quiet -- "$GIT_URL" "$ref"
    g -C "$repo" update-ref refs/portico/ref FETCH_HEAD
  fi
  echo clone >"$work/fetched"
  exit 0
fi

g init --quiet --bare --template= "$repo"
if [ -d "$target/.git/objects" ]; then
  printf '%s\\n' "$target/.git/objects" >"$repo/objects/info/alternates"
  i=0
  for sha in $({
    cat "$target/.git/packed-refs" 2>/dev/null || true
    find "$target/.git/refs/heads" "$target/.git/refs/remotes" -type f 2>/dev/null | head -n 200 |
      while IFS= read -r f; do head -c 100 "$f" 2>/dev/null || true; echo; done
  } | grep -E '^[0-9a-f]{40}([0-9a-f]{24})?( |$)' | cut -d' ' -f1 | sort -u | head -n 100); do
    g -C "$repo" update-ref "refs/portico/have/$i" "$sha" 2>/dev/null || true
    i=$((i + 1))
  done
fi
log "fetching $GIT_URL"
if g -C "$repo" -c core.alternateRefsCommand=true fetch --quiet --no-tags -- "$GIT_URL" \\
  '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'; then
  echo sync >"$work/fetched"
else
  warn "could not fetch from $GIT_URL; starting with the files as they are"
fi
exit 0
`;

/**
 * The second init container's script (`git-checkout`: no Secret, no credentials, no network protocol).
 * It works in the user's clone, which the user controls, so it holds nothing worth stealing; hooks and
 * fsmonitor stay off all the same and only local (`file`) fetches from the work volume are allowed.
 *
 * First run: clone the fetched copy into a temporary directory beside the target (the branch or tag
 * `GIT_REF`, or the default branch, or the commit `GIT_REF`), point `origin` at `GIT_URL`, and move it
 * into place, so a failed clone leaves nothing half-made. Later runs: fetch the branches from the copy
 * into `origin/*`, then fast-forward the checked-out branch to its upstream; when that is not possible
 * (local commits, local changes in the way, a detached HEAD) print a warning and start anyway: local work
 * is never reset, cleaned or deleted.
 */
export const GIT_CHECKOUT_SCRIPT = `${GIT_PRELUDE}export GIT_ALLOW_PROTOCOL=file
g() {
  # shellcheck disable=SC2086
  git $G -c protocol.file.allow=always -c safe.directory="$target" -c safe.directory="$repo" "$@"
}

if [ ! -e "$target/.git" ] && [ -d "$target" ] && [ -n "$(ls -A "$target")" ]; then
  warn "$target exists and is not a git repository; leaving it as it is"
  exit 0
fi
fetched="$(cat "$work/fetched" 2>/dev/null || true)"
if [ -z "$fetched" ]; then
  log "nothing was fetched; starting with the files as they are"
  exit 0
fi

if [ ! -e "$target/.git" ]; then
  parent="\${target%/*}"
  tmp="$parent/.portico-clone-\${target##*/}"
  rm -rf "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$parent"
  if [ -z "$ref" ]; then
    g clone --quiet --template= -- "$repo" "$tmp"
  elif ! g clone --quiet --template= --branch "$ref" -- "$repo" "$tmp" 2>/dev/null; then
    log "$ref is not a branch or tag of $GIT_URL; checking it out as a commit"
    rm -rf "$tmp"
    g clone --quiet --template= --no-checkout -- "$repo" "$tmp"
    commit="$(g -C "$repo" rev-parse --quiet --verify "$ref^{commit}" || g -C "$repo" rev-parse --verify refs/portico/ref)"
    g -C "$tmp" checkout --quiet --detach "$commit"
  fi
  g -C "$tmp" remote set-url origin "$GIT_URL"
  if [ -d "$target" ]; then rmdir "$target"; fi
  mv "$tmp" "$target"
  log "cloned $GIT_URL into $target"
  exit 0
fi

cd "$target"
if ! g fetch --quiet --no-tags -- "$repo" '+refs/heads/*:refs/remotes/origin/*'; then
  warn "could not update from the fetched copy of $GIT_URL; starting with the files as they are"
  exit 0
fi
g fetch --quiet -- "$repo" 'refs/tags/*:refs/tags/*' 2>/dev/null || true
if ! upstream="$(g rev-parse --abbrev-ref --symbolic-full-name '@{upstream}' 2>/dev/null)"; then
  log "the checkout has no upstream branch (a tag, a commit or a local branch); nothing to update"
  exit 0
fi
if g merge --ff-only --quiet "$upstream"; then
  log "up to date with $upstream"
else
  warn "cannot fast-forward to $upstream (local commits or local changes in the way); leaving everything as it is"
fi
exit 0
`;

/** Directory the repository is cloned into, below the mount path: `analysis` for `.../analysis.git`. */
export function repoDirName(url: string): string {
  const last = url
    .replace(/[?#].*$/, "")
    .replace(/[/\\]+$/, "")
    .split(/[/:]/)
    .pop()!
    .replace(/\.git$/, "")
    .replace(/[^A-Za-z0-9._-]+/g, "-");
  return last === "" || /^\.+$/.test(last) ? "repo" : last;
}

/** Whether git reaches `url` over ssh (`ssh://` or scp-like `user@host:path`). */
export function isSshUrl(url: string): boolean {
  return /^ssh:\/\//.test(url) || /^[^/:@]+@[^/:]+:/.test(url);
}

/** Single-quotes `s` for a POSIX shell. */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The protocols git may speak for a class: its `spec.git.allowedProtocols`, default https and ssh. */
export function allowedGitProtocols(cls: WorkspaceClass): readonly GitProtocol[] {
  return cls.spec.git?.allowedProtocols?.length ? cls.spec.git.allowedProtocols : DEFAULT_GIT_PROTOCOLS;
}

/** `host[:port]` of an http(s) URL as git names it to credential helpers; empty for other URLs. */
export function credentialHost(url: string): string {
  return /^https?:\/\/(?:[^@/?#]*@)?([^/?#]+)/i.exec(url)?.[1] ?? "";
}

/**
 * The first git init container (`git-clone`), or undefined without `spec.repository`: the only
 * container that ever sees the repository Secret (as `secretKeyRef` env for https, as a read-only
 * volume for ssh). It mounts the home volume read-only and the private work volume.
 * Both git containers get the IDE's resources: the pod's effective request is the larger of an init
 * container's and the app containers' sum, so this costs nothing and satisfies quotas.
 */
export function buildGitCloneContainer(
  ws: Workspace,
  cls: WorkspaceClass,
  config: BuilderConfig,
  resources = mergeResources(cls.spec.resources, ws.spec.resources),
): V1Container | undefined {
  const repo = ws.spec.repository;
  if (!repo) return undefined;
  const home = mountPath(cls);
  const env: V1EnvVar[] = [
    ...gitEnv(ws, cls),
    { name: "GIT_PROTOCOLS", value: allowedGitProtocols(cls).join(":") },
  ];
  const mounts: V1VolumeMount[] = [
    // Read-only: the step that holds the Secret cannot write anything into the user's volume.
    { name: HOME_VOLUME, mountPath: home, readOnly: true },
    { name: GIT_WORK_VOLUME, mountPath: GIT_WORK_MOUNT },
  ];
  const secret = repo.secretRef?.name;
  if (secret && isSshUrl(repo.url)) {
    env.push({
      name: "GIT_SSH_COMMAND",
      value: [
        "ssh",
        // No ssh config file at all: nothing the user wrote can add a ProxyCommand or another key.
        "-F /dev/null",
        `-i ${shQuote(`${GIT_SECRET_MOUNT}/ssh-privatekey`)}`,
        "-o IdentitiesOnly=yes",
        "-o StrictHostKeyChecking=accept-new",
        `-o UserKnownHostsFile=${shQuote(`${GIT_WORK_MOUNT}/known_hosts`)}`,
        `-o GlobalKnownHostsFile=${shQuote(`${GIT_SECRET_MOUNT}/known_hosts`)}`,
      ].join(" "),
    });
    mounts.push({ name: GIT_SECRET_VOLUME, mountPath: GIT_SECRET_MOUNT, readOnly: true });
  } else if (secret) {
    env.push(
      { name: "GIT_CREDENTIAL_HOST", value: credentialHost(repo.url) },
      {
        name: "GIT_USERNAME",
        valueFrom: { secretKeyRef: { name: secret, key: "username", optional: true } },
      },
      {
        name: "GIT_PASSWORD",
        valueFrom: { secretKeyRef: { name: secret, key: "password", optional: true } },
      },
    );
  }
  return gitContainer(GIT_CONTAINER, GIT_CLONE_SCRIPT, env, mounts, config, resources);
}

/**
 * The second git init container (`git-checkout`): clones or fast-forwards the user's checkout from
 * what the first fetched into the work volume. No Secret, no credentials, no network protocol.
 */
export function buildGitCheckoutContainer(
  ws: Workspace,
  cls: WorkspaceClass,
  config: BuilderConfig,
  resources = mergeResources(cls.spec.resources, ws.spec.resources),
): V1Container | undefined {
  if (!ws.spec.repository) return undefined;
  const mounts: V1VolumeMount[] = [
    { name: HOME_VOLUME, mountPath: mountPath(cls) },
    { name: GIT_WORK_VOLUME, mountPath: GIT_WORK_MOUNT },
  ];
  return gitContainer(
    GIT_CHECKOUT_CONTAINER,
    GIT_CHECKOUT_SCRIPT,
    gitEnv(ws, cls),
    mounts,
    config,
    resources,
  );
}

/** Environment both git steps share: what to clone where, and the private work directory. */
export function gitEnv(ws: Workspace, cls: WorkspaceClass): V1EnvVar[] {
  const repo = ws.spec.repository!;
  const home = mountPath(cls).replace(/\/+$/, "");
  return [
    { name: "GIT_URL", value: repo.url },
    ...(repo.ref ? [{ name: "GIT_REF", value: repo.ref }] : []),
    { name: "GIT_TARGET", value: `${home}/${repoDirName(repo.url)}` },
    { name: "GIT_WORK", value: GIT_WORK_MOUNT },
    // Empty and private: no ~/.gitconfig, ~/.ssh or ~/.config of the user's is ever read.
    { name: "HOME", value: `${GIT_WORK_MOUNT}/home` },
    { name: "GIT_TERMINAL_PROMPT", value: "0" },
  ];
}

export function gitContainer(
  name: string,
  script: string,
  env: V1EnvVar[],
  volumeMounts: V1VolumeMount[],
  config: BuilderConfig,
  resources: V1ResourceRequirements | undefined,
): V1Container {
  return {
    name,
    image: config.gitImage,
    command: ["/bin/sh", "-c", script],
    env,
    ...(resources ? { resources } : {}),
    securityContext: containerSecurityContext(),
    terminationMessagePolicy: "FallbackToLogsOnError",
    volumeMounts,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Service, NetworkPolicy, VirtualService

function childMeta(ws: Workspace, name: string): V1ObjectMeta {
  return {
    name,
    namespace: requiredNamespace(ws),
    labels: childLabels(ws),
    annotations: childAnnotations(ws),
    ownerReferences: [workspaceOwnerRef(ws)],
  };
}

/** ClusterIP Service: port 80 to the IDE's `http` port, selecting the workspace's pod. */
export function buildService(ws: Workspace): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: childMeta(ws, childNames(ws).service),
    spec: {
      type: "ClusterIP",
      selector: { [WORKSPACE_LABEL]: workspaceLabelValue(requiredName(ws)) },
      ports: [{ name: PORT_NAME, port: SERVICE_PORT, targetPort: PORT_NAME, protocol: "TCP" }],
    },
  };
}

/**
 * Admits only the proxy's pods (in the proxy's namespace) to the IDE port; nothing else gets in,
 * except the operator's pods when the class has an idle probe (the operator polls the IDE's activity
 * report, workspace/probe.ts).
 * Egress as `config.workspaceEgress` says (operator/workspace/egress.ts): by default DNS and the
 * internet, never the pod or service CIDRs, the API server, private, link-local or metadata addresses.
 * The ingress rule's peers are in `_from`, client-node's spelling: send the object through the typed
 * client (its serializer writes `from`), never as raw JSON, or the API server sees a rule without peers,
 * which admits everyone. Enforced only where the cluster's CNI implements NetworkPolicy.
 */
export function buildNetworkPolicy(
  ws: Workspace,
  cls: WorkspaceClass,
  config: BuilderConfig,
): V1NetworkPolicy {
  const egress = workspaceEgressRules(config.workspaceEgress);
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: childMeta(ws, childNames(ws).networkPolicy),
    spec: {
      podSelector: { matchLabels: { [WORKSPACE_LABEL]: workspaceLabelValue(requiredName(ws)) } },
      policyTypes: egress ? ["Ingress", "Egress"] : ["Ingress"],
      ingress: [
        {
          // client-node's name for `from` (a reserved word); its serializer writes `from` on the wire.
          _from: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": config.proxyNamespace } },
              podSelector: { matchLabels: { ...config.proxyPodLabels } },
            },
            ...(cls.spec.idle?.probe
              ? [
                  {
                    namespaceSelector: {
                      matchLabels: { "kubernetes.io/metadata.name": config.proxyNamespace },
                    },
                    podSelector: { matchLabels: { ...config.operatorPodLabels } },
                  },
                ]
              : []),
          ],
          ports: [{ protocol: "TCP", port: cls.spec.port }],
        },
      ],
      ...(egress ? { egress } : {}),
    },
  };
}

/**
 * Routes the workspace's host (host routing) or its path under the base domain (path routing) to the
 * Portico proxy, with no route timeout so WebSockets stay open.
 */
export function buildVirtualService(ws: Workspace, config: BuilderConfig): VirtualService {
  const prefix = basePath(ws, config);
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: childMeta(ws, childNames(ws).virtualService),
    spec: {
      hosts: [workspaceHost(ws, config)],
      ...(config.istioGateways.length ? { gateways: [...config.istioGateways] } : {}),
      http: [
        {
          name: "portico-proxy",
          // In path routing every workspace shares the host; the match keeps their routes apart.
          ...(prefix ? { match: [{ uri: { prefix: `${prefix}/` } }, { uri: { exact: prefix } }] } : {}),
          route: [
            {
              destination: {
                host: `${config.proxyServiceName}.${config.proxyNamespace}.svc.cluster.local`,
                port: { number: config.proxyServicePort },
              },
            },
          ],
          timeout: "0s",
        },
      ],
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Hashing and resources

/** JSON with object keys sorted and undefined members left out: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}

/**
 * 16 hex characters of sha256 over the canonical JSON of `pod.spec`. The reconciler compares the
 * desired pod's hash with the running pod's `portico.dev/pod-spec-hash` annotation: pods are mostly
 * immutable, so a different hash means the pod must be replaced.
 */
export function podSpecHash(pod: V1Pod): string {
  return createHash("sha256")
    .update(canonicalJson(pod.spec ?? {}))
    .digest("hex")
    .slice(0, 16);
}

/**
 * The IDE's resources: the class's, with the workspace's winning key by key (as both CRDs document).
 * Where that mixes a workspace request with a smaller class limit, the limit is raised to the request;
 * where it mixes a workspace limit with a larger class request, the request is lowered to the limit,
 * so the pod is always valid.
 */
export function mergeResources(
  cls: ResourceRequirements | undefined,
  ws: ResourceRequirements | undefined,
): V1ResourceRequirements | undefined {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...cls?.requests, ...ws?.requests })) requests[k] = String(v);
  for (const [k, v] of Object.entries({ ...cls?.limits, ...ws?.limits })) limits[k] = String(v);
  for (const k of Object.keys(requests)) {
    if (limits[k] === undefined || compareQuantities(limits[k], requests[k]!) !== -1) continue;
    const wsRequest = ws?.requests?.[k] !== undefined;
    const wsLimit = ws?.limits?.[k] !== undefined;
    if (wsRequest && !wsLimit) limits[k] = requests[k]!;
    else if (wsLimit && !wsRequest) requests[k] = limits[k];
  }
  const out: V1ResourceRequirements = {};
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return out.requests || out.limits ? out : undefined;
}
