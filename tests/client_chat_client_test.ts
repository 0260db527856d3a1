import assert from "node:assert/strict";
import { ChatClient, type ChatClientOptions } from "../client/chat_client.ts";
import { HELP_TEXT, parseCommand } from "../client/commands.ts";
import { type ChatEvent, notice } from "../client/events.ts";
import {
  FakeServer,
  FakeTimers,
  ready,
  type ServerEnd,
  toAlice,
} from "./client_fakes.ts";

function newClient(
  server: FakeServer,
  events: ChatEvent[],
  options: Partial<ChatClientOptions> = {},
): ChatClient {
  return new ChatClient({
    transport: server.transport,
    name: "alice",
    onEvent: (event) => events.push(event),
    password: () => Promise.resolve("pw"),
    timers: new FakeTimers(),
    ...options,
  });
}

/** Answers the login of the next connection. */
async function acceptLogin(server: FakeServer): Promise<ServerEnd> {
  const end = await server.accept();
  await end.next();
  end.send({ type: "auth", mode: "login", name: "alice" });
  await end.next();
  end.send(ready());
  return end;
}

/**
 * Takes the next connection through `hello` and `auth` (a new account),
 * waits until the client asks its user for the password (`asked` is what
 * its password source fills), then gives up on the login as the server's
 * login timeout does.
 */
async function timeOutWhileAsking(
  server: FakeServer,
  asked: unknown[],
): Promise<void> {
  const end = await server.accept();
  assert.equal((await end.next())?.type, "hello");
  end.send({ type: "auth", mode: "register", name: "alice" });
  while (asked.length === 0) await new Promise((r) => setTimeout(r, 0));
  end.send({
    type: "bye",
    reason: "login_timeout",
    text: "Login took too long",
  });
  await end.closed;
}

/** A client logged in to a new fake server at `chat:7`. */
async function loggedInAt7() {
  const server = await new FakeServer("chat:7").start();
  const events: ChatEvent[] = [];
  const client = newClient(server, events);
  const [, end] = await Promise.all([
    client.execute(parseCommand("HI chat:7")),
    acceptLogin(server),
  ]);
  return { server, events, client, end };
}

/** The server ends the session on `end` and stops listening. */
async function restart(server: FakeServer, end: ServerEnd): Promise<void> {
  end.send({ type: "bye", reason: "shutdown", text: "Restarting" });
  await end.closed;
  server.close();
}

Deno.test("chat client prompt shows the server and name once connected", async () => {
  const server = await new FakeServer("chat:7").start();
  const events: ChatEvent[] = [];
  const client = newClient(server, events);
  assert.equal(client.prompt, "alice> ");
  const [outcome, end] = await Promise.all([
    client.execute(parseCommand("HI chat:7")),
    acceptLogin(server),
  ]);
  assert.equal(outcome, "continue");
  assert.equal(client.prompt, "chat:7|alice > ");
  end.send({ type: "bye", reason: "shutdown", text: "Restarting" });
  await end.closed;
  assert.equal(client.prompt, "alice> ");
  server.close();
});

Deno.test("chat client says a command needs a connection", async () => {
  const server = await new FakeServer().start();
  const events: ChatEvent[] = [];
  const client = newClient(server, events);
  for (const line of ["@bob hi", "WHO", "BYE"]) {
    assert.equal(await client.execute(parseCommand(line)), "continue");
  }
  assert.deepEqual(events.map((e) => e.event === "notice" && e.code), [
    "not_connected",
    "not_connected",
    "not_connected",
  ]);
  assert.equal(await client.execute(parseCommand("quit")), "quit");
  server.close();
});

Deno.test("chat client reports a failed HI with the address", async () => {
  const server = await new FakeServer().start();
  const client = newClient(server, []);
  const outcome = await client.execute(parseCommand("HI nowhere:1"));
  assert.equal(typeof outcome, "object");
  assert.match(
    (outcome as { failed: string }).failed,
    /^cannot connect to nowhere:1: Nothing listens at nowhere:1$/,
  );
  server.close();
});

