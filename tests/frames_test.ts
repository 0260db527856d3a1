import assert from "node:assert/strict";
import {
  MAX_TEXT_BYTES,
  parseClientFrame,
  readClientFrame,
  refusalOf as refusalWhen,
} from "../protocol/frames.ts";
import { ProtocolError } from "../protocol/errors.ts";

function refusalOf(line: string): { code: string; text: string } {
  const frame = readClientFrame(line);
  if (frame.type !== "invalid") {
    throw new assert.AssertionError({ message: `Accepted ${line}` });
  }
  return { code: frame.code, text: frame.text };
}

const send = (text: string) =>
  JSON.stringify({ type: "send", id: "1", to: "bob", text });

Deno.test("a text of exactly the maximum size is accepted", () => {
  const text = "é".repeat(MAX_TEXT_BYTES / 2);
  assert.deepEqual(parseClientFrame(send(text)), {
    type: "send",
    id: "1",
    to: "bob",
    text,
  });
});

Deno.test("a text one byte over the maximum is refused with text_too_large", () => {
  assert.deepEqual(refusalOf(send("x".repeat(MAX_TEXT_BYTES + 1))), {
    code: "text_too_large",
    text: "Message text must be at most 8192 bytes, found 8193",
  });
});

Deno.test("invalid JSON is refused with bad_frame", () => {
  for (const line of ["{", "hello", '{"type":"ping"', "{'type':'ping'}"]) {
    assert.deepEqual(refusalOf(line), {
      code: "bad_frame",
      text: "Frame is not valid JSON; send one JSON object per line",
    });
  }
});

Deno.test("JSON that is not an object is refused with bad_frame", () => {
  assert.deepEqual(refusalOf("[1,2]"), {
    code: "bad_frame",
    text: "Frame must be a JSON object, found array",
  });
  assert.equal(refusalOf("null").code, "bad_frame");
  assert.equal(refusalOf('"ping"').code, "bad_frame");
  assert.equal(refusalOf("42").code, "bad_frame");
});

Deno.test("valid JSON of the wrong shape is refused with bad_frame", () => {
  assert.deepEqual(refusalOf('{"type":"send","id":1,"to":"bob","text":"x"}'), {
    code: "bad_frame",
    text: 'Field "id" of a "send" frame must be a string, found number',
  });
  assert.deepEqual(refusalOf('{"type":"ack","seq":-1}'), {
    code: "bad_frame",
    text:
      'Field "seq" of an "ack" frame must be a whole number from 0 to 9007199254740991, found -1',
  });
  // A whole number past 2^53 - 1 is refused too, and the text says why.
  assert.deepEqual(refusalOf('{"type":"ack","seq":100000000000000000000}'), {
    code: "bad_frame",
    text:
      'Field "seq" of an "ack" frame must be a whole number from 0 to 9007199254740991, found 100000000000000000000',
  });
  assert.equal(
    parseClientFrame('{"type":"ack","seq":9007199254740991}').type,
    "ack",
  );
  assert.equal(refusalOf('{"type":"ack","seq":1.5}').code, "bad_frame");
  assert.equal(
    refusalOf('{"type":"hello","v":"1","name":"a"}').code,
    "bad_frame",
  );
  assert.equal(refusalOf('{"type":"password"}').code, "bad_frame");
  assert.equal(refusalOf('{"v":1}').code, "bad_frame");
  assert.equal(refusalOf('{"type":["ping"]}').code, "unknown_type");
});

Deno.test("an unknown frame type is refused with unknown_type and a short quote", () => {
  assert.deepEqual(refusalOf(`{"type":"${"z".repeat(1000)}"}`), {
    code: "unknown_type",
    text: `Unknown frame type "${
      "z".repeat(39)
    }…; expected hello, password, send, ack, who, ping, pong or bye`,
  });
  assert.equal(refusalOf('{"type":"__proto__"}').code, "unknown_type");
  assert.equal(refusalOf('{"type":"toString"}').code, "unknown_type");
});

