import { test } from "node:test";
import assert from "node:assert/strict";
import { CLOSE, RECONNECT_FIRST_MS } from "../../protocol.ts";
import { FakeClock, FakeSocket } from "./fakes.test-util.ts";
import { LogsClient, logsUrl } from "./logs-client.ts";
import { noResume } from "./log-lines.ts";

const loc = { protocol: "https:", host: "portico.example.com" };

function setup() {
  const clock = new FakeClock();
  const urls: string[] = [];
  const sockets: FakeSocket[] = [];
  const lines: string[] = [];
  const states: string[] = [];
  const client = new LogsClient(
    {
      connect: (url) => {
        urls.push(url);
        const s = new FakeSocket();
        sockets.push(s);
        return s;
      },
      clock,
      random: () => 0,
      location: loc,
    },
    "ws-alice/thesis",
    {
      lines: (ls) => lines.push(...ls.map((l) => `${l.level}:${l.text}`)),
      status: (_t, s) => states.push(s),
    },
  );
  return { clock, urls, sockets, lines, states, client, last: () => sockets[sockets.length - 1]! };
}

test("the URL: the workspace, a tail first, since= on a resume", () => {
  assert.equal(
    logsUrl(loc, "ns/w", noResume()),
    "wss://portico.example.com/ws/logs?workspace=ns%2Fw&tail=500",
  );
  assert.equal(
    logsUrl(
      { protocol: "http:", host: "localhost:18080" },
      "ns/w",
      { since: "2026-12-05T10:00:00Z", atSince: [] },
      "ide",
    ),
    "ws://localhost:18080/ws/logs?workspace=ns%2Fw&container=ide&since=2026-12-05T10%3A00%3A00Z",
  );
});

test("lines are classified; a dropped stream reconnects since the last line and shows no repeat", () => {
  const { client, urls, lines, last, clock, states } = setup();
  client.start();
  last().accept();
  last().deliver({ type: "status", state: "following", pod: "p", container: "ide", message: "following" });
  last().deliver({ type: "line", text: "INFO up", time: "2026-12-05T10:00:00Z" });
  last().deliver({ type: "line", text: "ERROR boom", time: "2026-12-05T10:00:01Z" });
  last().hangUp(1006);
  assert.equal(states.at(-1), "offline");
  clock.advance(RECONNECT_FIRST_MS);
  assert.match(urls[1]!, /since=2026-12-05T10%3A00%3A01Z/);
  last().accept();
  last().deliver({ type: "line", text: "ERROR boom", time: "2026-12-05T10:00:01Z" });
  last().deliver({ type: "line", text: "WARN next", time: "2026-12-05T10:00:02Z" });
  assert.deepEqual(lines, ["info:INFO up", "error:ERROR boom", "warn:WARN next"]);
});

test("no reconnect when the pod is gone or no longer the caller's, nor after stop", () => {
  for (const code of [CLOSE.gone, CLOSE.forbidden]) {
    const { client, sockets, last, clock, states } = setup();
    client.start();
    last().hangUp(code);
    clock.advance(60_000);
    assert.equal(sockets.length, 1);
    assert.equal(states.at(-1), "closed");
  }
  const { client, sockets, clock, last } = setup();
  client.start();
  last().accept();
  client.stop();
  last().hangUp(1000);
  clock.advance(60_000);
  assert.equal(sockets.length, 1);
});
