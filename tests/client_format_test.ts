import assert from "node:assert/strict";
import type { ChatEvent } from "../client/events.ts";
import { formatEvent, formatTime } from "../client/format.ts";

const TS = Date.UTC(2021, 5, 4, 15, 35, 30);
const text = (event: ChatEvent) => formatEvent(event, { utc: true });

Deno.test("formatTime() pads every field", () => {
  assert.equal(
    formatTime(Date.UTC(2021, 0, 2, 3, 4, 5), true),
    "2021/01/02 03:04:05",
  );
});

Deno.test("formatTime() shows a time that is no date as question marks, not NaN", () => {
  // A broken server's "ts":99999999999999999 printed 0NaN/NaN/NaN NaN:NaN:NaN.
  for (
    const ts of [99999999999999999, Number.NaN, "soon" as unknown as number]
  ) {
    assert.equal(formatTime(ts, true), "????/??/?? ??:??:??");
    assert.equal(formatTime(ts), "????/??/?? ??:??:??");
  }
  // The last time a Date holds still prints.
  assert.equal(formatTime(8.64e15, true), "275760/09/13 00:00:00");
});

Deno.test("formatTime() uses the local zone by default", () => {
  const d = new Date(TS);
  const hours = String(d.getHours()).padStart(2, "0");
  assert.equal(formatTime(TS).slice(11, 13), hours);
});

Deno.test("formatEvent() prints a received private message", () => {
  assert.deepEqual(
    text({
      event: "message",
      ts: TS,
      from: "bob",
      to: "alice",
      text: "hi alice",
      seq: 1,
    }),
    ["2021/06/04 15:35:30 bob: hi alice"],
  );
});

Deno.test("formatEvent() indents continuation lines by four spaces", () => {
  assert.deepEqual(
    text({ event: "broadcast", ts: TS, from: "tom", text: "one\ntwo\nthree" }),
    [
      "2021/06/04 15:35:30 broadcast from tom: one",
      "    two",
      "    three",
    ],
  );
});

Deno.test("formatEvent() prints an echo, with a notice when stored", () => {
  const echo = {
    event: "echo",
    id: "1",
    ts: TS - 1000,
    from: "alice",
    to: "bob",
    text: "hi bob",
    status: "sent",
  } as const;
  assert.deepEqual(text(echo), ["2021/06/04 15:35:29 alice -> bob: hi bob"]);
  assert.deepEqual(text({ ...echo, status: "stored" }), [
    "2021/06/04 15:35:29 alice -> bob: hi bob",
    "*** bob is offline; message stored",
  ]);
});

Deno.test("formatEvent() tells the sender the recipient's client has it", () => {
  const event = { event: "delivered", id: "1", to: "bob" } as const;
  assert.deepEqual(text(event), ["*** delivered to bob"]);
  assert.deepEqual(formatEvent(event, { json: true }), [
    '{"event":"delivered","id":"1","to":"bob"}',
  ]);
  // Named by the start of its first line when the client knows its text.
  assert.deepEqual(
    text({ ...event, text: "see you at the station at nine\nbring it" }),
    [`*** delivered to bob ("see you at the station a…")`],
  );
  assert.deepEqual(text({ ...event, text: "ok" }), [
    `*** delivered to bob ("ok")`,
  ]);
});

Deno.test("formatEvent() prints the login notices but not the stored count, which waits for the first stored message shown", () => {
  assert.deepEqual(
    text({
      event: "connected",
      server: "127.0.0.1:1998",
      name: "alice",
      registered: true,
      stored: 3,
      expired: 1,
    }),
    [
      "*** connected to 127.0.0.1:1998 as alice",
      "*** registered new account alice",
      "*** 1 message expired unread",
    ],
  );
  assert.deepEqual(
    text({
      event: "connected",
      server: "h:1",
      name: "bob",
      registered: false,
      stored: 0,
      expired: 0,
    }),
    ["*** connected to h:1 as bob"],
  );
});

Deno.test("formatEvent() prints who, disconnects and notices", () => {
  assert.deepEqual(text({ event: "who", users: ["alice", "bob"] }), [
    "*** online: alice, bob",
  ]);
  assert.deepEqual(
    text({
      event: "disconnected",
      reason: "shutdown",
      text: "Server stopping",
    }),
    ["*** disconnected: server stopping"],
  );
  assert.deepEqual(
    text({
      event: "disconnected",
      reason: "lost",
      text: "connection to the server was lost",
    }),
    ["*** connection to the server was lost"],
  );
  assert.deepEqual(
    text({
      event: "disconnected",
      reason: "no_answer",
      text: "the server stopped answering",
    }),
    ["*** the server stopped answering"],
  );
  assert.deepEqual(
    text({ event: "notice", code: "no_such_user", text: "No such user: zed" }),
    ["*** no such user: zed"],
  );
  assert.deepEqual(
    text({ event: "notice", code: "internal", text: "TLS is off" }),
    ["*** TLS is off"],
  );
});

