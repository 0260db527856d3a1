import assert from "node:assert/strict";
import { type ChatEvent, notice } from "../client/events.ts";
import {
  type LoginResult,
  MAX_UNANSWERED_BYTES,
  MAX_UNANSWERED_SENDS,
  type PasswordRequest,
  Session,
} from "../client/session.ts";
import {
  FakeServer,
  FakeTimers,
  ready,
  type ServerEnd,
  toAlice,
} from "./client_fakes.ts";
import type { MemoryLink } from "../transport/memory.ts";
import { WHO_BURST } from "../protocol/frames.ts";

interface Setup {
  server: FakeServer;
  end: ServerEnd;
  session: Session;
  events: ChatEvent[];
  timers: FakeTimers;
  requests: PasswordRequest[];
  login: Promise<LoginResult>;
}

async function setup(
  options: {
    passwords?: Array<string | null>;
    seen?: Map<string, number>;
    server?: FakeServer;
    /** The address the user typed; default the server's own. */
    address?: string;
  } = {},
): Promise<Setup> {
  const server = options.server ?? await new FakeServer().start();
  const events: ChatEvent[] = [];
  const requests: PasswordRequest[] = [];
  const passwords = [...(options.passwords ?? ["s3cret"])];
  const timers = new FakeTimers();
  const link = await server.transport.connect(server.address);
  const session = new Session({
    link,
    address: options.address ?? server.address,
    name: "alice",
    onEvent: (event) => events.push(event),
    password: (request) => {
      requests.push(request);
      return Promise.resolve(passwords.shift() ?? null);
    },
    seen: options.seen,
    timers,
  });
  const login = session.login();
  const end = await server.accept();
  return { server, end, session, events, timers, requests, login };
}

/** Goes through hello, auth, password and ready. */
async function loggedIn(
  options: Parameters<typeof setup>[0] & { readyFields?: object } = {},
): Promise<Setup> {
  const s = await setup(options);
  assert.equal((await s.end.next())?.type, "hello");
  s.end.send({ type: "auth", mode: "login", name: "alice" });
  assert.equal((await s.end.next())?.type, "password");
  s.end.send(ready(options.readyFields));
  assert.deepEqual(await s.login, { ok: true, name: "alice" });
  return s;
}

/** Closes the session and waits for both ends, leaving the server up. */
async function disconnect(s: Setup): Promise<void> {
  s.session.close();
  await s.session.closed;
  await s.end.closed;
}

async function teardown(s: Setup): Promise<void> {
  await disconnect(s);
  s.server.close();
  assert.equal(s.timers.pending, 0, "Expected no timers left running");
}

