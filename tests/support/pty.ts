/**
 * A real pseudo-terminal for end-to-end tests of `parley chat`, through
 * util-linux `script`: it runs a shell command on a new terminal, and what
 * the test writes to its stdin is typed on that terminal, keys and control
 * characters alike (`\x04` Ctrl-D, `\x03` Ctrl-C, `\r` Enter). Its stdout is
 * the screen: program output and the terminal's echo, escape sequences
 * included; {@linkcode Pty.screen} has them stripped.
 *
 * @module
 */

const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const SCRIPT = "/usr/bin/script";
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Ctrl-C, as typed. */
export const CTRL_C = "\x03";
/** Ctrl-D, as typed. */
export const CTRL_D = "\x04";
/** Ctrl-U (erase the line), as typed. */
export const CTRL_U = "\x15";
/** The left arrow (cursor one character back), as typed. */
export const LEFT = "\x1b[D";
/** The up arrow (previous line of the history), as typed. */
export const UP = "\x1b[A";
/** Enter, as typed. */
export const ENTER = "\r";

/**
 * Quotes `word` for a POSIX shell.
 *
 * @example
 * ```ts
 * import { shellQuote } from "./pty.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(shellQuote("it's"), `'it'\\''s'`);
 * ```
 */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The shell command running `parley chat` with `args`, followed by a line
 * `exit=N` with its status and, with `checkEcho`, a line `echo` or `-echo`:
 * the terminal's echo setting after the client exited.
 */
export function chatCommand(
  args: string[],
  options: { checkEcho?: boolean } = {},
): string {
  const run = [
    Deno.execPath(),
    "run",
    "-A",
    "--unstable-kv",
    MOD,
    "chat",
    ...args,
  ].map(shellQuote).join(" ");
  const echo = options.checkEcho
    ? `; stty -a | tr ' ' '\\n' | grep -x -- '-\\?echo'`
    : "";
  return `${run}; echo "exit=$?"${echo}`;
}

/**
 * Screen text without terminal control: escape sequences and carriage
 * returns are dropped, the rest kept as printed.
 *
 * @example
 * ```ts
 * import { stripControls } from "./pty.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(stripControls("\x1b[1G\x1b[0Jalice> hi\r\n"), "alice> hi\n");
 * ```
 */
export function stripControls(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "")
    // deno-lint-ignore no-control-regex
    .replace(/\x1b[@-Z\\-_]/g, "")
    .replaceAll("\r", "");
}

/** A command running on a pseudo-terminal. */
export class Pty {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #done: Promise<void>;
  #raw = "";
  #finished = false;
  // How far `expect` has read the screen.
  #cursor = 0;
  #wake: Array<() => void> = [];

  /**
   * Starts `command` (a shell command line) on a new terminal.
   *
   * @param env Added to the environment; `NO_COLOR` and `TZ=UTC` are set.
   */
  constructor(command: string, env: Record<string, string> = {}) {
    this.#child = new Deno.Command(SCRIPT, {
      args: ["-qfec", command, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", TZ: "UTC", SHELL: "/bin/sh", ...env },
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#done = this.#pump();
  }

  async #pump(): Promise<void> {
    const stderr = this.#child.stderr.pipeTo(new WritableStream());
    for await (const chunk of this.#child.stdout) {
      this.#raw += decoder.decode(chunk, { stream: true });
      for (const wake of this.#wake.splice(0)) wake();
    }
    await stderr;
    this.#finished = true;
    for (const wake of this.#wake.splice(0)) wake();
  }

  /** Everything written to the terminal so far, control sequences kept. */
  get raw(): string {
    return this.#raw;
  }

  /** Everything on the screen so far, without control sequences. */
  get screen(): string {
    return stripControls(this.#raw);
  }

  /** The screen after the last text {@linkcode expect} found. */
  get rest(): string {
    return this.screen.slice(this.#cursor);
  }

  /** Types `keys` on the terminal. */
  async type(keys: string): Promise<void> {
    await this.#stdin.write(encoder.encode(keys));
  }

  /**
   * Waits until `text` appears on the screen after the text found by the
   * previous call, and moves past it.
   *
   * @throws {Error} After `timeoutMs`, or when the program ended without
   * printing it; the message shows the screen.
   */
  async expect(text: string | RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const rest = this.rest;
      const found = typeof text === "string"
        ? { index: rest.indexOf(text), match: text }
        : ((m) => ({ index: m?.index ?? -1, match: m?.[0] ?? "" }))(
          rest.match(text),
        );
      if (found.index >= 0) {
        this.#cursor += found.index + found.match.length;
        return found.match;
      }
      if (this.#finished || Date.now() > deadline) {
        throw new Error(
          `Expected ${
            JSON.stringify(String(text))
          } on the terminal within ${timeoutMs} ms; after the last match it showed:\n${rest}\n--- whole screen ---\n${this.screen}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Waits for the command to end and returns the screen's lines, empty
   * ones dropped.
   *
   * @throws {Error} When it has not ended within `timeoutMs`; it is then
   * killed.
   */
  async finish(timeoutMs = 15_000): Promise<string[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(() => resolve("late"), timeoutMs)
    );
    const result = await Promise.race([this.#child.status, late]);
    clearTimeout(timer);
    if (result === "late") {
      await this.kill();
      throw new Error(
        `The terminal command did not end within ${timeoutMs} ms; it showed:\n${this.screen}`,
      );
    }
    await this.#stdin.close().catch(() => {});
    await this.#done;
    return this.screen.split("\n").filter((line) => line !== "");
  }

  /** Kills the terminal and everything on it, and waits. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await this.#child.status;
    await this.#stdin.close().catch(() => {});
    await this.#done;
  }
}
