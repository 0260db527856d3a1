/**
 * The one `node:readline` interface of `parley chat`, for the REPL and for
 * every question (name, hidden password). One interface because a second
 * reader on the same stdin loses buffered lines.
 *
 * On a terminal it shows prompts, keeps history, hides passwords by muting
 * its own echo, and prints incoming lines above the half-typed one. Piped
 * input is read line by line with no prompts.
 *
 * The history holds the commands read, and nothing else: readline would
 * record every line typed, so a password typed ahead of its prompt (then
 * dropped) would be kept, and an answer to a question too. Readline's own
 * recording is off; a line enters the history when it is read as a command
 * and is one (see `isCommand`).
 *
 * @module
 */

import * as readline from "node:readline";
import { Writable } from "node:stream";
import process from "node:process";
import { batchTypedText, type ReadlineInternals } from "./typing.ts";
import { writeStdout } from "./stdout.ts";

/** What a {@linkcode Terminal} reads and where it writes. */
export interface TerminalOptions {
  /** Prompts, echo and editing when true; plain lines when false. */
  interactive: boolean;
}

/** A line, or null at end of input, Ctrl-C or close. */
export type LineOrEnd = string | null;

const HISTORY_SIZE = 200;

/**
 * Ctrl-D at an empty line typed ahead, queued among the lines: what it
 * does depends on the lines before it (the last may have begun a
 * continued message), so it is decided when its turn comes.
 */
const EMPTY_CTRL_D = Symbol("Ctrl-D at an empty line");

/** The signals that end the client from outside, politely. */
export type EndSignal = "SIGHUP" | "SIGTERM";

/**
 * Stdout for readline with two mute switches: while either is on,
 * readline's echo of typed keys goes nowhere. `muted` hides a password;
 * `paused` hides keys typed ahead while a command runs, which are shown
 * after their prompt once read.
 */
class MutableOutput extends Writable {
  muted = false;
  paused = true;
  readonly #write: (text: string) => void;

  /** @param write Where the echo goes when neither switch is on. */
  constructor(write: (text: string) => void) {
    super();
    this.#write = write;
  }

  get columns(): number {
    return process.stdout.columns ?? 80;
  }

  get rows(): number {
    return process.stdout.rows ?? 24;
  }

  get isTTY(): boolean {
    return true;
  }

  override _write(
    chunk: unknown,
    _encoding: string,
    callback: (error?: Error | null) => void,
  ): void {
    if (!this.muted && !this.paused) this.#write(String(chunk));
    callback();
  }
}

/**
 * Line input and event output for the chat client.
 *
 * @example
 * ```ts ignore
 * const terminal = new Terminal({ interactive: Deno.stdin.isTerminal() });
 * terminal.setPrompt("alice> ");
 * const line = await terminal.nextLine();
 * terminal.print(["*** hello"]);
 * terminal.close();
 * ```
 */
export class Terminal {
  /** True when reading a terminal. */
  readonly interactive: boolean;
  /**
   * Called on Ctrl-D at an empty line, once every line typed before it
   * has been read (or dropped by a hidden question: the key is not, so a
   * question it was typed ahead of is answered by it). Return true to
   * keep going (the key is then ignored); false ends input as at end of
   * file.
   */
  onEmptyCtrlD: () => boolean = () => false;
  /** Called on Ctrl-C (terminal) or SIGINT. */
  onInterrupt: () => void = () => {};
  /** Called on SIGTERM, or SIGHUP (the terminal went away). */
  onSignal: (signal: EndSignal) => void = () => {};
  /**
   * Called once when stdout is found gone (the reader of a pipe closed
   * it, the terminal hung up), right after the caller of the write that
   * failed is done. Nothing is written after that.
   */
  onOutputClosed: () => void = () => {};
  /**
   * Runs `show`, which prints a command typed ahead after its prompt.
   * Commands read before it may still await the server's answers (a
   * paste is read in one go): delay `show` until those are printed, so
   * each command appears just above what it led to. Default: at once.
   */
  showInTurn: (show: () => void) => void = (show) => show();
  /**
   * Whether a line read as a command goes into the history: a line that
   * is no command (a typo, or a password typed where a command was
   * expected) stays out. Default: every line that is not blank.
   */
  isCommand: (line: string) => boolean = () => true;