/** Lets queued microtasks (in-memory deliveries) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("session registers a new account and reports it", async () => {
  const s = await setup();
  assert.deepEqual(await s.end.next(), {
    type: "hello",
    v: 1,
    name: "alice",
    client: "parley/0.1.0",
  });
  s.end.send({ type: "auth", mode: "register", name: "Alice" });
  assert.deepEqual(await s.end.next(), {
    type: "password",
    password: "s3cret",
  });
  assert.deepEqual(
    s.requests.map(({ mode, name, error }) => ({ mode, name, error })),
    [{ mode: "register", name: "Alice", error: undefined }],
  );
  s.end.send(ready({ name: "Alice", stored: 2, expired: 1 }));
  assert.deepEqual(await s.login, { ok: true, name: "Alice" });
  assert.equal(s.session.state, "ready");
  assert.deepEqual(s.events, [{
    event: "connected",
    server: "chat:1",
    name: "Alice",
    registered: true,
    stored: 2,
    expired: 1,
  }]);
  await teardown(s);
});

Deno.test("session asks again after a wrong password", async () => {
  const s = await setup({ passwords: ["wrong", "right"] });
  await s.end.next();
  s.end.send({ type: "auth", mode: "login", name: "alice" });
  assert.equal((await s.end.next())?.password, "wrong");
  s.end.send({
    type: "error",
    code: "wrong_password",
    text: "Wrong password",
  });
  assert.equal((await s.end.next())?.password, "right");
  assert.equal(s.requests[1].error, "Wrong password");
  s.end.send(ready());
  assert.equal((await s.login).ok, true);
  await teardown(s);
});

Deno.test("session asks again after a password the server finds too long, as it waits for another", async () => {
  // It used to end the login on the server's bad_frame.
  const s = await setup({ passwords: ["x".repeat(1025), "right"] });
  await s.end.next();
  s.end.send({ type: "auth", mode: "login", name: "alice" });
  await s.end.next();
  const text =
    'Field "password" of a "password" frame must be at most 1024 characters, found 1025';
  s.end.send({ type: "error", code: "bad_frame", text });
  assert.equal((await s.end.next())?.password, "right");
  assert.equal(s.requests[1].error, text);
  s.end.send(ready());
  assert.equal((await s.login).ok, true);
  await teardown(s);
});

Deno.test("session login fails when the password source gives up", async () => {
  const s = await setup({ passwords: ["wrong", null] });
  await s.end.next();
  s.end.send({ type: "auth", mode: "login", name: "alice" });
  await s.end.next();
  s.end.send({
    type: "error",
    code: "wrong_password",
    text: "Wrong password",
  });
  assert.deepEqual(await s.login, { ok: false, reason: "Wrong password" });
  await s.session.closed;
  assert.equal(s.session.state, "closed");
  assert.deepEqual(s.events, [], "Expected no lost-connection event");
  await teardown(s);
});

for (
  const [how, end, reason] of [
    [
      "the server stops",
      (end: ServerEnd) =>
        end.send({ type: "bye", reason: "shutdown", text: "Shutting down" }),
      "Shutting down",
    ],
    [
      "the connection is lost",
      (end: ServerEnd) => end.link.close(),
      "connection to the server was lost",
    ],
  ] as const
) {
  Deno.test(`session keeps asking for the password when ${how}, and drops the answer`, async () => {
    // The question used to be stopped: the rest of a password being typed
    // then went to the command prompt, shown.
    const server = await new FakeServer().start();
    const link = await server.transport.connect(server.address);
    let answer!: (password: string | null) => void;
    let signal!: AbortSignal;
    const session = new Session({
      link,
      address: server.address,
      name: "alice",
      onEvent: () => {},
      password: (request) => {
        signal = request.signal;
        return new Promise((resolve) => answer = resolve);
      },
      timers: new FakeTimers(),
    });
    let result: LoginResult | undefined;
    const login = session.login().then((r) => result = r);
    const serverEnd = await server.accept();
    await serverEnd.next();
    serverEnd.send({ type: "auth", mode: "login", name: "alice" });
    await settle();
    end(serverEnd);
    await session.closed;
    await settle();
    assert.equal(signal.aborted, false);
    assert.equal(result, undefined, "the login ended before the answer");
    answer("pw");
    await login;
    // Not given for a new login: only the server's login timeout asks that.
    assert.deepEqual(result, { ok: false, reason });
    server.close();
  });
}

Deno.test("session login fails with the text of a refused name", async () => {
  const s = await setup();
  await s.end.next();
  s.end.send({ type: "error", code: "bad_name", text: "Bad name" });
  assert.deepEqual(await s.login, { ok: false, reason: "Bad name" });
  await teardown(s);
});

Deno.test("session login fails with the server's text when the name was taken during registration", async () => {
  const s = await setup();
  assert.equal((await s.end.next())?.type, "hello");
  s.end.send({ type: "auth", mode: "register", name: "alice" });
  assert.equal((await s.end.next())?.type, "password");
  s.end.send({
    type: "error",
    code: "name_taken",
    text: 'The name "alice" was just registered by someone else',
  });
  assert.deepEqual(await s.login, {
    ok: false,
    reason: 'The name "alice" was just registered by someone else',
  });
  assert.equal(s.requests.length, 1, "Expected no second password request");
  await teardown(s);
});

Deno.test("session login fails when the server says bye", async () => {
  const s = await setup();
  await s.end.next();
  s.end.send({
    type: "bye",
    reason: "too_many_attempts",
    text: "Too many attempts",
  });
  assert.deepEqual(await s.login, { ok: false, reason: "Too many attempts" });
  await teardown(s);
});

Deno.test("session login fails when the server does not answer", async () => {
  const s = await setup();
  await s.end.next();
  s.timers.tick(30_000);
  assert.deepEqual(await s.login, {
    ok: false,
    reason: "the server did not answer within 30 s",
  });
  await teardown(s);
});

Deno.test("session login fails when the connection closes", async () => {
  const s = await setup();
  await s.end.next();
  s.end.link.close();
  assert.deepEqual(await s.login, {
    ok: false,
    reason: "connection to the server was lost",
  });
  await teardown(s);
});

Deno.test("session shows messages and acks the highest seq once per batch", async () => {
  const s = await loggedIn();
  const msg = (seq: number, text: string) => ({
    type: "msg",
    from: "bob",
    to: "alice",
    ts: 1000 + seq,
    text,
    seq,
  });
  s.end.send(msg(3, "one"), msg(4, "two"), msg(7, "three"));
  assert.deepEqual(await s.end.next(), { type: "ack", seq: 7 });
  await settle();
  assert.deepEqual(s.end.unread, [], "Expected exactly one ack");
  assert.deepEqual(
    s.events.filter((e) => e.event === "message").map((e) =>
      e.event === "message" && [e.seq, e.text]
    ),
    [[3, "one"], [4, "two"], [7, "three"]],
  );
  await teardown(s);
});

Deno.test("session does not show a seq again after a reconnect but acks it", async () => {
  const seen = new Map<string, number>();
  const server = await new FakeServer().start();
  const first = await loggedIn({ seen, server });
  first.end.send(toAlice(5));
  assert.deepEqual(await first.end.next(), { type: "ack", seq: 5 });
  await disconnect(first);

  const second = await loggedIn({ seen, server });
  // The ack of 5 was lost: the server sends 5 again, then 6.
  second.end.send(toAlice(5), toAlice(6));
  assert.deepEqual(await second.end.next(), { type: "ack", seq: 6 });
  second.end.send(toAlice(5));
  assert.deepEqual(await second.end.next(), { type: "ack", seq: 5 });
  const texts = second.events.flatMap((e) =>
    e.event === "message" ? [e.text] : []
  );
  assert.deepEqual(texts, ["m6"]);
  await teardown(second);
});

Deno.test("session echoes a sent message only when accepted", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  const id = s.session.send("bob", "hi bob");
  assert.equal(id, "1");
  assert.deepEqual(await s.end.next(), {
    type: "send",
    id: "1",
    to: "bob",
    text: "hi bob",
  });
  let settled = false;
  const done = s.session.settled().then(() => settled = true);
  await settle();
  assert.deepEqual(s.events, []);
  assert.equal(settled, false);
  s.end.send({
    type: "accepted",
    id: "1",
    to: "Bob",
    ts: 1622820929000,
    status: "sent",
  });
  await done;
  assert.deepEqual(s.events, [{
    event: "echo",
    id: "1",
    ts: 1622820929000,
    from: "alice",
    to: "Bob",
    text: "hi bob",
    status: "sent",
  }]);
  s.end.send({ type: "delivered", id: "1", to: "Bob" });
  await settle();
  assert.deepEqual(s.events[1], { event: "delivered", id: "1", to: "Bob" });
  await teardown(s);
});

Deno.test("session reports a message stored for an offline user", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("bob", "later");
  await s.end.next();
  s.end.send({
    type: "accepted",
    id: "1",
    to: "bob",
    ts: 5,
    status: "stored",
  });
  await s.session.settled();
  assert.equal(s.events[0].event === "echo" && s.events[0].status, "stored");
  await teardown(s);
});

Deno.test("session shows broadcasts once, from the msg and not the accepted", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("all", "hi all");
  await s.end.next();
  s.end.send(
    { type: "accepted", id: "1", to: "all", ts: 9, status: "broadcast" },
    { type: "msg", from: "alice", to: "all", ts: 9, text: "hi all" },
  );
  await s.session.settled();
  await settle();
  assert.deepEqual(s.events, [
    { event: "broadcast", ts: 9, from: "alice", text: "hi all" },
  ]);
  assert.deepEqual(s.end.unread, [], "Expected no ack for a broadcast");
  await teardown(s);
});

Deno.test("session says what waits for answers after a broadcast's echo, whichever of its two answers comes first", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  const said = (text: string) => () => s.events.push(notice("help", text));
  const echo = (text: string) => ({
    type: "msg",
    from: "alice",
    to: "all",
    ts: 1,
    text,
  });
  s.session.send("all", "one");
  s.session.afterAnswers(said("after one"));
  s.session.send("all", "two");
  s.session.afterAnswers(said("after two"));
  await s.end.next();
  await s.end.next();
  // The echo before the acceptance (as the server sends them), then the
  // acceptance alone, its echo in a later read.
  s.end.send(echo("one"), {
    type: "accepted",
    id: "1",
    to: "all",
    ts: 1,
    status: "broadcast",
  });
  s.end.send({
    type: "accepted",
    id: "2",
    to: "all",
    ts: 2,
    status: "broadcast",
  });
  await settle();
  s.end.send(echo("two"));
  await settle();
  assert.deepEqual(
    s.events.map((e) =>
      e.event === "broadcast" ? e.text : "text" in e && e.text
    ),
    ["one", "after one", "two", "after two"],
  );
  await teardown(s);
});

Deno.test("session takes a send to everyone under any spelling of all as a broadcast, waiting for its echo", async () => {
  // The server folds "ＡＬＬ" to "all" as it does every name.
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("ＡＬＬ", "hello everyone");
  s.session.afterAnswers(() => s.events.push(notice("help", "after")));
  await s.end.next();
  s.end.send({
    type: "accepted",
    id: "1",
    to: "all",
    ts: 1,
    status: "broadcast",
  });
  await settle();
  s.end.send({
    type: "msg",
    from: "alice",
    to: "all",
    ts: 1,
    text: "hello everyone",
  });
  await settle();
  assert.deepEqual(
    s.events.map((e) => e.event === "notice" ? e.text : e.event),
    ["broadcast", "after"],
  );
  await teardown(s);
});

Deno.test("session tells the user, in the user's terms, about lines from the server it cannot read", async () => {
  // The parser's words ("send one JSON object per line") are advice for
  // whoever writes a client, not for the person using this one.
  const s = await loggedIn();
  s.events.length = 0;
  (s.end.link as MemoryLink).sendBytes(
    new TextEncoder().encode('hello\n[1]\n{"type":"frob"}\n{"a":1}\n'),
  );
  await settle();
  assert.deepEqual(s.events, [
    notice(
      "bad_server_frame",
      "the server sent something this client cannot read; it was skipped",
    ),
    notice(
      "bad_server_frame",
      "the server sent something this client cannot read; it was skipped",
    ),
    notice(
      "bad_server_frame",
      'the server sent a kind of message this client does not know ("frob"), perhaps from a newer parley; it was skipped',
    ),
    notice(
      "bad_server_frame",
      "the server sent something this client cannot read; it was skipped",
    ),
  ]);
  await teardown(s);
});

Deno.test("session says what waits for answers only once every earlier request is answered, even when a later one overtakes it", async () => {
  // A `who` answered before the message sent ahead of it must not let a
  // notice about the line after that message through early.
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("bob", "first");
  s.session.afterAnswers(() => s.events.push(notice("help", "after first")));
  s.session.who();
  await s.end.next();
  await s.end.next();
  s.end.send({ type: "who", users: ["alice"] });
  await settle();
  s.end.send({ type: "accepted", id: "1", to: "bob", ts: 1, status: "sent" });
  await settle();
  assert.deepEqual(s.events.map((e) => e.event), ["who", "echo", "notice"]);
  await teardown(s);
});

Deno.test("session says what waits for a slow answer anyway after a second", async () => {
  // The server is alive but never answers the send: HELP typed after it
  // must not wait for good.
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("bob", "hi");
  s.session.afterAnswers(() => s.events.push(notice("help", "held")));
  s.session.afterAnswers(() => s.events.push(notice("help", "held too")));
  await s.end.next();
  s.timers.tick(500);
  s.session.afterAnswers(() => s.events.push(notice("help", "held later")));
  s.timers.tick(499);
  assert.equal(s.events.length, 0);
  s.timers.tick(1);
  assert.deepEqual(s.events, [
    notice("help", "held"),
    notice("help", "held too"),
  ]);
  s.timers.tick(499);
  assert.equal(s.events.length, 2);
  s.timers.tick(1);
  assert.deepEqual(s.events.at(-1), notice("help", "held later"));
  s.end.send({ type: "accepted", id: "1", to: "bob", ts: 1, status: "sent" });
  await settle();
  assert.deepEqual(
    s.events.map((e) => e.event === "notice" ? e.text : e.event),
    ["held", "held too", "held later", "echo"],
  );
  await teardown(s);
});

Deno.test("session says what waits for answers before a lost connection is reported", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("bob", "into the void");
  s.session.afterAnswers(() => s.events.push(notice("help", "held")));
  await s.end.next();
  s.end.link.close();
  await s.session.closed;
  assert.deepEqual(
    s.events.map((e) => e.event === "notice" ? e.code : e.event),
    ["help", "disconnected", "unconfirmed"],
  );
  await teardown(s);
});

Deno.test("session says what waits for answers before the server's bye is reported", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("bob", "too late");
  s.session.afterAnswers(() => s.events.push(notice("help", "held")));
  await s.end.next();
  s.end.send({ type: "bye", reason: "shutdown", text: "Shutting down" });
  await s.session.closed;
  assert.deepEqual(
    s.events.map((e) => e.event === "notice" ? e.code : e.event),
    ["help", "disconnected", "unconfirmed"],
  );
  await teardown(s);
});

Deno.test("session turns a refused send into a notice", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("zed", "hello?");
  await s.end.next();
  s.end.send({
    type: "error",
    code: "no_such_user",
    text: "No such user: zed",
    id: "1",
  });
  await s.session.settled();
  assert.deepEqual(s.events, [
    {
      event: "notice",
      code: "no_such_user",
      text: "No such user: zed",
      refused: { id: "1", to: "zed", text: "hello?" },
    },
  ]);
  await teardown(s);
});

Deno.test("session refuses a text over the size limit without sending", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  assert.equal(s.session.send("bob", "x".repeat(8193)), undefined);
  assert.equal(
    s.events[0].event === "notice" && s.events[0].code,
    "text_too_large",
  );
  await teardown(s);
});

Deno.test("session answers who", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  assert.equal(s.session.who(), true);
  assert.deepEqual(await s.end.next(), { type: "who" });
  s.end.send({ type: "who", users: ["alice", "bob"] });
  await s.session.settled();
  assert.deepEqual(s.events, [{ event: "who", users: ["alice", "bob"] }]);
  await teardown(s);
});

Deno.test("session counts a who the server refused as answered", async () => {
  // Otherwise the session would wait for an answer that never comes, and a
  // script ending after too many WHO lines would hang until its timeout.
  const s = await loggedIn();
  s.events.length = 0;
  s.session.who();
  assert.deepEqual(await s.end.next(), { type: "who" });
  const text = "Too many who requests: at most 10 at once, then 1 per second";
  s.end.send({ type: "error", code: "rate_limited", text });
  await s.session.settled();
  assert.deepEqual(s.events, [notice("rate_limited", text)]);
  await teardown(s);
});

Deno.test("session answers a ping with a pong", async () => {
  const s = await loggedIn();
  s.end.send({ type: "ping" });
  assert.deepEqual(await s.end.next(), { type: "pong" });
  await teardown(s);
});

Deno.test("session reports the server's bye and closes", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  s.end.send({
    type: "bye",
    reason: "shutdown",
    text: "Server is shutting down",
  });
  await s.session.closed;
  assert.deepEqual(s.events, [{
    event: "disconnected",
    reason: "shutdown",
    text: "Server is shutting down",
  }]);
  await teardown(s);
});

Deno.test("session reports a lost connection and unconfirmed sends", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("bob", "into the void");
  await s.end.next();
  s.end.link.close();
  await s.session.closed;
  assert.deepEqual(
    s.events.map((e) => e.event === "notice" ? e.code : e.event),
    [
      "disconnected",
      "unconfirmed",
    ],
  );
  assert.equal(
    s.events[0].event === "disconnected" && s.events[0].reason,
    "lost",
  );
  assert.deepEqual(s.events[1], {
    event: "notice",
    code: "unconfirmed",
    text:
      "the connection ended before the server answered; it may not have arrived",
    unconfirmed: { id: "1", to: "bob", text: "into the void" },
  });
  await s.session.settled();
  await teardown(s);
});

Deno.test("session leaves with bye and waits for the server's bye", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  const left = s.session.leave();
  assert.deepEqual(await s.end.next(), { type: "bye" });
  s.end.send({ type: "bye", reason: "client_left", text: "Goodbye" });
  await left;
  assert.equal(s.session.state, "closed");
  assert.deepEqual(s.events, [
    { event: "disconnected", reason: "client_left", text: "Goodbye" },
  ]);
  await teardown(s);
});

Deno.test("session leaving gives up waiting after the grace time", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  const left = s.session.leave(2_000);
  assert.deepEqual(await s.end.next(), { type: "bye" });
  s.timers.tick(2_000);
  await left;
  assert.equal(s.session.state, "closed");
  assert.deepEqual(s.events, [], "Expected no lost-connection event");
  await teardown(s);
});

Deno.test("session pings a silent server and gives up when it stays silent", async () => {
  const s = await loggedIn({
    readyFields: { pingInterval: 30, pingTimeout: 10 },
  });
  s.events.length = 0;
  s.timers.tick(29_999);
  await settle();
  assert.deepEqual(s.end.unread, []);
  s.timers.tick(1);
  assert.deepEqual(await s.end.next(), { type: "ping" });
  s.timers.tick(10_000);
  await s.session.closed;
  assert.deepEqual(s.events, [{
    event: "disconnected",
    reason: "no_answer",
    text: "the server stopped answering",
  }]);
  await teardown(s);
});

Deno.test("session keeps a connection that answers its ping", async () => {
  const s = await loggedIn({
    readyFields: { pingInterval: 30, pingTimeout: 10 },
  });
  s.timers.tick(30_000);
  assert.deepEqual(await s.end.next(), { type: "ping" });
  s.timers.tick(9_000);
  s.end.send({ type: "pong" });
  await settle();
  s.timers.tick(29_000);
  assert.equal(s.session.state, "ready");
  await teardown(s);
});

/** What the session showed: message texts and notice texts, in order. */
function shown(events: ChatEvent[]): string[] {
  return events.flatMap((e) =>
    e.event === "message" || e.event === "notice" ? [e.text] : []
  );
}