Deno.test("formatEvent() shows control characters harmlessly", () => {
  assert.deepEqual(
    text({ event: "broadcast", ts: TS, from: "eve", text: "\x1b[2Jboo\r" }),
    ["2021/06/04 15:35:30 broadcast from eve: \uFFFD[2Jboo\uFFFD"],
  );
});

Deno.test("formatEvent() shows a carriage return before a line feed as any other", () => {
  assert.deepEqual(
    text({ event: "broadcast", ts: TS, from: "eve", text: "K\r\nL" }),
    ["2021/06/04 15:35:30 broadcast from eve: K\uFFFD", "    L"],
  );
  assert.deepEqual(
    text({
      event: "notice",
      code: "mailbox_full",
      text: "Mailbox full",
      refused: { id: "4", to: "bob", text: "one\r\ntwo" },
    }),
    [`*** not sent to bob ("one\\r…"): mailbox full`],
  );
});

Deno.test("formatEvent() neutralises bidi controls in texts and names", () => {
  // A right-to-left override would show "evil.exe" reversed; every
  // directional control becomes U+FFFD.
  const bidi = "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069" +
    "\u200E\u200F\u061C";
  const marks = "\uFFFD".repeat(12);
  assert.deepEqual(
    text({
      event: "message",
      ts: TS,
      from: "m\u202Eallory",
      to: "alice",
      text: `ok ${bidi}\nnext\u202Eline`,
      seq: 3,
    }),
    [
      `2021/06/04 15:35:30 m\uFFFDallory: ok ${marks}`,
      "    next\uFFFDline",
    ],
  );
  assert.deepEqual(
    text({ event: "who", users: ["bob", "e\u2067ve"] }),
    ["*** online: bob, e\uFFFDve"],
  );
  assert.deepEqual(
    text({ event: "delivered", id: "1", to: "b\u202Eob" }),
    ["*** delivered to b\uFFFDob"],
  );
  // Ordinary right-to-left letters stay.
  assert.deepEqual(
    text({ event: "broadcast", ts: TS, from: "eve", text: "שלום" }),
    ["2021/06/04 15:35:30 broadcast from eve: שלום"],
  );
});

Deno.test("formatEvent() prints each event as one JSON line with json", () => {
  const event = {
    event: "message",
    ts: TS,
    from: "bob",
    to: "alice",
    text: "two\nlines",
    seq: 4,
  } as const;
  const lines = formatEvent(event, { json: true });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]), event);
});

Deno.test("formatEvent() names the message each refusal of a send is about", () => {
  const refusal =
    "Too many messages: at most 1 per second; try again in 900 ms";
  assert.deepEqual(
    text({
      event: "notice",
      code: "rate_limited",
      text: refusal,
      refused: { id: "2", to: "bob", text: "two" },
    }),
    [`*** not sent to bob ("two"): too many messages: at most 1 per second; try again in 900 ms`],
  );
  assert.deepEqual(
    text({
      event: "notice",
      code: "rate_limited",
      text: refusal,
      refused: {
        id: "3",
        to: "all",
        text: "a long first line, quoted in part\nand more",
      },
    }),
    [`*** not sent to all ("a long first line, quote…"): too many messages: at most 1 per second; try again in 900 ms`],
  );
  assert.deepEqual(
    text({
      event: "notice",
      code: "mailbox_full",
      text: "Mailbox full",
      refused: { id: "4", to: "bob", text: "one\ntwo" },
    }),
    [`*** not sent to bob ("one…"): mailbox full`],
  );
  assert.deepEqual(
    text({
      event: "notice",
      code: "rate_limited",
      text: "Slow down",
      refused: { id: "5", to: "bob", text: "\x1b[2J" },
    }),
    [`*** not sent to bob ("\\u001b[2J"): slow down`],
  );
});

Deno.test("formatEvent() names the message a notice of no answer is about", () => {
  // It used to name the recipient only, so two unanswered messages to bob
  // read alike.
  assert.deepEqual(
    text({
      event: "notice",
      code: "unconfirmed",
      text:
        "the connection ended before the server answered; it may not have arrived",
      unconfirmed: {
        id: "6",
        to: "bob",
        text: "see you at the station at nine",
      },
    }),
    [`*** not confirmed to bob ("see you at the station a…"): the connection ended before the server answered; it may not have arrived`],
  );
});

Deno.test("formatEvent() tells a slow reader its private messages wait", () => {
  assert.deepEqual(
    text({
      event: "disconnected",
      reason: "slow_consumer",
      text: "Too far behind reading messages",
    }),
    [
      "*** disconnected: too far behind reading messages; private messages not shown yet wait for your next login",
    ],
  );
});
