/**
 * Runs the real `parley chat` as a subprocess against a small scripted
 * server on a TCP port, feeding it piped input, and checks exactly what it
 * prints.
 */

import assert from "node:assert/strict";
import { SocketTransport } from "../transport/socket.ts";
import type { Listener } from "../transport/transport.ts";
import { type Frame, ServerEnd } from "./client_fakes.ts";

const MOD = new URL("../mod.ts", import.meta.url).pathname;
// 2021/06/04 15:35:30 in Tokyo (UTC+9, no summer time).
const TS = Date.UTC(2021, 5, 4, 6, 35, 30);

interface ServerLog {
  received: Frame[];
}

/**
 * Answers one client the way the real server would, just enough for the
 * test: alice's password is "pw"; "zed" does not exist; bob has one
 * stored message waiting.
 */
async function serveOne(
  listener: Listener,
  log: ServerLog,
  mode: "login" | "register" = "login",
): Promise<void> {
  const link = await listener.accept();
  if (!link) return;
  const end = new ServerEnd(link);
  let ts = TS;
  while (true) {
    const frame = await end.next();
    if (!frame) break;
    log.received.push(frame);
    switch (frame.type) {
      case "hello":
        end.send({ type: "auth", mode, name: frame.name });
        break;
      case "password":
        if (frame.password !== "pw") {
          end.send({
            type: "error",
            code: "wrong_password",
            text: "Wrong password; 2 more tries on this connection",
          });
          break;
        }
        end.send(
          {
            type: "ready",
            v: 1,
            name: "alice",
            server: "fake",
            pingInterval: 30,
            pingTimeout: 10,
            stored: 1,
            expired: 0,
          },
          {
            type: "msg",
            from: "bob",
            to: "alice",
            ts: TS - 60_000,
            text: "are you there?",
            seq: 7,
          },
        );
        break;
      case "send":
        ts += 1000;
        if (frame.to === "zed") {
          end.send({
            type: "error",
            code: "no_such_user",
            text: "No such user: zed",
            id: frame.id,
          });
        } else if (frame.to === "all") {
          end.send(
            {
              type: "accepted",
              id: frame.id,
              to: "all",
              ts,
              status: "broadcast",
            },
            { type: "msg", from: "alice", to: "all", ts, text: frame.text },
          );
        } else {
          end.send(
            {
              type: "accepted",
              id: frame.id,
              to: frame.to,
              ts,
              status: frame.to === "carol" ? "stored" : "sent",
            },
          );
          if (frame.to === "bob") {
            end.send({ type: "delivered", id: frame.id, to: "bob" });
          }
        }
        break;
      case "who":
        end.send({ type: "who", users: ["alice", "bob"] });
        break;
      case "bye":
        end.send({ type: "bye", reason: "client_left", text: "Goodbye" });
        await end.link.end();
        break;
    }
  }
  await end.closed;
}

async function chat(
  args: string[],
  input: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string[]; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "chat", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { TZ: "Asia/Tokyo", NO_COLOR: "1", ...env },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout);
  return {
    code,
    stdout: text === "" ? [] : text.replace(/\n$/, "").split("\n"),
    stderr: new TextDecoder().decode(stderr),
  };
}