Deno.test("session shows seqs again once the server's database was replaced", async () => {
  // A wiped database numbers from 1 again: remembering the old instance's
  // seqs would hide (and ack) every new message.
  const seen = new Map<string, number>();
  const server = await new FakeServer().start();
  const first = await loggedIn({
    seen,
    server,
    readyFields: { instance: "a" },
  });
  first.end.send(toAlice(1), toAlice(2), toAlice(3));
  assert.deepEqual(await first.end.next(), { type: "ack", seq: 3 });
  await disconnect(first);

  const second = await loggedIn({
    seen,
    server,
    readyFields: { instance: "b" },
  });
  second.end.send(toAlice(1), toAlice(2));
  assert.deepEqual(await second.end.next(), { type: "ack", seq: 2 });
  assert.deepEqual(shown(second.events), ["m1", "m2"]);
  await teardown(second);
  server.close();
});

Deno.test("session does not show a seq again when the same database is reached under another address", async () => {
  // Through a proxy first, then directly: one server, one `instance`, so
  // one numbering of the messages.
  const seen = new Map<string, number>();
  const server = await new FakeServer().start();
  const first = await loggedIn({ seen, server, address: "proxy:1" });
  first.end.send(toAlice(1), toAlice(2));
  assert.deepEqual(await first.end.next(), { type: "ack", seq: 2 });
  await disconnect(first);

  // The acks were lost on the way: 1 and 2 are stored again, with 3.
  const second = await loggedIn({
    seen,
    server,
    readyFields: { stored: 3 },
  });
  second.end.send(toAlice(1), toAlice(2), toAlice(3));
  assert.deepEqual(await second.end.next(), { type: "ack", seq: 3 });
  assert.deepEqual(shown(second.events), [
    "1 message arrived while you were away",
    "m3",
  ]);
  await teardown(second);
  server.close();
});

