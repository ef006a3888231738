/**
 * The peers of the proxy benchmark, each a real process started in front of one backend URL, and
 * what the benchmark reads about a process from /proc (CPU ticks, RSS, its children).
 *
 * - configurable-http-proxy (JupyterHub's proxy, npm), started with its REST API; the route is
 *   added through that API as JupyterHub does.
 * - nginx (Debian), from a config generated in a temp dir (`-p`/`-c`, `daemon off`): one worker,
 *   `proxy_pass` to a keep-alive upstream over HTTP/1.1 with the WebSocket upgrade headers.
 * - http-proxy 1.18 (npm), the package undici replaced, behind Portico's own route table
 *   (e2e/bench/http-proxy-peer.ts), in host mode like Portico.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { createWriteStream, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "../..");
const HTTP_PROXY_PEER = join(REPO, "e2e/bench/http-proxy-peer.ts");
const CHP_BIN = join(REPO, "node_modules/configurable-http-proxy/bin/configurable-http-proxy");
const NGINX = "/usr/sbin/nginx";

/** A proxy process the benchmark started. `pids()` lists every process whose CPU and memory count. */
export interface Peer {
  name: string;
  /** Where clients send requests (http://ip:port/path). */
  url: string;
  /** Host header for host-mode routing; the URL's host when absent. */
  host?: string;
  pids(): number[];
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every process the benchmark started, so a crash of the benchmark never leaves one running. */
const started = new Set<ChildProcess>();
export function track(proc: ChildProcess): ChildProcess {
  started.add(proc);
  proc.once("exit", () => started.delete(proc));
  return proc;
}
process.once("exit", () => {
  for (const p of started) p.kill("SIGTERM"); // nginx: TERM lets the master stop its worker
});

/** utime + stime of a process, in clock ticks (field 14 and 15 of /proc/<pid>/stat). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Resident set size of a process in KiB (VmRSS). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
}

/** Direct children of `pid` (nginx's workers). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

export const sum = (pids: number[], f: (pid: number) => number) => pids.reduce((a, p) => a + f(p), 0);

/** Waits until `url` answers 200, or fails with the log's path. */
async function waitHttp(
  url: string,
  headers: Record<string, string>,
  what: string,
  log: string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline)
      throw new Error(`${what} did not answer 200 on ${url} within 30 s (log: ${log})`);
    await sleep(200);
  }
}

function logTo(proc: ChildProcess, file: string): void {
  const out = createWriteStream(file, { flags: "a" });
  proc.stdout?.pipe(out);
  proc.stderr?.pipe(out);
}

function stopper(proc: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  return async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await Promise.race([exited, sleep(5000)]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  };
}

/** configurable-http-proxy on ip:port, its API on 127.0.0.1:apiPort, with one route `/` → backend. */
export async function startChp(
  ip: string,
  port: number,
  apiPort: number,
  backend: string,
  logDir: string,
): Promise<Peer> {
  const token = "bench-token";
  const log = join(logDir, "chp.log");
  // Same Node binary as everything else; request logging off (nginx gets `access_log off` too).
  const proc = spawn(
    process.execPath,
    [
      CHP_BIN,
      "--ip",
      ip,
      "--port",
      String(port),
      "--api-ip",
      "127.0.0.1",
      "--api-port",
      String(apiPort),
      "--log-level",
      "warn",
    ],
    { env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: token }, stdio: ["ignore", "pipe", "pipe"] },
  );
  track(proc);
  logTo(proc, log);
  const api = `http://127.0.0.1:${apiPort}/api/routes`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${api}/`, {
      method: "POST",
      headers: { authorization: `token ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ target: backend }),
      signal: AbortSignal.timeout(1000),
    }).then(
      (r) => r.status === 201,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline)
      throw new Error(`configurable-http-proxy API did not accept the route (log: ${log})`);
    await sleep(200);
  }
  const url = `http://${ip}:${port}/`;
  await waitHttp(url, {}, "configurable-http-proxy", log);
  return { name: "configurable-http-proxy", url, pids: () => [proc.pid!], stop: stopper(proc) };
}

/** The nginx config: one worker, keep-alive upstream, HTTP/1.1 and the WebSocket upgrade headers. */
export function nginxConfig(
  dir: string,
  listen: string,
  backend: string,
  workerConnections: number,
  /** A second server nginx uses only once `backend` fails (a replica killed): failover, no balancing. */
  backup?: string,
): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections ${workerConnections}; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream backend {
    server ${backend};${backup ? `\n    server ${backup} backup;` : ""}
    keepalive 128;
    keepalive_requests 1000000;
  }
  map $http_upgrade $connection_upgrade { default upgrade; "" ""; }
  server {
    listen ${listen};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`;
}

/** nginx on ip:port in front of `backend` (host:port); counts the master and its worker. */
export async function startNginx(ip: string, port: number, backend: string, logDir: string): Promise<Peer> {
  const dir = await mkdtemp(join(tmpdir(), "portico-bench-nginx-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, "nginx.conf");
  // As many connections as descriptors (the worker inherits this process's open-file limit).
  const limit = Number(
    /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"))?.[1] ?? 20000,
  );
  await writeFile(conf, nginxConfig(dir, `${ip}:${port}`, backend, limit));
  const log = join(logDir, "nginx.log");
  const proc = spawn(NGINX, ["-p", dir, "-c", conf, "-e", join(dir, "error.log"), "-g", "daemon off;"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(proc);
  logTo(proc, log);
  const url = `http://${ip}:${port}/`;
  await waitHttp(url, {}, "nginx", `${log}, ${dir}/error.log`);
  const stop = stopper(proc);
  return {
    name: "nginx",
    url,
    pids: () => [proc.pid!, ...childrenOf(proc.pid!)],
    stop: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Whether `url` answers 200 with Host `host` (fetch cannot send a Host of our choosing). */
function answersWithHost(url: string, host: string): Promise<boolean> {
  return new Promise((done) => {
    const req = request(url, { headers: { host }, timeout: 1000 }, (res) => {
      res.resume();
      res.on("end", () => done(res.statusCode === 200));
    });
    req.on("error", () => done(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/**
 * http-proxy behind Portico's route table on ip:port (e2e/bench/http-proxy-peer.ts), routing `host`
 * to the workspace's ready endpoint from its EndpointSlices, as Portico's proxy does.
 */
export async function startHttpProxy(
  ip: string,
  port: number,
  route: { baseDomain: string; host: string; workspace: object; slices: object[] },
  logDir: string,
): Promise<Peer> {
  const log = join(logDir, "http-proxy.log");
  const args = { ip, port, baseDomain: route.baseDomain, workspace: route.workspace, slices: route.slices };
  const proc = spawn(process.execPath, [HTTP_PROXY_PEER, JSON.stringify(args)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(proc);
  logTo(proc, log);
  const url = `http://${ip}:${port}/`;
  const deadline = Date.now() + 30_000;
  while (!(await answersWithHost(url, route.host))) {
    if (proc.exitCode !== null) throw new Error(`http-proxy peer exited with ${proc.exitCode}: see ${log}`);
    if (Date.now() > deadline) throw new Error(`http-proxy peer did not answer at ${url} (log: ${log})`);
    await sleep(200);
  }
  return { name: "http-proxy", url, host: route.host, pids: () => [proc.pid!], stop: stopper(proc) };
}
