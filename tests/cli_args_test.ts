import assert from "node:assert/strict";

const MOD = new URL("../mod.ts", import.meta.url).pathname;

Deno.test("a bad flag value is quoted with its control characters spelled out", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "chat", "--name", "bo\u202Eb"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stderr);
  assert.equal(code, 2);
  assert.ok(!text.includes("\u202E"), "the raw direction mark was printed");
  assert.match(text, /argument 'bo\\u202eb' is invalid/);
});