Deno.test("session keeps the seqs of servers without an instance apart by address", async () => {
  // Nothing says two such addresses reach one database: numbers seen at
  // one must not hide the other's messages.
  const seen = new Map<string, number>();
  const server = await new FakeServer().start();
  const first = await loggedIn({
    seen,
    server,
    address: "old:1",
    readyFields: { instance: undefined },
  });
  first.end.send(toAlice(1));
  assert.deepEqual(await first.end.next(), { type: "ack", seq: 1 });
  await disconnect(first);

  const second = await loggedIn({
    seen,
    server,
    address: "old:2",
    readyFields: { instance: undefined },
  });
  second.end.send(toAlice(1));
  assert.deepEqual(await second.end.next(), { type: "ack", seq: 1 });
  assert.deepEqual(shown(second.events), ["m1"]);
  await teardown(second);
  server.close();
});

Deno.test("session announces stored messages before the first one shown, counting only new ones", async () => {
  const seen = new Map<string, number>();
  const server = await new FakeServer().start();
  const first = await loggedIn({ seen, server });
  first.end.send(toAlice(4), toAlice(5));
  assert.deepEqual(await first.end.next(), { type: "ack", seq: 5 });
  await disconnect(first);

  // The acks were lost: 4 and 5 are stored again, with 6 and 7.
  const second = await loggedIn({ seen, server, readyFields: { stored: 4 } });
  second.end.send(toAlice(4), toAlice(5), toAlice(6), toAlice(7));
  assert.deepEqual(await second.end.next(), { type: "ack", seq: 7 });
  assert.deepEqual(shown(second.events), [
    "2 messages arrived while you were away",
    "m6",
    "m7",
  ]);
  await teardown(second);
  server.close();
});