Deno.test("an admin request on the chat port is refused naming the port", () => {
  assert.deepEqual(refusalOf('{"type":"auth","token":"t"}'), {
    code: "unknown_type",
    text:
      `Unknown frame type "auth" (this is parley's chat port, not its admin port); expected hello, password, send, ack, who, ping, pong or bye`,
  });
});

Deno.test("deeply nested JSON is refused without a crash", () => {
  const deep = "[".repeat(30_000) + "]".repeat(30_000);
  assert.equal(refusalOf(deep).code, "bad_frame");
  const deepField = `{"type":"ping","x":${deep}}`;
  assert.deepEqual(readClientFrame(deepField), { type: "ping" });
});

Deno.test("a long name reaches the name rule instead of a frame error", () => {
  assert.deepEqual(
    parseClientFrame(
      JSON.stringify({ type: "hello", v: 1, name: "x".repeat(300) }),
    ),
    { type: "hello", v: 1, name: "x".repeat(300) },
  );
});

Deno.test("parseClientFrame throws a ProtocolError for every refusal", () => {
  assert.throws(() => parseClientFrame("{"), ProtocolError);
});

Deno.test("parseClientFrame() refuses a send with an empty id, recipient or text", () => {
  for (const field of ["id", "to", "text"]) {
    const frame = { type: "send", id: "1", to: "bob", text: "hi", [field]: "" };
    assert.throws(
      () => parseClientFrame(JSON.stringify(frame)),
      (error: unknown) =>
        error instanceof ProtocolError && error.code === "bad_frame" &&
        error.message ===
          `Field "${field}" of a "send" frame must not be empty`,
    );
  }
});

Deno.test("a password over 1,024 characters or an id over 64 is refused with bad_frame", () => {
  const password = (length: number) =>
    JSON.stringify({ type: "password", password: "p".repeat(length) });
  assert.deepEqual(parseClientFrame(password(1024)), {
    type: "password",
    password: "p".repeat(1024),
  });
  assert.deepEqual(refusalOf(password(1025)), {
    code: "bad_frame",
    text:
      'Field "password" of a "password" frame must be at most 1024 characters, found 1025',
  });
  const id = JSON.stringify({
    type: "send",
    id: "i".repeat(65),
    to: "bob",
    text: "hi",
  });
  assert.deepEqual(refusalOf(id), {
    code: "bad_frame",
    text:
      'Field "id" of a "send" frame must be at most 64 characters, found 65',
  });
});

Deno.test("a null frame or field is named null, not object", () => {
  assert.deepEqual(readClientFrame("null"), {
    type: "invalid",
    code: "bad_frame",
    text: "Frame must be a JSON object, found null",
  });
  assert.deepEqual(
    readClientFrame('{"type":"hello","v":1,"name":null}'),
    {
      type: "invalid",
      code: "bad_frame",
      text: 'Field "name" of a "hello" frame must be a string, found null',
    },
  );
});

Deno.test('refusals say an "ack" frame, a "who" frame', () => {
  assert.deepEqual(refusalWhen({ type: "ack", seq: 1 }, "while logging in"), {
    type: "error",
    code: "not_allowed",
    text: 'An "ack" frame is not allowed while logging in',
  });
  assert.equal(
    refusalWhen({ type: "who" }, "while logging in").text,
    'A "who" frame is not allowed while logging in',
  );
});

Deno.test("a lone surrogate in a string field is refused with bad_frame", () => {
  // JSON can escape half a pair; the text was stored and sent back as it
  // was, which a strict client cannot decode.
  assert.deepEqual(
    refusalOf('{"type":"send","id":"s","to":"alice","text":"A\\ud800B"}'),
    {
      code: "bad_frame",
      text:
        'Field "text" of a "send" frame must be well-formed Unicode, found a lone surrogate',
    },
  );
  assert.equal(
    refusalOf('{"type":"password","password":"\\udfffx"}').text,
    'Field "password" of a "password" frame must be well-formed Unicode, found a lone surrogate',
  );
  // A whole pair is a character like any other.
  assert.deepEqual(
    parseClientFrame(
      '{"type":"send","id":"s","to":"alice","text":"\\ud83d\\ude00"}',
    ),
    { type: "send", id: "s", to: "alice", text: "\u{1F600}" },
  );
});
