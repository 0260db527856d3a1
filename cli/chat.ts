/**
 * `parley chat`: the terminal chat client. Reads commands from a terminal
 * (with prompts, hidden passwords and history) or from piped input (no
 * prompts; passwords from `--password-file` or `PARLEY_PASSWORD`), and
 * prints one line per event, or one JSON object per event with `--json`.
 *
 * The commands are described in `client/commands.ts`, the JSON events in
 * `client/events.ts`.
 *
 * @module
 */

import { InvalidArgumentError } from "commander";
import { ChatClient } from "../client/chat_client.ts";
import {
  checkServerAddress,
  LineJoiner,
  parseCommand,
} from "../client/commands.ts";
import { type ChatEvent, notice } from "../client/events.ts";
import { formatEvent, plural } from "../client/format.ts";
import type { PasswordSource } from "../client/session.ts";
import { type EndSignal, Terminal } from "../client/terminal.ts";
import type { ProtocolError } from "../protocol/errors.ts";
import { MAX_PASSWORD_LENGTH } from "../protocol/frames.ts";
import { checkName } from "../protocol/names.ts";
import { SocketTransport } from "../transport/socket.ts";
import {
  filePath,
  flagError,
  newCommand,
  parseArgs,
  quote,
  readSecretFile,
} from "./args.ts";

/**
 * Exit status when connecting or logging in fails without a terminal, or
 * a message was not accepted.
 */
const EXIT_FAILURE = 1;

/**
 * Exit status when stdout went away (`| head -2`): 128 + SIGPIPE, as a
 * shell reports a program that a closed pipe killed.
 */
const EXIT_OUTPUT_CLOSED = 141;

/** Exit status when stopped by a signal: 128 + its number, as a shell. */
const EXIT_SIGNALLED: Record<EndSignal, number> = {
  SIGHUP: 129,
  SIGTERM: 143,
};

/** The environment variable holding the password for piped input. */
const PASSWORD_ENV = "PARLEY_PASSWORD";

const CONTINUATION_PROMPT = "... ";

const UNFINISHED =
  "the input ended in the middle of a message (its last line ends in \\); it was not sent";

interface ChatFlags {
  name?: string;
  server?: string;
  passwordFile?: string;
  json?: boolean;
}