Deno.test("session says nothing about stored messages when all were shown before", async () => {
  const seen = new Map<string, number>();
  const server = await new FakeServer().start();
  const first = await loggedIn({ seen, server });
  first.end.send(toAlice(4), toAlice(5));
  assert.deepEqual(await first.end.next(), { type: "ack", seq: 5 });
  await disconnect(first);

  const second = await loggedIn({ seen, server, readyFields: { stored: 2 } });
  second.end.send(toAlice(4), toAlice(5));
  assert.deepEqual(await second.end.next(), { type: "ack", seq: 5 });
  // A live message after the replay is not announced either.
  second.end.send(toAlice(6));
  assert.deepEqual(await second.end.next(), { type: "ack", seq: 6 });
  assert.deepEqual(shown(second.events), ["m6"]);
  await teardown(second);
  server.close();
});

Deno.test("session paces sends to the rate the server announced", async () => {
  const s = await loggedIn({ readyFields: { rateLimit: 10, rateBurst: 3 } });
  for (let i = 1; i <= 4; i++) s.session.send("bob", `m${i}`);
  let flushed = false;
  const done = s.session.flushed().then(() => flushed = true);
  // The burst less one goes at once.
  assert.equal((await s.end.next())?.text, "m1");
  assert.equal((await s.end.next())?.text, "m2");
  await settle();
  assert.deepEqual(s.end.unread, []);
  // Then 9 a second (90 % of the limit): one every 112 ms.
  s.timers.tick(111);
  await settle();
  assert.deepEqual(s.end.unread, []);
  s.timers.tick(1);
  assert.equal((await s.end.next())?.text, "m3");
  assert.equal(flushed, false);
  s.timers.tick(112);
  assert.equal((await s.end.next())?.text, "m4");
  await done;
  await teardown(s);
});

