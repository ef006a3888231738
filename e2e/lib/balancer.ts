/**
 * A real load balancer in front of a proxy for a test: Debian's nginx (one worker, config from the
 * benchmark's `nginxConfig`, which appends the client's address to X-Forwarded-For with
 * `$proxy_add_x_forwarded_for`, as ingress controllers do), inside the test's network namespace.
 *
 *   const lb = await startBalancer({ address: "198.18.0.45", port: 8080, backend: "198.18.0.46:8080" });
 *   await fetch(`${lb.url}/`, ...);   // reaches the backend with `X-Forwarded-For: <client>`
 *   await lb.stop();
 */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { nginxConfig } from "../bench/proxy-peers.ts";
import { stateDir } from "./component.ts";
import { eventually } from "./kube.ts";

const NGINX = "/usr/sbin/nginx";

export interface Balancer {
  /** `http://{address}:{port}` */
  url: string;
  address: string;
  port: number;
  logFile: string;
  stop(): Promise<void>;
}

export async function startBalancer(o: {
  address: string;
  port: number;
  /** `host:port` of what it balances to. */
  backend: string;
  /**
   * `host:port` of a standby: every connection goes to `backend` while it answers, then here (a
   * failover, so a test knows which replica serves a browser until it kills it).
   */
  backup?: string;
  name?: string;
}): Promise<Balancer> {
  const name = o.name ?? "nginx";
  const dir = await mkdtemp(join(stateDir(), `${name}-`));
  const conf = join(dir, "nginx.conf");
  await writeFile(conf, nginxConfig(dir, `${o.address}:${o.port}`, o.backend, 256, o.backup));
  const logFile = join(stateDir(), "logs", `${name}-${o.port}.log`);
  const out = createWriteStream(logFile, { flags: "a" });
  const proc = spawn(NGINX, ["-p", dir, "-c", conf, "-e", join(dir, "error.log"), "-g", "daemon off;"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout.pipe(out);
  proc.stderr.pipe(out);
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const stop = async () => {
    // TERM: the master stops its worker and exits.
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // Listening is enough: a request would spend the proxy's rate-limit tokens.
    await eventually(
      `nginx listening on ${o.address}:${o.port} (log: ${logFile}, ${dir}/error.log)`,
      () =>
        new Promise<true | undefined>((resolve) => {
          if (proc.exitCode !== null) return resolve(undefined);
          const s = connect(o.port, o.address);
          s.once("connect", () => {
            s.destroy();
            resolve(true);
          });
          s.once("error", () => resolve(undefined));
        }),
      15_000,
      100,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://${o.address}:${o.port}`, address: o.address, port: o.port, logFile, stop };
}