Deno.test("chat client hides messages already shown before a reconnect", async () => {
  const server = await new FakeServer().start();
  const events: ChatEvent[] = [];
  const client = newClient(server, events);
  const msg = { type: "msg", from: "bob", to: "alice", ts: 1, text: "once" };
  const [, first] = await Promise.all([
    client.execute(parseCommand("HI chat:1")),
    acceptLogin(server),
  ]);
  first.send({ ...msg, seq: 3 });
  assert.deepEqual(await first.next(), { type: "ack", seq: 3 });
  first.link.close();
  await first.closed;

  const [, second] = await Promise.all([
    client.execute(parseCommand("hi chat:1")),
    acceptLogin(server),
  ]);
  second.send({ ...msg, seq: 3 });
  assert.deepEqual(await second.next(), { type: "ack", seq: 3 });
  const leaving = client.execute(parseCommand("QUIT"));
  assert.deepEqual(await second.next(), { type: "bye" });
  second.send({ type: "bye", reason: "client_left", text: "Goodbye" });
  assert.equal(await leaving, "quit");
  assert.equal(events.filter((e) => e.event === "message").length, 1);
  server.close();
});

Deno.test("chat client says which server it leaves when HI is typed while connected", async () => {
  const server = await new FakeServer("chat:1").start();
  const events: ChatEvent[] = [];
  const client = new ChatClient({
    transport: server.transport,
    name: "alice",
    onEvent: (event) => events.push(event),
    password: () => Promise.resolve("pw"),
    timers: new FakeTimers(),
  });
  const [, first] = await Promise.all([
    client.execute(parseCommand("HI chat:1")),
    acceptLogin(server),
  ]);
  const moving = client.execute(parseCommand("HI chat:1"));
  assert.deepEqual(await first.next(), { type: "bye" });
  first.send({ type: "bye", reason: "client_left", text: "Goodbye" });
  const second = await acceptLogin(server);
  assert.equal(await moving, "continue");
  assert.equal(client.prompt, "chat:1|alice > ");
  assert.deepEqual(events.map((e) => e.event === "notice" ? e.text : e.event), [
    "connected",
    "leaving chat:1",
    "disconnected",
    "connected",
  ]);
  second.link.close();
  await second.closed;
  server.close();
});

