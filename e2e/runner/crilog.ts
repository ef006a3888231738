/**
 * Container output in the CRI log format, the one a kubelet reads its containers' logs in:
 *
 *   2026-12-05T00:17:09.669Z stdout F a whole line
 *   2026-12-05T00:17:09.670Z stderr P the first 16 KiB of a longer line…
 *
 * kwok's server answers pods/log by reading such a file with the kubelet's own reader
 * (k8s.io/cri-client/pkg/logs), which refuses plain text: so the runner writes every container's
 * output this way. Pure functions, no I/O: the runner feeds them chunks as the process writes them.
 */

export type LogStream = "stdout" | "stderr";

/** A line longer than this is cut into partial (`P`) records, as container runtimes do. */
export const MAX_RECORD = 16 * 1024;

const NL = 0x0a;

function record(stream: LogStream, tag: "F" | "P", content: Buffer, now: Date): Buffer {
  return Buffer.concat([Buffer.from(`${now.toISOString()} ${stream} ${tag} `), content, Buffer.from("\n")]);
}

/**
 * Turns what a process wrote (`chunk`, after the unfinished line `pending` left by the last call)
 * into CRI records: one `F` record per complete line, `P` records for every full MAX_RECORD bytes
 * of a line not yet ended. The unfinished rest is returned to be passed in with the next chunk:
 * lines are recorded whole, so `kubectl logs --tail=N` counts the process's own lines.
 */
export function toCriRecords(
  stream: LogStream,
  pending: Buffer,
  chunk: Buffer,
  now: Date,
): { records: Buffer; rest: Buffer } {
  const data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
  const out: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = data.indexOf(NL, start);
    if (nl !== -1 && nl - start <= MAX_RECORD) {
      out.push(record(stream, "F", data.subarray(start, nl), now));
      start = nl + 1;
    } else if ((nl === -1 ? data.length : nl) - start >= MAX_RECORD) {
      out.push(record(stream, "P", data.subarray(start, start + MAX_RECORD), now));
      start += MAX_RECORD;
    } else break;
  }
  return { records: Buffer.concat(out), rest: Buffer.from(data.subarray(start)) };
}

/** The record for what is left when the stream ends: the last line, unterminated, as a whole one. */
export function flushCriRecord(stream: LogStream, rest: Buffer, now: Date): Buffer {
  return rest.length ? record(stream, "F", rest, now) : Buffer.alloc(0);
}

/**
 * The text a CRI log file holds (what `kubectl logs` prints), both streams in file order.
 * Lines that are not CRI records are skipped, as the kubelet's reader skips them.
 */
export function criText(file: string): string {
  let text = "";
  for (const line of file.split("\n")) {
    const m = /^\S+ (stdout|stderr) ([FP])(?:\S*) (.*)$/s.exec(line);
    if (m) text += m[2] === "P" ? m[3] : `${m[3]}\n`;
  }
  return text;
}