Deno.test("session paces who requests below the server's limit, and flushed waits for them", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  for (let i = 0; i < WHO_BURST; i++) assert.equal(s.session.who(), true);
  let flushed = false;
  const done = s.session.flushed().then(() => flushed = true);
  // The burst less one goes at once, then 0.9 a second.
  for (let i = 1; i < WHO_BURST; i++) {
    assert.deepEqual(await s.end.next(), { type: "who" });
  }
  await settle();
  assert.deepEqual(s.end.unread, []);
  assert.equal(flushed, false);
  s.timers.tick(1_111);
  await settle();
  assert.deepEqual(s.end.unread, []);
  s.timers.tick(1);
  assert.deepEqual(await s.end.next(), { type: "who" });
  await done;
  await teardown(s);
});

Deno.test("session leaving drops the who requests still waiting for their pace", async () => {
  const s = await loggedIn();
  for (let i = 0; i < WHO_BURST + 2; i++) s.session.who();
  for (let i = 1; i < WHO_BURST; i++) {
    assert.deepEqual(await s.end.next(), { type: "who" });
  }
  const flushed = s.session.flushed();
  const leaving = s.session.leave();
  await flushed;
  assert.equal(s.session.who(), false, "no who once leaving");
  assert.deepEqual(await s.end.next(), { type: "bye" });
  s.end.send({ type: "bye", reason: "client_left", text: "Goodbye" });
  await leaving;
  s.server.close();
  assert.equal(s.timers.pending, 0, "Expected no timers left running");
});

