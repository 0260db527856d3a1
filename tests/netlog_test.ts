import assert from "node:assert/strict";
import { readClientFrame } from "../protocol/frames.ts";
import { netlogText } from "../server/netlog.ts";

const logged = (line: string) =>
  netlogText({ kind: "line", line }, readClientFrame(line));

Deno.test("netlogText() hides a password of any shape", () => {
  for (
    const password of ['"s3cret"', '["LEAK6"]', "12345678", '{"p":"LEAKC"}']
  ) {
    const text = logged(`{"type":"password","password":${password}}`);
    assert.equal(text, '{"type":"password","password":"***"}');
  }
});

Deno.test("netlogText() describes a line that is not JSON instead of copying it", () => {
  assert.equal(
    logged('{"type":"password","password":"LEAK" oops'),
    "<bad_frame: a line of 41 characters, not logged>",
  );
  assert.equal(
    logged("SECRET5"),
    "<bad_frame: a line of 7 characters, not logged>",
  );
});

Deno.test("netlogText() hides passwords in fields parley does not know", () => {
  assert.equal(
    logged('{"type":"hello","v":1,"name":"carol","password":"SECRET"}'),
    '{"type":"hello","v":1,"name":"carol"}',
  );
  assert.equal(
    logged('{"type":"password","Password":"SECRETCASE"}'),
    '{"type":"password","Password":"***"}',
  );
  assert.equal(
    logged('{"type":"zap","secret":"S1","token":"S2","apiKey":"S3","x":1}'),
    '{"type":"zap","secret":"***","token":"***","apiKey":"***","x":1}',
  );
  assert.equal(
    logged('{"type":"zap","pwd":"S4","PIN":"1234","pw":"S5","x":1}'),
    '{"type":"zap","pwd":"***","PIN":"***","pw":"***","x":1}',
  );
  assert.equal(
    logged('["password","SECRETARRAY"]'),
    "<bad_frame: a JSON array, not logged>",
  );
});

Deno.test("netlogText() writes frames as the server read them", () => {
  const line = '{"type":"send","id":"1","to":"bob","text":"my password","x":1}';
  assert.equal(
    logged(line),
    '{"type":"send","id":"1","to":"bob","text":"my password"}',
  );
});

Deno.test("netlogText() describes lines it could not read", () => {
  const invalid = readClientFrame("x");
  assert.equal(
    netlogText({ kind: "too_large", bytes: 70000 }, invalid),
    "<70000 bytes over the frame limit, skipped>",
  );
  assert.equal(
    netlogText({ kind: "bad_utf8" }, invalid),
    "<a line that is not UTF-8, skipped>",
  );
});

Deno.test("netlog describes an object nested too deep to mask instead of throwing", () => {
  const depth = 20_000;
  const line = '{"type":"nope","x":' + '{"a":'.repeat(depth) + "1" +
    "}".repeat(depth + 1);
  assert.equal(
    netlogText({ kind: "line", line }, readClientFrame(line)),
    `<unknown_type: a JSON object of ${line.length} characters nested too deep, not logged>`,
  );
});
