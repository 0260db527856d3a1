import assert from "node:assert/strict";
import * as readline from "node:readline";
import { PassThrough, Writable } from "node:stream";
import { batchTypedText } from "../client/typing.ts";

/** A terminal's output that counts what readline writes to it. */
class CountingOutput extends Writable {
  readonly columns = 80;
  readonly rows = 24;
  readonly isTTY = true;
  writes = 0;

  override _write(
    _chunk: unknown,
    _encoding: string,
    callback: () => void,
  ): void {
    this.writes++;
    callback();
  }
}

function terminal() {
  const input = Object.assign(new PassThrough(), { isTTY: true });
  const output = new CountingOutput();
  const rl = readline.createInterface({ input, output, terminal: true });
  batchTypedText(rl);
  const lines: string[] = [];
  rl.on("line", (line: string) => lines.push(line));
  rl.setPrompt("> ");
  rl.prompt();
  return { input, output, rl, lines };
}

/** Lets readline handle what was written to its input. */
function handled(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("batchTypedText() echoes a 9,000-character paste in one write, not one per character", async () => {
  // One echo per character measured the whole line each time: a paste
  // took seconds, growing with the square of its length.
  const t = terminal();
  const before = t.output.writes;
  t.input.write("x".repeat(9_000));
  await handled();
  assert.equal(t.output.writes - before, 1);
  assert.equal((t.rl as unknown as { line: string }).line, "x".repeat(9_000));
  t.input.write("\r");
  await handled();
  assert.deepEqual(t.lines, ["x".repeat(9_000)]);
  t.rl.close();
});

Deno.test("batchTypedText() keeps typed text and editing keys in order within one read", async () => {
  const t = terminal();
  // Left arrow, Backspace and Enter amid text, as typed fast or pasted.
  t.input.write("ab\x1b[Dc d\x7fe\rnext\r");
  await handled();
  assert.deepEqual(t.lines, ["ac eb", "next"]);
  t.rl.close();
});