Deno.test("session keeps at most 64 sends unanswered and sends more as answers come", async () => {
  const s = await loggedIn();
  for (let i = 1; i <= MAX_UNANSWERED_SENDS + 2; i++) {
    s.session.send("bob", `m${i}`);
  }
  await settle();
  const sent = s.end.unread.filter((f) => f.type === "send");
  assert.equal(sent.length, MAX_UNANSWERED_SENDS);
  for (let i = 0; i < MAX_UNANSWERED_SENDS; i++) await s.end.next();
  let flushed = false;
  const done = s.session.flushed().then(() => flushed = true);
  s.end.send({ type: "accepted", id: "1", to: "bob", ts: 1, status: "sent" });
  assert.equal((await s.end.next())?.id, String(MAX_UNANSWERED_SENDS + 1));
  await settle();
  assert.equal(flushed, false);
  s.end.send({ type: "error", code: "no_such_user", text: "No", id: "2" });
  assert.equal((await s.end.next())?.id, String(MAX_UNANSWERED_SENDS + 2));
  await done;
  await teardown(s);
});

Deno.test("session keeps at most 256 KiB of sends unanswered", async () => {
  const s = await loggedIn();
  const text = "G".repeat(8_000);
  const fit = Math.floor(MAX_UNANSWERED_BYTES / (text.length + 40));
  for (let i = 1; i <= fit + 1; i++) s.session.send("bob", text);
  await settle();
  assert.equal(s.end.unread.length, fit);
  assert.ok(fit < MAX_UNANSWERED_SENDS, "Expected bytes to be the limit");
  for (let i = 0; i < fit; i++) await s.end.next();
  s.end.send({ type: "accepted", id: "1", to: "bob", ts: 1, status: "sent" });
  assert.equal((await s.end.next())?.id, String(fit + 1));
  await teardown(s);
});

Deno.test("session reports messages still waiting when the connection ends as not sent", async () => {
  const s = await loggedIn({ readyFields: { rateLimit: 1, rateBurst: 2 } });
  s.events.length = 0;
  s.session.send("bob", "first");
  s.session.send("bob", "second");
  assert.equal((await s.end.next())?.text, "first");
  const flushed = s.session.flushed();
  s.end.link.close();
  await s.session.closed;
  await flushed;
  assert.deepEqual(s.events.slice(1), [
    {
      event: "notice",
      code: "unconfirmed",
      text:
        "the connection ended before the server answered; it may not have arrived",
      unconfirmed: { id: "1", to: "bob", text: "first" },
    },
    {
      event: "notice",
      code: "not_sent",
      text: "the connection ended before it could be sent",
      refused: { id: "2", to: "bob", text: "second" },
    },
  ]);
  assert.equal(s.timers.pending, 0, "Expected the pacing timer stopped");
  s.server.close();
});