Deno.test("parley chat runs piped commands against a server and exits 1 naming how many messages were refused", async () => {
  const listener = await new SocketTransport().listen("127.0.0.1:0");
  const log: ServerLog = { received: [] };
  const served = serveOne(listener, log);
  const started = Date.now();
  const result = await chat(
    ["--name", "alice", "--server", listener.address],
    [
      "@bob hi bob\\",
      "second line",
      "@all hi all",
      "who",
      "@zed yo",
      "@carol later",
      "",
    ].join("\n"),
    { PARLEY_PASSWORD: "pw" },
  );
  await served;
  listener.close();
  // "@zed yo" was refused.
  assert.equal(result.stderr, "parley chat: 1 message was not accepted\n");
  assert.equal(result.code, 1);
  assert.deepEqual(result.stdout, [
    `*** connected to ${listener.address} as alice`,
    "*** 1 message arrived while you were away",
    "2021/06/04 15:34:30 bob: are you there?",
    "2021/06/04 15:35:31 alice -> bob: hi bob",
    "    second line",
    `*** delivered to bob ("hi bob…")`,
    "2021/06/04 15:35:32 broadcast from alice: hi all",
    "*** online: alice, bob",
    `*** not sent to zed ("yo"): no such user: zed`,
    "2021/06/04 15:35:34 alice -> carol: later",
    "*** carol is offline; message stored",
    "*** disconnected: goodbye",
  ]);
  const types = log.received.map((frame) => frame.type);
  assert.deepEqual(types, [
    "hello",
    "password",
    "ack",
    "send",
    "send",
    "who",
    "send",
    "send",
    "bye",
  ]);
  assert.deepEqual(log.received[2], { type: "ack", seq: 7 });
  // Ids count on from the time the client started, in milliseconds.
  const sends = log.received.filter((frame) => frame.type === "send");
  const ids = sends.map((frame) => Number(frame.id));
  assert.ok(ids[0] > started && ids[0] <= Date.now() + 1, `id ${ids[0]}`);
  assert.deepEqual(ids, [ids[0], ids[0] + 1, ids[0] + 2, ids[0] + 3]);
  assert.deepEqual(log.received[3], {
    type: "send",
    id: String(ids[0]),
    to: "bob",
    text: "hi bob\nsecond line",
  });
});

Deno.test("parley chat --json prints one JSON object per event", async () => {
  const listener = await new SocketTransport().listen("127.0.0.1:0");
  const log: ServerLog = { received: [] };
  const served = serveOne(listener, log, "register");
  const dir = await Deno.makeTempDir();
  const file = `${dir}/password`;
  await Deno.writeTextFile(file, "pw\n");
  const result = await chat(
    ["--name", "alice", "--json", "--password-file", file],
    `HI ${listener.address}\n@bob hi\n`,
  );
  await served;
  listener.close();
  await Deno.remove(dir, { recursive: true });
  assert.equal(result.code, 0);
  const id = log.received.find((frame) => frame.type === "send")?.id;
  assert.match(String(id), /^\d+$/);
  assert.deepEqual(result.stdout.map((line) => JSON.parse(line)), [
    {
      event: "connected",
      server: listener.address,
      name: "alice",
      registered: true,
      stored: 1,
      expired: 0,
    },
    {
      event: "notice",
      code: "stored_messages",
      text: "1 message arrived while you were away",
    },
    {
      event: "message",
      ts: TS - 60_000,
      from: "bob",
      to: "alice",
      text: "are you there?",
      seq: 7,
    },
    {
      event: "echo",
      id,
      ts: TS + 1000,
      from: "alice",
      to: "bob",
      text: "hi",
      status: "sent",
    },
    { event: "delivered", id, to: "bob", text: "hi" },
    { event: "disconnected", reason: "client_left", text: "Goodbye" },
  ]);
});

Deno.test("parley chat prints what each piped line leads to in the order of the lines", async () => {
  // The client's own notices (a typo, a message without text, one too
  // long) used to come out before the server's answers to earlier lines.
  const listener = await new SocketTransport().listen("127.0.0.1:0");
  const served = serveOne(listener, { received: [] });
  const result = await chat(
    ["--name", "alice", "--server", listener.address],
    [
      "@dan a",
      "@all hey",
      "WHOO",
      "@carol",
      "who",
      "@zed yo",
      `@dan ${"x".repeat(9_000)}`,
      "@dan b",
      "@dan unfinished\\",
    ].join("\n"),
    { PARLEY_PASSWORD: "pw" },
  );
  await served;
  listener.close();
  assert.deepEqual(result.stdout, [
    `*** connected to ${listener.address} as alice`,
    "*** 1 message arrived while you were away",
    "2021/06/04 15:34:30 bob: are you there?",
    "2021/06/04 15:35:31 alice -> dan: a",
    "2021/06/04 15:35:32 broadcast from alice: hey",
    '*** unknown command "WHOO"; type @name text, @all text, HI host:port, WHO, BYE, QUIT or HELP',
    '*** expected a message after "@carol", found nothing',
    "*** online: alice, bob",
    `*** not sent to zed ("yo"): no such user: zed`,
    "*** message is 9000 bytes; at most 8192 can be sent",
    "2021/06/04 15:35:34 alice -> dan: b",
    "*** the input ended in the middle of a message (its last line ends in \\); it was not sent",
    "*** disconnected: goodbye",
  ]);
  assert.equal(
    result.stderr,
    "parley chat: 2 messages were not accepted\n" +
      "parley chat: the input ended in the middle of a message (its last line ends in \\); it was not sent\n" +
      "parley chat: 2 lines were not commands\n",
  );
  assert.equal(result.code, 1);
});