function nameFlag(value: string): string {
  try {
    return checkName(value).display;
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function serverFlag(value: string): string {
  const problem = checkServerAddress(value);
  if (problem) throw new InvalidArgumentError(`expected ${problem}`);
  return value;
}

/**
 * The password given for unattended use: the first line of
 * `--password-file`, else `PARLEY_PASSWORD`, else undefined.
 *
 * @throws {UsageExit} When the file cannot be read or its first line is
 * empty.
 */
function configuredPassword(file?: string): string | undefined {
  if (file === undefined) return Deno.env.get(PASSWORD_ENV) || undefined;
  const text = readSecretFile("parley chat", "--password-file <file>", file);
  const first = text.split(/\r?\n/)[0];
  if (first.length > MAX_PASSWORD_LENGTH) {
    throw flagError(
      "parley chat",
      "--password-file <file>",
      `expected a password of at most ${MAX_PASSWORD_LENGTH} characters on the first line of ${
        quote(file)
      }, found ${first.length}`,
    );
  }
  // The server refuses such a password anyway, after a round trip.
  if (first.trim() === "") {
    throw flagError(
      "parley chat",
      "--password-file <file>",
      `expected a password on the first line of ${
        quote(file)
      }, found an empty line or only spaces`,
    );
  }
  return first;
}

/** Said when a new password is empty or only spaces, as the server would. */
const BLANK_PASSWORD = "a password must not be empty or only spaces; try again";

/** Said when a password typed is longer than the server takes. */
const LONG_PASSWORD =
  `a password must be at most ${MAX_PASSWORD_LENGTH} characters; try again`;

/**
 * The server's count of the tries left, as in `Wrong password; 2 more
 * tries on this connection`: advice for someone who can try again.
 */
const TRIES_LEFT = /; \d+ more tr(?:y|ies) on this connection$/;

/**
 * Passwords for piped input: the configured one, never asked twice. A
 * refusal ends the login with the server's reason, less the tries left:
 * the client exits rather than try again.
 */
function unattendedPasswords(password?: string): PasswordSource {
  return ({ error }) => {
    if (error !== undefined) {
      return Promise.reject(new Error(error.replace(TRIES_LEFT, "")));
    }
    if (password === undefined) {
      return Promise.reject(
        new Error(
          `a password is needed; give --password-file FILE or set ${PASSWORD_ENV}`,
        ),
      );
    }
    return Promise.resolve(password);
  };
}

/**
 * Passwords typed at the terminal, hidden; twice for a new account. A
 * configured password is tried first at every login (a later `HI` too)
 * until the server refuses it once.
 */
function typedPasswords(
  terminal: Terminal,
  show: (event: ChatEvent) => void,
  configured?: string,
): PasswordSource {
  let useConfigured = configured !== undefined;
  let gaveConfigured = false;
  return async ({ mode, name, error, signal }) => {
    if (error !== undefined) {
      if (gaveConfigured) useConfigured = false;
      show(notice("wrong_password", error));
    } else if (useConfigured) {
      gaveConfigured = true;
      return configured!;
    }
    gaveConfigured = false;
    const tooLong = (password: string) => {
      const long = password.length > MAX_PASSWORD_LENGTH;
      if (long) show(notice("bad_password", LONG_PASSWORD));
      return long;
    };
    if (mode === "login") {
      while (true) {
        const password = await terminal.question(
          `password for ${name}: `,
          true,
          signal,
        );
        if (password === null || !tooLong(password)) return password;
      }
    }
    while (true) {
      const first = await terminal.question(
        `new password for ${name}: `,
        true,
        signal,
      );
      if (first === null) return null;
      // The server would refuse it, but only once typed again to confirm.
      if (first.trim() === "") {
        show(notice("bad_password", BLANK_PASSWORD));
        continue;
      }
      if (tooLong(first)) continue;
      const second = await terminal.question(
        "repeat the password: ",
        true,
        signal,
      );
      if (second === null) return null;
      if (first === second) return first;
      show(notice("password_mismatch", "passwords do not match; try again"));
    }
  };
}

async function askName(terminal: Terminal): Promise<string | null> {
  while (true) {
    const answer = await terminal.question("name: ");
    if (answer === null) return null;
    try {
      return checkName(answer.trim()).display;
    } catch (error) {
      // Worded like every other notice: lower-case, controls made harmless.
      const { code, message } = error as ProtocolError;
      terminal.print(formatEvent(notice(code, message)));
    }
  }
}

/**
 * Runs `parley chat` with the arguments after the subcommand name.
 *
 * @returns The exit status: 0 after QUIT, Ctrl-C or the end of input, 1
 * when connecting or logging in failed with piped input, a piped message
 * was not accepted or left unfinished, or a piped line was no command, 2
 * for bad flags, 129 on SIGHUP, 141 when stdout went away, 143 on
 * SIGTERM.
 * @throws {UsageExit} For bad flags, `--help` and `--version`.
 */
export async function main(args: string[]): Promise<number> {
  const command = newCommand("chat", "Run the parley chat client")
    .option("--name <name>", "your name on the server", nameFlag)
    .option(
      "--server <host:port>",
      "connect at start, as if HI host:port was typed",
      serverFlag,
    )
    .option(
      "--password-file <file>",
      `read the password from the first line of a file (else $${PASSWORD_ENV})`,
      filePath,
    )
    .option("--json", "print one JSON object per event");
  parseArgs(command, args);
  const flags = command.opts<ChatFlags>();
  const interactive = Deno.stdin.isTerminal();
  if (!interactive && flags.name === undefined) {
    throw flagError(
      "parley chat",
      "--name <name>",
      "required when input is not a terminal",
    );
  }
  const password = configuredPassword(flags.passwordFile);

  const terminal = new Terminal({ interactive });
  try {
    return await run(terminal, flags, password);
  } finally {
    terminal.close();
  }
}

async function run(
  terminal: Terminal,
  flags: ChatFlags,
  password?: string,
): Promise<number> {
  const joiner = new LineJoiner();
  // Set once the client exists; events come only after that.
  let prompt = () => "";
  const show = (event: ChatEvent) => {
    // An event may change the state (a lost connection): draw the prompt
    // of the new one below it.
    terminal.setPrompt(prompt());
    terminal.print(formatEvent(event, { json: flags.json }));
  };
  // Ctrl-C, a signal or stdout gone: leave the server politely and
  // exit, whatever is under way (the name question too). The first
  // reason gives the status.
  let interrupted = false;
  let stopped!: (status: number) => void;
  const stop = new Promise<number>((resolve) => stopped = resolve);
  // Set once the client exists.
  let leave = () => Promise.resolve();
  const stopWith = (status: number) => {
    if (interrupted) return;
    interrupted = true;
    terminal.end();
    leave().then(() => stopped(status));
  };
  terminal.onInterrupt = () => stopWith(0);
  terminal.onSignal = (signal) => stopWith(EXIT_SIGNALLED[signal]);
  terminal.onOutputClosed = () => stopWith(EXIT_OUTPUT_CLOSED);

  const name = flags.name ?? await askName(terminal);
  if (name === null) return interrupted ? await stop : 0;

  const client = new ChatClient({
    transport: new SocketTransport(),
    name,
    onEvent: show,
    unattended: !terminal.interactive,
    password: terminal.interactive
      ? typedPasswords(terminal, show, password)
      : unattendedPasswords(password),
  });

  prompt = () => joiner.continuing ? CONTINUATION_PROMPT : client.prompt;
  terminal.showInTurn = (show) => client.afterAnswers(show);
  // Decided as the line is read, before the joiner takes it. A continued
  // message is kept by its first line; the lines that continue it are no
  // commands on their own.
  terminal.isCommand = (line) =>
    !joiner.continuing && parseCommand(line).kind !== "invalid";
  leave = () => client.leave();

  terminal.onEmptyCtrlD = () => {
    if (!joiner.cancel()) return false;
    // The notice may wait for answers; the prompt must not.
    terminal.setPrompt(prompt());
    client.notify(notice("cancelled", "message cancelled"));
    return true;
  };

  // A script learns from the status whether every message went through;
  // a message the input ended in the middle of never went.
  let unfinished = false;
  /**
   * Says on stderr what failed in a piped session, a line that was no
   * command (a typo) included; true if anything did.
   */
  const reportFailures = (): boolean => {
    const { unaccepted, notRun, notCommands } = client;
    const failures: string[] = [];
    if (unaccepted > 0) {
      failures.push(
        `${plural(unaccepted, "message was", "messages were")} not accepted`,
      );
    }
    if (notRun > 0) {
      failures.push(
        `${
          plural(notRun, "command was", "commands were")
        } not run: not connected`,
      );
    }
    if (unfinished) failures.push(UNFINISHED);
    if (notCommands > 0) {
      failures.push(
        plural(
          notCommands,
          "line was not a command",
          "lines were not commands",
        ),
      );
    }
    for (const failure of failures) console.error(`parley chat: ${failure}`);
    return failures.length > 0;
  };
  const finalStatus = (): number =>
    !terminal.interactive && reportFailures() ? EXIT_FAILURE : 0;

  const loop = async (): Promise<number> => {
    const commands = flags.server === undefined ? [] : [`HI ${flags.server}`];
    while (true) {
      terminal.setPrompt(prompt());
      const line = commands.shift() ?? await terminal.nextLine();
      if (line === null) {
        if (interrupted) return await stop;
        if (joiner.cancel()) {
          terminal.setPrompt(prompt());
          // No key cancelled it when the input is piped: the script ended
          // too soon (a stray `\` at the end of its last line).
          if (terminal.interactive) {
            client.notify(notice("cancelled", "message cancelled"));
          } else {
            unfinished = true;
            client.notify(notice("unfinished", UNFINISHED));
          }
        }
        // Ctrl-D is QUIT; piped input first waits for the server's answers.
        if (terminal.interactive) await client.leave();
        else await client.finish();
        // Stopped meanwhile (stdout gone): that says how it ended.
        if (interrupted) return await stop;
        return finalStatus();
      }
      const input = joiner.push(line);
      if (input === undefined) continue;
      const outcome = await client.execute(parseCommand(input));
      if (interrupted) return await stop;
      if (outcome === "quit") return finalStatus();
      if (typeof outcome === "object") {
        if (!terminal.interactive) {
          // A reader of --json learns of it on stdout too, as an event.
          if (flags.json) show(notice("login_failed", outcome.failed));
          // The lines before it may have failed too: say so as well.
          console.error(`parley chat: ${outcome.failed}`);
          reportFailures();
          return EXIT_FAILURE;
        }
        show(notice("login_failed", outcome.failed));
      }
    }
  };
  return await Promise.race([loop(), stop]);
}
