import assert from "node:assert/strict";
import fc from "fast-check";
import { type Decoded, LineDecoder } from "../protocol/line_decoder.ts";

const encode = (text: string) => new TextEncoder().encode(text);

/** Feeds `bytes` in the given pieces and returns everything decoded. */
function decodeInPieces(
  bytes: Uint8Array,
  cuts: number[],
  max?: number,
): Decoded[] {
  const decoder = new LineDecoder(max);
  const out: Decoded[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...decoder.push(bytes.subarray(start, cut)));
    start = cut;
  }
  return out;
}

const lines = (...texts: string[]): Decoded[] =>
  texts.map((line) => ({ kind: "line", line }));

Deno.test("decoder reads a frame sent one byte at a time as if sent whole", () => {
  const bytes = encode('{"type":"hello","v":1,"name":"zoë"}\n');
  const cuts = [...bytes.keys()].slice(1);
  assert.deepEqual(
    decodeInPieces(bytes, cuts),
    lines('{"type":"hello","v":1,"name":"zoë"}'),
  );
});

Deno.test("decoder reads several frames in one write", () => {
  const decoder = new LineDecoder();
  assert.deepEqual(
    decoder.push(encode('{"type":"ping"}\n{"type":"who"}\n{"type":"pong"}\n')),
    lines('{"type":"ping"}', '{"type":"who"}', '{"type":"pong"}'),
  );
});

Deno.test("decoder joins a UTF-8 character split across two reads", () => {
  const bytes = encode("😀é\n");
  for (let cut = 1; cut < bytes.length - 1; cut++) {
    assert.deepEqual(decodeInPieces(bytes, [cut]), lines("😀é"), `cut ${cut}`);
  }
});

Deno.test("decoder strips CRLF line endings and skips blank lines", () => {
  const decoder = new LineDecoder();
  assert.deepEqual(
    decoder.push(encode('{"a":1}\r\n\r\n\n{"b":2}\r')),
    lines('{"a":1}'),
  );
  assert.deepEqual(decoder.push(encode("\n")), lines('{"b":2}'));
});

Deno.test("decoder accepts a line of exactly the limit, CRLF included", () => {
  const max = 64;
  const exact = "x".repeat(max);
  assert.deepEqual(
    decodeInPieces(encode(`${exact}\r\n${exact}\n`), [10, 66]),
    lines(exact, exact),
  );
  assert.deepEqual(decodeInPieces(encode(`${exact}y\n`), [], max), [
    { kind: "too_large", bytes: 65 },
  ]);
});

Deno.test("decoder reports an oversized line once and never parses its rest", () => {
  // A 1 MB line whose tail looks like frames must not yield any of them.
  const evil = '{"type":"who"}\n'.slice(0, -1).repeat(70_000);
  const bytes = encode(`${evil}\n{"type":"ping"}\n`);
  const cuts = [];
  for (let at = 4096; at < bytes.length; at += 4096) cuts.push(at);
  assert.deepEqual(decodeInPieces(bytes, cuts), [
    { kind: "too_large", bytes: evil.length },
    ...lines('{"type":"ping"}'),
  ]);
});

Deno.test("decoder keeps no bytes of an oversized line while skipping it", () => {
  const decoder = new LineDecoder(1024);
  for (let i = 0; i < 1_000; i++) decoder.push(new Uint8Array(4096).fill(65));
  assert.equal(decoder.pendingBytes, 0);
  assert.deepEqual(decoder.push(encode("\n")), [
    { kind: "too_large", bytes: 4_096_000 },
  ]);
});

Deno.test("decoder reports invalid UTF-8 and goes on with the next line", () => {
  const decoder = new LineDecoder();
  const bad = Uint8Array.of(0x7b, 0xff, 0x7d, 0x0a, 0xc3, 0x0a, 0xed, 0xa0);
  assert.deepEqual(decoder.push(bad), [
    { kind: "bad_utf8" },
    { kind: "bad_utf8" },
  ]);
  // A UTF-16 surrogate encoded in UTF-8 (ED A0 80) is not UTF-8.
  assert.deepEqual(decoder.push(Uint8Array.of(0x80, 0x0a)), [
    { kind: "bad_utf8" },
  ]);
  assert.deepEqual(decoder.push(encode('{"ok":1}\n')), lines('{"ok":1}'));
});

Deno.test("decoder gives the same result however the bytes are cut", () => {
  const line = fc.oneof(
    fc.string({ unit: "grapheme", maxLength: 40 }),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.constant("y".repeat(100)),
  ).map((text) => text.replaceAll("\n", " "));
  fc.assert(
    fc.property(
      fc.array(line, { maxLength: 8 }),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 12 }),
      (texts, crlf, rawCuts) => {
        const ending = crlf ? "\r\n" : "\n";
        const bytes = encode(texts.map((t) => t + ending).join(""));
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))]
          .sort((a, b) => a - b);
        const whole = decodeInPieces(bytes, [], 64);
        assert.deepEqual(decodeInPieces(bytes, cuts, 64), whole);
        // Every line comes out as sent, or as too large; none is invented.
        const expected = texts
          .map((t) => crlf ? t : t.replace(/\r$/, ""))
          // Lines of only spaces and tabs are keep-alives, unless too large.
          .filter((t) => encode(t).length > 64 || !/^[ \t]*$/.test(t))
          .map((t): Decoded =>
            encode(t).length > 64
              ? { kind: "too_large", bytes: encode(t).length }
              : { kind: "line", line: t }
          );
        assert.deepEqual(whole, expected);
      },
    ),
    { numRuns: 1_000 },
  );
});

Deno.test("LineDecoder skips lines of only spaces and tabs like empty ones", () => {
  const decoder = new LineDecoder(64);
  const bytes = new TextEncoder().encode(' \t \r\n\n{"a":1}\n  \n');
  assert.deepEqual(decoder.push(bytes), [{ kind: "line", line: '{"a":1}' }]);
});

Deno.test("decoder reads many lines of one chunk as it reads them one byte at a time", () => {
  // A whole chunk is decoded in one call; bytes fed one at a time take the
  // line-by-line way. Bytes are drawn so that newlines, CRs, BOMs, U+FFFD
  // sent as such, and invalid UTF-8 all come up often.
  const piece = fc.oneof(
    fc.constantFrom(
      "\n",
      "\r\n",
      "\uFEFF",
      "\uFFFD",
      " ",
      '{"type":"ack","seq":1}',
      "é",
      "𝄞",
    ).map(encode),
    fc.uint8Array({ minLength: 1, maxLength: 3 }),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
      const bytes = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
      let offset = 0;
      for (const p of pieces) {
        bytes.set(p, offset);
        offset += p.length;
      }
      const oneByOne = [...bytes.keys()].slice(1);
      assert.deepEqual(
        decodeInPieces(bytes, [], 24),
        decodeInPieces(bytes, oneByOne, 24),
      );
    }),
    { numRuns: 2_000 },
  );
});

Deno.test("decoder drops a BOM at the start of every line, not only the first", () => {
  const bytes = encode('\uFEFF{"a":1}\n\uFEFF{"b":2}\n{"c":"\uFFFD"}\n');
  assert.deepEqual(
    new LineDecoder().push(bytes),
    lines('{"a":1}', '{"b":2}', '{"c":"\uFFFD"}'),
  );
});
