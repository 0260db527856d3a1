import assert from "node:assert/strict";
import { LineJoiner, parseCommand } from "../client/commands.ts";

Deno.test("parseCommand() reads keywords in any case", () => {
  assert.deepEqual(parseCommand("who"), { kind: "who" });
  assert.deepEqual(parseCommand("  Bye "), { kind: "bye" });
  assert.deepEqual(parseCommand("QUIT"), { kind: "quit" });
  assert.deepEqual(parseCommand("help"), { kind: "help" });
  assert.deepEqual(parseCommand("Hi 127.0.0.1:1998"), {
    kind: "hi",
    address: "127.0.0.1:1998",
  });
});

Deno.test("parseCommand() reads private messages and broadcasts", () => {
  assert.deepEqual(parseCommand("@bob hi  there "), {
    kind: "send",
    to: "bob",
    text: "hi  there ",
  });
  assert.deepEqual(parseCommand("@ALL hi all"), {
    kind: "send",
    to: "all",
    text: "hi all",
  });
  assert.deepEqual(parseCommand("@bob line one\nline two"), {
    kind: "send",
    to: "bob",
    text: "line one\nline two",
  });
  assert.deepEqual(parseCommand("@bob\nnext line"), {
    kind: "send",
    to: "bob",
    text: "next line",
  });
});

Deno.test("parseCommand() treats blank input as nothing", () => {
  assert.deepEqual(parseCommand(""), { kind: "empty" });
  assert.deepEqual(parseCommand("   "), { kind: "empty" });
});

Deno.test("parseCommand() explains bad input", () => {
  const cases: Array<[string, RegExp]> = [
    ["hello", /^unknown command "hello"; type @name text, @all text, HI/],
    ["@bob", /^expected a message after "@bob", found nothing$/],
    ["@bob   ", /^expected a message after "@bob"/],
    ["@ hi", /^expected a name after "@"/],
    ["HI", /^expected HI host:port, found no address$/],
    ["HI localhost", /^expected HI host:port .* found "localhost"$/],
    ["HI a:1 b:2", /^expected HI host:port, found "HI a:1 b:2"$/],
    ["WHO is there", /^WHO takes nothing after it/],
  ];
  for (const [input, expected] of cases) {
    const command = parseCommand(input);
    assert.equal(command.kind, "invalid", input);
    assert.match(command.kind === "invalid" ? command.message : "", expected);
  }
});

Deno.test("LineJoiner joins lines ending in a backslash", () => {
  const joiner = new LineJoiner();
  assert.equal(joiner.push("@bob one\\"), undefined);
  assert.equal(joiner.push("two\\"), undefined);
  assert.equal(joiner.continuing, true);
  assert.equal(joiner.push("three"), "@bob one\ntwo\nthree");
  assert.equal(joiner.continuing, false);
  assert.equal(joiner.push("WHO"), "WHO");
});

Deno.test("LineJoiner ends a message on a line ending in two backslashes, keeping one", () => {
  const joiner = new LineJoiner();
  assert.equal(
    joiner.push("@bob the folder is C:\\\\"),
    "@bob the folder is C:\\",
  );
  assert.equal(joiner.continuing, false);
  // Odd: continue, the last one removed. Even: end, the last pair as one.
  assert.equal(joiner.push("@bob a\\\\\\"), undefined);
  assert.equal(joiner.push("b\\\\\\\\"), "@bob a\\\\\nb\\\\\\");
});

Deno.test("LineJoiner ends a message on an empty continuation line without adding a line break", () => {
  // The empty line only ends the message; it used to end up in the text.
  const joiner = new LineJoiner();
  assert.equal(joiner.push("@bob two\\"), undefined);
  assert.equal(joiner.push(""), "@bob two");
  assert.equal(joiner.continuing, false);
  // A line of only a backslash is how an empty line gets into a message.
  assert.equal(joiner.push("@bob one\\"), undefined);
  assert.equal(joiner.push("\\"), undefined);
  assert.equal(joiner.push("three"), "@bob one\n\nthree");
  // Outside a message an empty line stays an empty input.
  assert.equal(joiner.push(""), "");
});

Deno.test("LineJoiner takes a line of only a backslash before any other as an input of its own", () => {
  // It used to begin a continued input that came to nothing, so the line
  // was ignored without a word.
  const joiner = new LineJoiner();
  assert.equal(joiner.push("\\"), "\\");
  assert.equal(joiner.continuing, false);
  assert.equal(joiner.push(" \\ "), " \\ ");
  assert.deepEqual(parseCommand("\\"), {
    kind: "invalid",
    message:
      'unknown command "\\"; type @name text, @all text, HI host:port, WHO, BYE, QUIT or HELP',
  });
});

Deno.test("parseCommand() refuses HI to port 0 naming the ports that work", () => {
  assert.deepEqual(parseCommand("HI 127.0.0.1:0"), {
    kind: "invalid",
    message:
      'expected HI host:port with a port from 1 to 65535, found "127.0.0.1:0"',
  });
  assert.deepEqual(parseCommand("hi 127.0.0.1:1"), {
    kind: "hi",
    address: "127.0.0.1:1",
  });
  assert.deepEqual(parseCommand("HI unix:/tmp/p.sock"), {
    kind: "hi",
    address: "unix:/tmp/p.sock",
  });
});

Deno.test("LineJoiner cancels an unfinished input", () => {
  const joiner = new LineJoiner();
  assert.equal(joiner.cancel(), false);
  joiner.push("@bob one\\");
  assert.equal(joiner.cancel(), true);
  assert.equal(joiner.push("WHO"), "WHO");
});
