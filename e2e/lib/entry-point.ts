/** Runs a component's real entry point (`operator/main.ts`, `proxy/main.ts`) to its exit, for tests. */
import { execFile } from "node:child_process";

export interface EntryPointRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `node main args…` with only PATH and `env` in its environment (no KUBECONFIG, no cluster), under
 * this test's Node; resolves with its exit code and output, whatever the code.
 */
export function runEntryPoint(
  main: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<EntryPointRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [main, ...args],
      { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: child.exitCode ?? (err ? 1 : 0), stdout, stderr }),
    );
  });
}