Deno.test("parley chat exits 1 saying a message was not sent when piped input ends in the middle of it", async () => {
  // It used to be counted as "not accepted", as if the server had refused
  // it; it never left the client.
  const listener = await new SocketTransport().listen("127.0.0.1:0");
  const log: ServerLog = { received: [] };
  const served = serveOne(listener, log);
  const result = await chat(
    ["--name", "alice", "--server", listener.address],
    "@bob the last line\\\n",
    { PARLEY_PASSWORD: "pw" },
  );
  await served;
  listener.close();
  assert.equal(
    result.stderr,
    "parley chat: the input ended in the middle of a message (its last line ends in \\); it was not sent\n",
  );
  assert.equal(result.code, 1);
  assert.deepEqual(result.stdout, [
    `*** connected to ${listener.address} as alice`,
    "*** 1 message arrived while you were away",
    "2021/06/04 15:34:30 bob: are you there?",
    "*** the input ended in the middle of a message (its last line ends in \\); it was not sent",
    "*** disconnected: goodbye",
  ]);
  assert.deepEqual(log.received.map((frame) => frame.type), [
    "hello",
    "password",
    "ack",
    "bye",
  ]);
});

Deno.test("parley chat exits 1 at once on a wrong password without a terminal, without the tries it will not make", async () => {
  const listener = await new SocketTransport().listen("127.0.0.1:0");
  const served = serveOne(listener, { received: [] });
  const result = await chat(
    ["--name", "alice", "--server", listener.address],
    "@bob never sent\n",
    { PARLEY_PASSWORD: "nope" },
  );
  await served;
  listener.close();
  assert.equal(result.code, 1);
  assert.deepEqual(result.stdout, []);
  assert.equal(
    result.stderr,
    `parley chat: cannot log in to ${listener.address} as alice: Wrong password\n`,
  );
});

Deno.test("parley chat exits 1 when a password is needed and none given", async () => {
  const listener = await new SocketTransport().listen("127.0.0.1:0");
  const served = serveOne(listener, { received: [] });
  const result = await chat(["--name", "alice"], `hi ${listener.address}\n`);
  await served;
  listener.close();
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^parley chat: cannot log in to .* as alice: a password is needed; give --password-file FILE or set PARLEY_PASSWORD\n$/,
  );
});

Deno.test("parley chat exits 1 when it cannot connect", async () => {
  const listener = await new SocketTransport().listen("127.0.0.1:0");
  const address = listener.address;
  listener.close();
  const result = await chat(["--name", "alice", "--server", address], "");
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^parley chat: cannot connect to 127\.0\.0\.1:\d+: /,
  );
});

Deno.test("parley chat exits 2 naming a bad flag", async () => {
  const bad = await chat(["--name", "alice", "--server", "nowhere"], "");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^parley chat: .*'--server <host:port>'.*"nowhere"/);
  assert.equal(bad.stderr.trimEnd().split("\n").length, 1);

  const portZero = await chat(["--name", "alice", "--server", "h:0"], "");
  assert.equal(portZero.code, 2);
  assert.equal(
    portZero.stderr,
    `parley chat: option '--server <host:port>': expected host:port with a port from 1 to 65535, found "h:0" (see --help)\n`,
  );

  const noName = await chat([], "");
  assert.equal(noName.code, 2);
  assert.equal(
    noName.stderr,
    "parley chat: option '--name <name>': required when input is not a terminal (see --help)\n",
  );

  const unknown = await chat(["--colour"], "");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--colour/);
});