Deno.test("session shows no stored message arriving after its bye, leaving it to the next login", async () => {
  // The server ignores an ack after the bye: a message shown now would be
  // shown again at the next login.
  const seen = new Map<string, number>();
  const s = await loggedIn({ seen, readyFields: { stored: 3 } });
  s.end.send(toAlice(1));
  assert.deepEqual(await s.end.next(), { type: "ack", seq: 1 });
  const left = s.session.leave();
  assert.deepEqual(await s.end.next(), { type: "bye" });
  s.end.send(toAlice(2), toAlice(3), {
    type: "bye",
    reason: "client_left",
    text: "Goodbye",
  });
  await left;
  assert.deepEqual(shown(s.events), [
    "3 messages arrived while you were away",
    "m1",
  ]);
  assert.deepEqual(s.end.unread, [], "Expected no ack after the bye");
  assert.equal(seen.get("instance:db-1|alice"), 1);
  await teardown(s);
});

Deno.test("session leaving acks every message shown before its bye", async () => {
  const s = await loggedIn();
  s.end.send(toAlice(4), toAlice(5));
  s.end.send(toAlice(6));
  await settle();
  const left = s.session.leave();
  await settle();
  const frames = s.end.unread;
  assert.deepEqual(frames.at(-1), { type: "bye" });
  const acked = Math.max(
    ...frames.flatMap((f) => f.type === "ack" ? [f.seq as number] : []),
  );
  assert.equal(acked, 6);
  s.end.send({ type: "bye", reason: "client_left", text: "Goodbye" });
  await left;
  await teardown(s);
});

Deno.test("session leaving waits for the answers to sent messages before its bye", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("bob", "quick");
  const sent = await s.end.next();
  assert.equal(sent?.type, "send");
  const left = s.session.leave();
  // Called twice (QUIT, then Ctrl-C): one leaving, one bye.
  const again = s.session.leave();
  await settle();
  assert.deepEqual(s.end.unread, [], "Expected no bye before the answer");
  s.end.send({ type: "accepted", id: sent!.id, ts: 5, status: "sent" });
  assert.deepEqual(await s.end.next(), { type: "bye" });
  s.end.send({ type: "bye", reason: "client_left", text: "Goodbye" });
  await Promise.all([left, again]);
  assert.deepEqual(s.events.map((e) => e.event), ["echo", "disconnected"]);
  assert.deepEqual(s.end.unread, [], "Expected exactly one bye");
  await teardown(s);
});

Deno.test("session leaving says bye after 5 s without answers to sent messages", async () => {
  const s = await loggedIn();
  s.events.length = 0;
  s.session.send("bob", "unanswered");
  await s.end.next();
  const left = s.session.leave();
  await settle();
  s.timers.tick(4_999);
  await settle();
  assert.deepEqual(s.end.unread, [], "Expected no bye before 5 s");
  s.timers.tick(1);
  assert.deepEqual(await s.end.next(), { type: "bye" });
  // A late answer still counts.
  s.end.send({ type: "error", id: "1", code: "rate_limited", text: "Slow" });
  s.end.send({ type: "bye", reason: "client_left", text: "Goodbye" });
  await left;
  assert.deepEqual(
    s.events.map((e) => e.event === "notice" ? e.code : e.event),
    ["rate_limited", "disconnected"],
  );
  await teardown(s);
});

Deno.test("session backlog waits for every stored message announced, duplicates included", async () => {
  const seen = new Map<string, number>([["instance:db-1|alice", 1]]);
  const s = await loggedIn({ seen, readyFields: { stored: 3 } });
  let done = false;
  const backlog = s.session.backlog().then(() => done = true);
  s.end.send(toAlice(1), toAlice(2));
  await s.end.next();
  await settle();
  assert.equal(done, false, "Expected the wait to go on for the third");
  // A broadcast is not part of the backlog.
  s.end.send({ type: "msg", from: "bob", to: "all", ts: 1, text: "hey" });
  await settle();
  assert.equal(done, false);
  s.end.send(toAlice(3));
  await backlog;
  assert.deepEqual(shown(s.events), [
    "2 messages arrived while you were away",
    "m2",
    "m3",
  ]);
  await teardown(s);
});

Deno.test("session backlog wait ends after a silence of the server", async () => {
  const s = await loggedIn({ readyFields: { stored: 3 } });
  let done = false;
  const backlog = s.session.backlog(3_000).then(() => done = true);
  s.end.send(toAlice(1));
  await s.end.next();
  s.timers.tick(2_999);
  await settle();
  assert.equal(done, false, "Expected a frame to restart the wait");
  s.timers.tick(1);
  await backlog;
  await teardown(s);
});
