/**
 * A tiny real DNS server for a test, inside the cluster's network namespace: it answers A queries for
 * the names it is given and NXDOMAIN for anything else, on the address /etc/resolv.conf names (added to
 * the namespace's loopback for the test's lifetime), so every process in the namespace — the proxy's
 * getaddrinfo included — resolves through it. Used to prove that a GatewayRoute url backend whose
 * NAME resolves to a refused address (loopback) is refused at connect time.
 *
 *   const dns = await startDnsServer({ "loop.attacker.test": "127.0.0.1" });
 *   ...
 *   await dns.stop();
 */
import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";

export interface DnsServer {
  /** Where it listens (the resolver's configured nameserver). */
  address: string;
  /** Queries answered so far, by name. */
  queries: string[];
  stop(): Promise<void>;
}

function nameserver(): string {
  const line = readFileSync("/etc/resolv.conf", "utf8")
    .split("\n")
    .find((l) => /^nameserver\s+\d+\.\d+\.\d+\.\d+\s*$/.test(l));
  if (!line) throw new Error("/etc/resolv.conf names no IPv4 nameserver");
  return line.split(/\s+/)[1]!;
}

/** Reads the question's name at offset 12; returns it and the offset after QTYPE/QCLASS. */
function question(msg: Buffer): { name: string; type: number; end: number } {
  const labels: string[] = [];
  let i = 12;
  while (msg[i] !== 0) {
    const n = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + n).toString("latin1"));
    i += n + 1;
  }
  return { name: labels.join(".").toLowerCase(), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

export async function startDnsServer(answers: Record<string, string>): Promise<DnsServer> {
  const address = nameserver();
  const added = !execFileSync("ip", ["-4", "addr", "show", "dev", "lo"], { encoding: "utf8" }).includes(
    `inet ${address}/`,
  );
  if (added) execFileSync("ip", ["addr", "add", `${address}/32`, "dev", "lo"]);
  const queries: string[] = [];
  const sock = createSocket("udp4");
  sock.on("message", (msg, peer) => {
    if (msg.length < 17) return;
    const q = question(msg);
    queries.push(q.name);
    const ip = answers[q.name];
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // ID
    header.writeUInt16BE(ip === undefined ? 0x8183 : 0x8180, 2); // response, RD, RA; NXDOMAIN if unknown
    header.writeUInt16BE(1, 4); // one question
    const a = ip !== undefined && q.type === 1; // an A record; AAAA gets an empty NOERROR answer
    header.writeUInt16BE(a ? 1 : 0, 6);
    const parts = [header, msg.subarray(12, q.end)];
    if (a) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // the question's name
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(0, 6); // TTL 0: asked again every time
      rr.writeUInt16BE(4, 10);
      ip.split(".").forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
      parts.push(rr);
    }
    sock.send(Buffer.concat(parts), peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once("error", reject);
    sock.bind(53, address, () => resolve());
  });
  return {
    address,
    queries,
    stop: async () => {
      await new Promise<void>((resolve) => sock.close(() => resolve()));
      if (added) execFileSync("ip", ["addr", "del", `${address}/32`, "dev", "lo"]);
    },
  };
}