Deno.test("parley chat without a server explains commands and exits 1 for the message it could not send and the line that was no command", async () => {
  const result = await chat(["--name", "alice"], "@bob hi\nnonsense\nBYE\n");
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    "parley chat: 1 message was not accepted\n" +
      "parley chat: 1 line was not a command\n",
  );
  assert.deepEqual(result.stdout, [
    "*** not connected; type HI host:port first",
    '*** unknown command "nonsense"; type @name text, @all text, HI host:port, WHO, BYE, QUIT or HELP',
    "*** not connected",
  ]);
});

Deno.test("parley chat answers a line of only a backslash as a line that is no command", async () => {
  // It was taken as the start of a continued message that came to
  // nothing, and ignored without a word.
  const result = await chat(["--name", "alice"], "\\\nBYE\n");
  assert.equal(result.code, 1);
  assert.equal(result.stderr, "parley chat: 1 line was not a command\n");
  assert.deepEqual(result.stdout, [
    '*** unknown command "\\"; type @name text, @all text, HI host:port, WHO, BYE, QUIT or HELP',
    "*** not connected",
  ]);
});

Deno.test("parley chat unattended exits 1 when a line is no command, even if nothing else failed", async () => {
  const result = await chat(["--name", "alice"], "WHOO\n@bob\nHELP\n");
  assert.equal(result.code, 1);
  assert.equal(result.stderr, "parley chat: 2 lines were not commands\n");
});

Deno.test("parley chat unattended exits 1 for a WHO it could not run, not connected", async () => {
  // A script whose connection was taken over went on to its WHO and
  // exited 0, as if it had run.
  const result = await chat(["--name", "alice"], "WHO\n");
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    "parley chat: 1 command was not run: not connected\n",
  );
  assert.deepEqual(result.stdout, [
    "*** not connected; type HI host:port first",
  ]);
});

Deno.test("parley chat unattended that cannot connect also says what failed before", async () => {
  const listener = await new SocketTransport().listen("127.0.0.1:0");
  const address = listener.address;
  listener.close();
  const result = await chat(
    ["--name", "alice"],
    `@bob hi\nWHOO\nHI ${address}\n@bob never\n`,
  );
  assert.equal(result.code, 1);
  const lines = result.stderr.trimEnd().split("\n");
  assert.match(lines[0], /^parley chat: cannot connect to 127\.0\.0\.1:\d+: /);
  assert.deepEqual(lines.slice(1), [
    "parley chat: 1 message was not accepted",
    "parley chat: 1 line was not a command",
  ]);
});

Deno.test("parley chat --json that cannot connect says so on stdout as an event too", async () => {
  const listener = await new SocketTransport().listen("127.0.0.1:0");
  const address = listener.address;
  listener.close();
  const result = await chat(
    ["--json", "--name", "alice", "--server", address],
    "",
  );
  assert.equal(result.code, 1);
  assert.equal(result.stdout.length, 1);
  const event = JSON.parse(result.stdout[0]);
  assert.equal(event.event, "notice");
  assert.equal(event.code, "login_failed");
  assert.match(event.text, /^cannot connect to 127\.0\.0\.1:\d+: /);
  assert.equal(result.stderr, `parley chat: ${event.text}\n`);
});

Deno.test("parley chat --password-file /dev/stdin takes the first line and runs the rest as commands", async () => {
  // The whole pipe used to be read as the file: the commands were lost.
  const listener = await new SocketTransport().listen("127.0.0.1:0");
  const log: ServerLog = { received: [] };
  const served = serveOne(listener, log);
  const result = await chat(
    [
      "--name",
      "alice",
      "--server",
      listener.address,
      "--password-file",
      "/dev/stdin",
    ],
    "pw\nwho\n",
  );
  await served;
  listener.close();
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    log.received.filter((f) => f.type === "password" || f.type === "who"),
    [{ type: "password", password: "pw" }, { type: "who" }],
  );
  assert.ok(result.stdout.includes("*** online: alice, bob"));
});