Deno.test("chat client counts the messages that were not accepted", async () => {
  const server = await new FakeServer().start();
  const events: ChatEvent[] = [];
  const client = newClient(server, events);
  await client.execute(parseCommand("@bob before connecting"));
  const [, end] = await Promise.all([
    client.execute(parseCommand("HI chat:1")),
    acceptLogin(server),
  ]);
  for (const line of ["@bob one", "@zed two", "@bob three"]) {
    await client.execute(parseCommand(line));
  }
  await client.execute(parseCommand(`@bob ${"x".repeat(8193)}`));
  const [one, two] = [await end.next(), await end.next(), await end.next()];
  end.send(
    { type: "accepted", id: one!.id, to: "bob", ts: 1, status: "sent" },
    { type: "error", code: "no_such_user", text: "No such user", id: two!.id },
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(client.unaccepted, 3);
  // "three" is never answered.
  end.link.close();
  await end.closed;
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(client.unaccepted, 4);
  server.close();
});

Deno.test("unattended chat client says not connected once until it logs in again, counting every message", async () => {
  const server = await new FakeServer().start();
  const events: ChatEvent[] = [];
  const client = newClient(server, events, { unattended: true });
  const notConnected = () =>
    events.filter((e) => e.event === "notice" && e.code === "not_connected")
      .length;
  for (const line of ["@bob one", "WHO", "@bob two"]) {
    await client.execute(parseCommand(line));
  }
  assert.equal(notConnected(), 1);
  assert.equal(client.unaccepted, 2);
  const [, end] = await Promise.all([
    client.execute(parseCommand("HI chat:1")),
    acceptLogin(server),
  ]);
  end.link.close();
  await end.closed;
  await new Promise((resolve) => setTimeout(resolve, 0));
  for (let i = 0; i < 5; i++) await client.execute(parseCommand("@bob x"));
  assert.equal(notConnected(), 2, "Expected it said again after the loss");
  assert.equal(client.unaccepted, 7);
  server.close();
});

Deno.test("chat client at the end of input waits for the whole stored backlog before its bye", async () => {
  const server = await new FakeServer().start();
  const events: ChatEvent[] = [];
  const client = newClient(server, events);
  const connected = client.execute(parseCommand("HI chat:1"));
  const end = await server.accept();
  await end.next();
  end.send({ type: "auth", mode: "login", name: "alice" });
  await end.next();
  end.send(ready({ stored: 3 }));
  await connected;
  const finished = client.finish();
  end.send(toAlice(1));
  assert.deepEqual(await end.next(), { type: "ack", seq: 1 });
  end.send(toAlice(2), toAlice(3));
  assert.deepEqual(await end.next(), { type: "ack", seq: 3 });
  assert.deepEqual(await end.next(), { type: "bye" });
  end.send({ type: "bye", reason: "client_left", text: "Goodbye" });
  await finished;
  assert.deepEqual(
    events.flatMap((e) => e.event === "message" ? [e.text] : []),
    ["m1", "m2", "m3"],
  );
  server.close();
});

Deno.test("chat client shows HELP typed after a message the server is slow to answer a second later", async () => {
  const server = await new FakeServer("chat:7").start();
  const events: ChatEvent[] = [];
  const timers = new FakeTimers();
  const client = newClient(server, events, { timers });
  const [, end] = await Promise.all([
    client.execute(parseCommand("HI chat:7")),
    acceptLogin(server),
  ]);
  events.length = 0;
  await client.execute(parseCommand("@bob hi"));
  await client.execute(parseCommand("HELP"));
  assert.equal((await end.next())?.type, "send");
  timers.tick(999);
  assert.equal(events.length, 0);
  timers.tick(1);
  assert.deepEqual(events, [notice("help", HELP_TEXT)]);
  client.session?.close();
  await end.closed;
  server.close();
});

Deno.test("a password typed after the server's login timeout logs in on a new connection", async () => {
  // It used to end the prompt, so the rest of the password was typed at
  // the command prompt: echoed, and quoted as an unknown command.
  const server = await new FakeServer("chat:7").start();
  const events: ChatEvent[] = [];
  let answer!: (password: string) => void;
  const asked: Array<{ mode: string; error?: string }> = [];
  let signal!: AbortSignal;
  const client = newClient(server, events, {
    password: (request) => {
      asked.push({ mode: request.mode, error: request.error });
      signal = request.signal;
      return new Promise((resolve) => answer = resolve);
    },
  });
  const connecting = client.execute(parseCommand("HI chat:7"));
  await timeOutWhileAsking(server, asked);
  assert.equal(signal.aborted, false, "the question was stopped");
  assert.deepEqual(events, []);

  answer("secret");
  const second = await server.accept();
  assert.equal((await second.next())?.type, "hello");
  second.send({ type: "auth", mode: "register", name: "alice" });
  assert.deepEqual(await second.next(), {
    type: "password",
    password: "secret",
  });
  second.send(ready());
  assert.equal(await connecting, "continue");
  assert.equal(asked.length, 1, "asked again");
  assert.deepEqual(
    events[0],
    notice(
      "login_again",
      "the server stopped waiting for the password; logging in again",
    ),
  );
  assert.equal(client.prompt, "chat:7|alice > ");
  await restart(server, second);
});

Deno.test("a password typed after the login timeout is not given when the server asks something else", async () => {
  const server = await new FakeServer("chat:7").start();
  const events: ChatEvent[] = [];
  const answers = ["meant-as-new", "the-real-one"];
  const asked: Array<{ mode: string }> = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const client = newClient(server, events, {
    password: async (request) => {
      asked.push({ mode: request.mode });
      if (asked.length === 1) await held;
      return answers.shift()!;
    },
  });
  const connecting = client.execute(parseCommand("HI chat:7"));
  await timeOutWhileAsking(server, asked);
  release();

  // Someone registered the name meanwhile: the new password is no answer.
  const second = await server.accept();
  await second.next();
  second.send({ type: "auth", mode: "login", name: "alice" });
  assert.deepEqual(await second.next(), {
    type: "password",
    password: "the-real-one",
  });
  second.send(ready());
  assert.equal(await connecting, "continue");
  assert.deepEqual(asked, [{ mode: "register" }, { mode: "login" }]);
  assert.deepEqual(
    events.filter((e) => e.event === "notice").map((e) =>
      e.event === "notice" && e.text
    ),
    [
      "the server stopped waiting for the password; logging in again",
      "alice was registered by someone else meanwhile; its password is asked for",
    ],
  );
  await restart(server, second);
});

Deno.test("a login timeout with no password being asked for still ends the login", async () => {
  const server = await new FakeServer("chat:7").start();
  const client = newClient(server, []);
  const connecting = client.execute(parseCommand("HI chat:7"));
  const end = await server.accept();
  await end.next();
  end.send({
    type: "bye",
    reason: "login_timeout",
    text: "Login took too long",
  });
  assert.deepEqual(await connecting, {
    failed: "cannot log in to chat:7 as alice: Login took too long",
  });
  server.close();
});

Deno.test("a receipt names its message when this client sent it, in any session", async () => {
  const { server, events, client, end: first } = await loggedInAt7();
  await client.execute(parseCommand("@carol see you at nine"));
  const send = await first.next();
  first.send({
    type: "accepted",
    id: send!.id,
    to: "carol",
    ts: 1,
    status: "stored",
  });
  // Logged in again elsewhere: carol reads it while alice is on a new
  // connection, and a receipt for a message of an earlier run comes too.
  const moving = client.execute(parseCommand("HI chat:7"));
  assert.deepEqual(await first.next(), { type: "bye" });
  first.send({ type: "bye", reason: "client_left", text: "Goodbye" });
  const second = await acceptLogin(server);
  assert.equal(await moving, "continue");
  second.send(
    { type: "delivered", id: "1", to: "carol" },
    { type: "delivered", id: send!.id, to: "carol" },
  );
  await client.execute(parseCommand("@bob next"));
  const next = await second.next();
  assert.equal(Number(next!.id), Number(send!.id) + 1, "ids go on counting");
  assert.deepEqual(events.filter((e) => e.event === "delivered"), [
    { event: "delivered", id: "1", to: "carol" },
    { event: "delivered", id: send!.id, to: "carol", text: "see you at nine" },
  ]);
  await restart(server, second);
});

Deno.test("a receipt names a message the client had reported not confirmed", async () => {
  const { server, events, client, end: first } = await loggedInAt7();
  await client.execute(parseCommand("@carol while you were stuck"));
  const send = await first.next();
  // The connection ends before the server answers it.
  first.link.close();
  await first.closed;
  const [, second] = await Promise.all([
    client.execute(parseCommand("HI chat:7")),
    acceptLogin(server),
  ]);
  second.send({ type: "delivered", id: send!.id, to: "carol" });
  await client.execute(parseCommand("WHO"));
  await second.next();
  assert.deepEqual(
    events.filter((e) =>
      e.event === "delivered" || (e.event === "notice" && e.unconfirmed)
    ).map((e) => e.event),
    ["notice", "delivered"],
  );
  assert.deepEqual(events.find((e) => e.event === "delivered"), {
    event: "delivered",
    id: send!.id,
    to: "carol",
    text: "while you were stuck",
  });
  await restart(server, second);
});
