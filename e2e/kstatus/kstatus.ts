/**
 * kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, what Flux and kubectl-ecosystem tools use to
 * read health) as tests call it: the Go program beside this file, built by `build.sh` outside the
 * network namespace and found here by the same content hash, so nothing is fetched inside it.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** kstatus's reading of one object. */
export interface KstatusResult {
  /** `namespace/name`, or `name` for a cluster-scoped object. */
  name: string;
  status: "InProgress" | "Failed" | "Current" | "Terminating" | "NotFound" | "Unknown";
  message: string;
}

/** Where build.sh puts the binary: `{cache}/kstatus-{first 12 hex of sha256(go.mod go.sum main.go)}/kstatus`. */
export function kstatusBinary(env: NodeJS.ProcessEnv = process.env): string {
  const hash = createHash("sha256");
  for (const f of ["go.mod", "go.sum", "main.go"]) hash.update(readFileSync(join(import.meta.dirname, f)));
  const cache = env.PORTICO_CACHE ?? join(homedir(), ".cache", "portico");
  return join(cache, `kstatus-${hash.digest("hex").slice(0, 12)}`, "kstatus");
}

/** Runs kstatus on one object or a List (as `kubectl get -o json` prints them). */
export async function kstatus(objectOrList: object, bin = kstatusBinary()): Promise<KstatusResult[]> {
  if (!existsSync(bin)) {
    throw new Error(
      `${bin} is missing: run \`bash e2e/kstatus/build.sh\` outside the network namespace (scripts/deps.sh does)`,
    );
  }
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(bin, [], { maxBuffer: 16 << 20 }, (err, out, stderr) =>
      err ? reject(new Error(`kstatus failed: ${stderr.trim() || err.message}`)) : resolve(out),
    );
    child.stdin!.end(JSON.stringify(objectOrList));
  });
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as KstatusResult);
}