  readonly #rl: readline.Interface;
  readonly #output?: MutableOutput;
  // Typed ahead and not read yet, in the order typed.
  readonly #lines: Array<string | typeof EMPTY_CTRL_D> = [];
  #waiter?: (line: LineOrEnd) => void;
  #ended = false;
  #prompt = "";
  // The prompt of the question being asked, if one is.
  #question?: string;
  // The prompt to redraw after printing: none while a command runs.
  #reading = false;
  #hidden = false;
  // Set from a hidden answer until the next prompt: the echo stays off
  // and what is typed meanwhile is dropped.
  #holding = false;
  // A prompt is on the screen's last line, the cursor after it.
  #lineOpen = false;
  #outputClosed = false;
  // Listened to until close.
  readonly #signals: Array<[Deno.Signal, () => void]> = [];

  /** @param options See {@linkcode TerminalOptions}. */
  constructor(options: TerminalOptions) {
    this.interactive = options.interactive;
    if (this.interactive) {
      this.#output = new MutableOutput((text) => this.#write(text));
      this.#rl = readline.createInterface({
        input: process.stdin,
        output: this.#output,
        terminal: true,
        // Recorded by #remember instead.
        historySize: 0,
      });
      this.#rl.on("SIGINT", () => this.onInterrupt());
      // Suspending would leave the terminal raw and, back in the
      // foreground, stdin unread: Ctrl-Z is refused instead.
      this.#rl.on("SIGTSTP", () =>
        this.print([
          "*** suspending is not supported; QUIT leaves, Ctrl-C too",
        ]));
      // Stopped and continued from outside (kill -STOP, then -CONT), the
      // shell may have put the terminal back to echoing whole lines: take
      // it back, or a password would show.
      this.#listen("SIGCONT", () => this.#retakeTerminal());
      this.#interceptKeys();
      // Outermost, so a Ctrl-D sees the text typed before it in the line.
      batchTypedText(this.#rl);
    } else {
      this.#rl = readline.createInterface({
        input: process.stdin,
        terminal: false,
      });
    }
    // Ctrl-C on a terminal is a key, not a signal: this is `kill -INT`.
    this.#listen("SIGINT", () => this.onInterrupt());
    // Deno's default would end the process at once, the terminal left
    // raw (no echo) and the server without a bye.
    for (const signal of ["SIGTERM", "SIGHUP"] as const) {
      this.#listen(signal, () => this.onSignal(signal));
    }
    this.#rl.on("line", (line: string) => this.#onLine(line));
    this.#rl.on("close", () => this.#end());
  }

  /**
   * Sets the prompt shown when waiting for the next command. While a
   * question is asked its prompt stays; this one returns after it.
   */
  setPrompt(prompt: string): void {
    this.#prompt = prompt;
    if (this.#question === undefined) this.#rl.setPrompt(prompt);
  }

  /**
   * The next line, in order, lines typed or piped ahead included.
   * Shows the prompt first on a terminal.
   *
   * @returns The line without its ending, or null at end of input.
   */
  nextLine(): Promise<LineOrEnd> {
    if (this.#holding) this.#release();
    let ready = this.#lines.shift();
    while (ready === EMPTY_CTRL_D) {
      if (!this.onEmptyCtrlD()) return Promise.resolve(this.#endByCtrlD());
      ready = this.#lines.shift();
    }
    if (ready !== undefined) {
      if (this.#question === undefined) this.#remember(ready);
      // Typed ahead, unseen: show it after its prompt, as if typed now.
      if (this.interactive) {
        const echo = [this.#rl.getPrompt() + ready];
        // A question's answer answers it, whatever commands still await.
        if (this.#question === undefined) {
          this.showInTurn(() => this.print(echo));
        } else this.print(echo);
      }
      return Promise.resolve(ready);
    }
    if (this.#ended) return Promise.resolve(null);
    if (this.#output) {
      this.#reading = true;
      this.#output.paused = false;
      // The cursor is at the start of a fresh row: the prompt and any
      // line typed ahead are drawn there.
      if (!this.#lineOpen) {
        (this.#rl as unknown as ReadlineInternals).prevRows = 0;
      }
      this.#lineOpen = true;
      this.#rl.prompt(true);
    }
    return new Promise((resolve) => this.#waiter = resolve);
  }

  /**
   * Asks a question on the terminal; `hidden` answers are not echoed and
   * kept out of the history.
   *
   * A hidden question drops what was typed ahead of it, and after its
   * answer the echo stays off, and keys are dropped, until the next prompt:
   * a password typed again before the server answered the first one must
   * neither show nor run as a command.
   *
   * @param text The prompt.
   * @param hidden Mute the echo and keep the answer out of the history.
   * @param signal Stops asking when aborted; the answer is then null.
   * @returns The answer, or null when input ended, was interrupted, or
   * `signal` was aborted.
   */
  async question(
    text: string,
    hidden = false,
    signal?: AbortSignal,
  ): Promise<LineOrEnd> {
    if (signal?.aborted) return null;
    this.#question = text;
    this.#rl.setPrompt(text);
    this.#hidden = hidden;
    let answer: LineOrEnd;
    const abort = () => this.#answer(null);
    signal?.addEventListener("abort", abort);
    try {
      if (hidden) this.#holding = true;
      const pending = this.nextLine();
      // The prompt is written before muting, the key echo after.
      if (hidden && this.#output) this.#output.muted = true;
      answer = await pending;
    } finally {
      signal?.removeEventListener("abort", abort);
      if (this.#output?.muted) {
        this.#eraseLine();
        this.#write("\n");
        this.#lineOpen = false;
        this.#holding = true;
      }
      this.#hidden = false;
      this.#question = undefined;
      this.#rl.setPrompt(this.#prompt);
    }
    return answer;
  }

  /**
   * Prints whole lines. On a terminal they appear above the prompt and
   * the half-typed line, which are drawn again below them, the cursor
   * where it was in the line.
   */
  print(lines: string[]): void {
    if (lines.length === 0) return;
    const text = lines.map((line) => line + "\n").join("");
    if (!this.interactive) {
      this.#write(text);
      return;
    }
    this.#write(this.#clearPrompt() + text);
    this.#lineOpen = false;
    if (!this.#reading) return;
    this.#lineOpen = true;
    if (this.#hidden) {
      this.#write(this.#question ?? "");
      return;
    }
    // Readline redraws from the row it last left the cursor on; the
    // cursor is now at the start of a fresh row.
    (this.#rl as unknown as ReadlineInternals).prevRows = 0;
    this.#rl.prompt(true);
  }

  /**
   * The control sequence that takes the cursor to the start of the
   * prompt and erases it and the typed line, however many rows the line
   * wraps over (the terminal's width is readline's `columns`), and
   * everything below.
   */
  #clearPrompt(): string {
    if (!this.#lineOpen || !this.#reading || this.#hidden) return "\r\x1b[2K";
    const rows = this.#rl.getCursorPos().rows;
    return (rows > 0 ? `\x1b[${rows}A` : "") + "\r\x1b[0J";
  }

  /** Stops reading and gives the terminal back as it was. */
  close(): void {
    this.#holding = false;
    if (this.#output) {
      this.#output.muted = false;
      this.#output.paused = false;
    }
    // A listener would keep the process alive.
    for (const [signal, listener] of this.#signals.splice(0)) {
      Deno.removeSignalListener(signal, listener);
    }
    this.#rl.close();
    if (this.interactive) {
      // Ctrl-D or Ctrl-C at a prompt: the shell's prompt goes below it.
      if (this.#lineOpen) this.#write("\n");
      this.#lineOpen = false;
      try {
        Deno.stdin.setRaw(false);
      } catch {
        // Not a terminal any more; nothing to restore.
      }
    }
  }

  #listen(signal: Deno.Signal, listener: () => void): void {
    Deno.addSignalListener(signal, listener);
    this.#signals.push([signal, listener]);
  }

  /** Writes to stdout until it is found gone, then drops everything. */
  #write(text: string): void {
    if (this.#outputClosed) return;
    if (writeStdout(text)) return;
    this.#outputClosed = true;
    // Not in the middle of the caller (an event being shown): after it.
    queueMicrotask(() => this.onOutputClosed());
  }

  #retakeTerminal(): void {
    try {
      Deno.stdin.setRaw(true);
    } catch {
      // Not a terminal any more: nothing to take back.
      return;
    }
    this.print(["*** continued"]);
  }

  /** Ends input: the pending and later `nextLine` calls get null. */
  end(): void {
    this.#end();
  }

  /**
   * Ends a hold: drops the lines and the half-typed one entered since the
   * hidden answer (or ahead of a hidden question), and turns the echo back
   * on. A Ctrl-D among them stays: it is no password typed again but a
   * wish to stop, and dropping it would leave a password prompt waiting.
   */
  #release(): void {
    this.#holding = false;
    const ctrlD = this.#lines.includes(EMPTY_CTRL_D);
    this.#lines.length = 0;
    if (ctrlD) this.#lines.push(EMPTY_CTRL_D);
    if (!this.#output) return;
    this.#output.muted = true;
    this.#eraseLine();
    this.#output.muted = false;
  }

  /** Adds a command read to the history, as readline would have. */
  #remember(line: string): void {
    if (!this.#output || line.trim() === "" || !this.isCommand(line)) return;
    const history = (this.#rl as unknown as ReadlineInternals).history;
    if (history[0] !== line) history.unshift(line);
    history.length = Math.min(history.length, HISTORY_SIZE);
  }

  /** Empties readline's current line; call with the echo off. */
  #eraseLine(): void {
    if (this.#ended) return;
    this.#rl.write(null, { ctrl: true, name: "e" });
    this.#rl.write(null, { ctrl: true, name: "u" });
  }

  #onLine(line: string): void {
    // Enter was echoed: the cursor is on a fresh line.
    this.#lineOpen = false;
    // Readline leaves the arrow keys where they were when it does not
    // record the line itself: the next Up starts from the newest again.
    (this.#rl as unknown as ReadlineInternals).historyIndex = -1;
    const command = this.#waiter !== undefined && this.#question === undefined;
    if (!this.#answer(line)) this.#lines.push(line);
    else if (command) this.#remember(line);
  }

  #end(): void {
    this.#ended = true;
    this.#answer(null);
  }

  /** Gives `line` to the pending `nextLine`; false when none is pending. */
  #answer(line: LineOrEnd): boolean {
    const waiter = this.#waiter;
    if (!waiter) return false;
    this.#waiter = undefined;
    this.#reading = false;
    // Until the next prompt, what is typed is kept unseen.
    if (this.#output) this.#output.paused = true;
    waiter(line);
    return true;
  }

  /**
   * Readline closes on Ctrl-D at an empty line; let `onEmptyCtrlD` keep
   * it open (to cancel a continued message instead). Typed ahead of a
   * line not read yet, the key waits its turn among the lines.
   *
   * The history keys do nothing at a hidden prompt, where a command
   * would silently become the password; and Up at the oldest entry stays
   * there, where readline would show an empty line past it, which looks
   * like an entry left by a password typed at the start.
   */
  #interceptKeys(): void {
    const rl = this.#rl as unknown as ReadlineInternals;
    const original = rl._ttyWrite;
    if (typeof original !== "function") return;
    rl._ttyWrite = (s, key) => {
      const older = key?.name === "up" || (key?.ctrl && key.name === "p");
      const newer = key?.name === "down" || (key?.ctrl && key.name === "n");
      if ((older || newer) && (this.#hidden || this.#holding)) return;
      if (older && rl.historyIndex >= rl.history.length - 1) return;
      if (key?.ctrl && key.name === "d" && rl.line === "") {
        // No one waiting for a line: one typed before is still unread.
        if (!this.#waiter) {
          this.#lines.push(EMPTY_CTRL_D);
          return;
        }
        if (this.onEmptyCtrlD()) return;
      }
      original.call(rl, s, key);
    };
  }

  /**
   * A queued Ctrl-D ends input, as it would have when typed at its
   * prompt: what was typed after it goes unread.
   */
  #endByCtrlD(): null {
    this.#lines.length = 0;
    this.#rl.close();
    return null;
  }
}
