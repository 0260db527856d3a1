/**
 * The chat client without its terminal: carries out typed commands by
 * opening, using and leaving {@linkcode Session}s, one at a time, and
 * remembers across them which messages were already shown and how many
 * messages were not accepted.
 *
 * @module
 */

import type { Transport } from "../transport/transport.ts";
import { type Command, HELP_TEXT } from "./commands.ts";
import {
  type ChatEvent,
  type EventSink,
  MAX_AWAITING_RECEIPT,
  notice,
} from "./events.ts";
import { type LoginResult, type PasswordSource, Session } from "./session.ts";
import type { Timers } from "./timers.ts";

/** Settings of a {@linkcode ChatClient}. */
export interface ChatClientOptions {
  /** How to reach servers. */
  transport: Transport;
  /** The name to log in with. */
  name: string;
  /** Receives everything the user should see, in order. */
  onEvent: EventSink;
  /** Asked whenever a server wants a password. */
  password: PasswordSource;
  /** Default: the runtime's timers. */
  timers?: Timers;
  /** Longest wait for the server during login; see `SessionOptions`. */
  loginTimeoutMs?: number;
  /** Longest wait for the server's `bye` when leaving. Default 2,000 ms. */
  leaveGraceMs?: number;
  /**
   * At the end of input, longest silence of the server before the wait
   * for the rest of the stored backlog ends; see `Session.backlog`.
   */
  backlogIdleMs?: number;
  /**
   * Piped input: say `not connected` once until the next login instead of
   * for every command; the commands are still counted as not accepted.
   * Default false.
   */
  unattended?: boolean;
}

/**
 * What became of a command: go on, stop the program, or a failed `HI`
 * (the caller decides whether that ends the program).
 */
export type Outcome = "continue" | "quit" | { failed: string };

const NOT_CONNECTED = "not connected; type HI host:port first";

/**
 * Runs {@linkcode Command}s against servers.
 *
 * @example
 * ```ts ignore
 * const client = new ChatClient({
 *   transport,
 *   name: "alice",
 *   onEvent,
 *   password,
 * });
 * await client.execute(parseCommand("HI 127.0.0.1:1998"));
 * await client.execute(parseCommand("@bob hi bob"));
 * await client.finish();
 * ```
 */
export class ChatClient {
  readonly #options: ChatClientOptions;
  // Highest seq shown per server, account and database, for the life of
  // the process.
  readonly #seen = new Map<string, number>();
  #session?: Session;
  // The id of the last message sent. Counted on from the time the client
  // started, in milliseconds, so ids keep rising from one session to the
  // next and from one run to the next (the server's rate limit lets far
  // fewer messages out than milliseconds pass): a receipt for a message of
  // an earlier run never carries the id of one of this run.
  #lastId = Date.now();
  // Texts of the private messages accepted and not yet delivered, by id,
  // oldest first, for their receipts to name them.
  readonly #awaitingReceipt = new Map<string, string>();
  #unaccepted = 0;
  #notCommands = 0;
  #notRun = 0;
  // Set once `not connected` was said in unattended mode; reset at login.
  #saidNotConnected = false;

  /** @param options See {@linkcode ChatClientOptions}. */
  constructor(options: ChatClientOptions) {
    this.#options = options;
  }

  /** The logged-in session, if there is one. */
  get session(): Session | undefined {
    return this.#session?.state === "ready" ? this.#session : undefined;
  }

  /**
   * The prompt for the current state: `alice> ` when not connected,
   * `127.0.0.1:1998|alice > ` when connected.
   */
  get prompt(): string {
    const session = this.session;
    return session
      ? `${session.address}|${session.name} > `
      : `${this.#options.name}> `;
  }

  /**
   * Messages given to {@linkcode execute} so far that the server did not
   * accept: refused, never confirmed before the connection ended, or not
   * sent at all (no connection, too long, still waiting their turn when
   * the connection ended).
   */
  get unaccepted(): number {
    return this.#unaccepted;
  }

  /** Lines given to {@linkcode execute} so far that were not commands. */
  get notCommands(): number {
    return this.#notCommands;
  }

  /**
   * Commands other than messages (`WHO`) given to {@linkcode execute} so
   * far that needed a connection and had none.
   */
  get notRun(): number {
    return this.#notRun;
  }

  /**
   * Carries out one command. Resolves when it is done: a `HI` once logged
   * in or failed, `BYE` and `QUIT` once the server said goodbye (or the
   * wait ran out), a message once it is sent: at once, or when the
   * session's pacing lets it go (see {@linkcode Session.flushed}).
   */
  async execute(command: Command): Promise<Outcome> {
    const emit = (event: ChatEvent) => this.notify(event);
    switch (command.kind) {
      case "hi": {
        const result = await this.connect(command.address);
        return result.ok ? "continue" : { failed: result.reason };
      }
      case "send": {
        const session = this.session;
        if (!session) {
          this.#unaccepted++;
          this.#notConnected();
        } else if (session.send(command.to, command.text) === undefined) {
          this.#unaccepted++;
        } else {
          await session.flushed();
        }
        return "continue";
      }
      case "who":
        if (!this.session) {
          this.#notRun++;
          this.#notConnected();
        } // Paced like messages: a script with many WHO lines is slowed
        // down, never refused.
        else if (this.session.who()) await this.session.flushed();
        return "continue";
      case "bye":
        if (!this.#session) emit(notice("not_connected", "not connected"));
        else await this.leave();
        return "continue";
      case "quit":
        await this.leave();
        return "quit";
      case "help":
        emit(notice("help", HELP_TEXT));
        return "continue";
      case "empty":
        return "continue";
      case "invalid":
        this.#notCommands++;
        emit(notice("bad_command", command.message));
        return "continue";
    }
  }

  /**
   * Connects to `address` and logs in, leaving the current server first.
   *
   * @returns The login result; a failure's reason names the address.
   */
  async connect(address: string): Promise<LoginResult> {
    const options = this.#options;
    if (this.#session) {
      this.notify(notice("leaving", `leaving ${this.#session.address}`));
      await this.leave();
    }
    let password = options.password;
    while (true) {
      const result = await this.#login(address, password);
      if (result.ok || result.late === undefined) return result;
      // Typed after the server's login timeout: used as typed, on a new
      // connection, rather than lost (or typed again at the command
      // prompt, where it would show).
      this.notify(notice(
        "login_again",
        "the server stopped waiting for the password; logging in again",
      ));
      password = answerFirst(result.late, options.password, () =>
        // Said before the question it explains.
        options.onEvent(notice(
          "name_taken",
          `${options.name} was registered by someone else meanwhile; its password is asked for`,
        )));
    }
  }

  /** One connection and its login; see {@linkcode connect}. */
  async #login(
    address: string,
    password: PasswordSource,
  ): Promise<LoginResult> {
    const options = this.#options;
    let link;
    try {
      link = await options.transport.connect(address);
    } catch (error) {
      return {
        ok: false,
        reason: `cannot connect to ${address}: ${(error as Error).message}`,
      };
    }
    const session: Session = new Session({
      link,
      address,
      name: options.name,
      password,
      seen: this.#seen,
      nextId: () => String(++this.#lastId),
      timers: options.timers,
      loginTimeoutMs: options.loginTimeoutMs,
      onEvent: (event) => {
        // Forget the session before the user reads that it ended, so a
        // prompt drawn after the event is already the right one.
        if (event.event === "disconnected" && this.#session === session) {
          this.#session = undefined;
        }
        if (
          event.event === "notice" &&
          (event.refused !== undefined || event.code === "unconfirmed")
        ) {
          this.#unaccepted++;
        }
        options.onEvent(this.#withReceiptText(event));
      },
    });
    this.#session = session;
    session.closed.then(() => {
      if (this.#session === session) this.#session = undefined;
    });
    const result = await session.login();
    if (result.ok) {
      this.#saidNotConnected = false;
      return result;
    }
    if (this.#session === session) this.#session = undefined;
    return {
      ...result,
      reason:
        `cannot log in to ${address} as ${options.name}: ${result.reason}`,
    };
  }

  /**
   * Notes the text of a private message the server accepted (or never
   * answered), and gives it to the message's receipt when that comes.
   */
  #withReceiptText(event: ChatEvent): ChatEvent {
    const awaiting = this.#awaitingReceipt;
    // A message the server never confirmed may have arrived all the same:
    // its receipt, if one comes, says so by name.
    const sent = event.event === "echo"
      ? event
      : event.event === "notice"
      ? event.unconfirmed
      : undefined;
    if (sent) {
      awaiting.set(sent.id, sent.text);
      if (awaiting.size > MAX_AWAITING_RECEIPT) {
        awaiting.delete(awaiting.keys().next().value!);
      }
    } else if (event.event === "delivered") {
      const text = awaiting.get(event.id);
      if (text !== undefined) {
        awaiting.delete(event.id);
        return { ...event, text };
      }
    }
    return event;
  }

  /**
   * Reports something the client says itself about a command, once what
   * the commands before it led to (the server's answers to the messages
   * they sent) has been reported, so output follows the order of input;
   * an answer slow to come holds it a second at most.
   */
  notify(event: ChatEvent): void {
    this.afterAnswers(() => this.#options.onEvent(event));
  }

  /**
   * Runs `say` once the answers to the commands given so far have been
   * reported, or a second later at most; at once when not
   * connected. See {@linkcode notify}.
   */
  afterAnswers(say: () => void): void {
    const session = this.#session;
    if (session) session.afterAnswers(say);
    else say();
  }

  /** Says a command needs a connection; once in a row when unattended. */
  #notConnected(): void {
    if (this.#options.unattended) {
      if (this.#saidNotConnected) return;
      this.#saidNotConnected = true;
    }
    this.notify(notice("not_connected", NOT_CONNECTED));
  }

  /** Leaves the current server, if any; see {@linkcode Session.leave}. */
  async leave(): Promise<void> {
    const session = this.#session;
    if (!session) return;
    await session.leave(this.#options.leaveGraceMs);
    if (this.#session === session) this.#session = undefined;
  }

  /**
   * The end of input: waits until the server answered everything sent
   * and the whole stored backlog announced at login arrived, then leaves.
   */
  async finish(): Promise<void> {
    const session = this.session;
    if (session) {
      await Promise.all([
        session.settled(),
        session.backlog(this.#options.backlogIdleMs),
      ]);
    }
    await this.leave();
  }
}

/**
 * A password source that answers the first request with `late.password`
 * when it asks the same (a new account, or the known password, with no
 * refusal before), and every other request as `otherwise` does. When the
 * password was meant for a new account and the server now wants the
 * password of an existing one, `taken` is called first.
 */
function answerFirst(
  late: { mode: "register" | "login"; password: string },
  otherwise: PasswordSource,
  taken: () => void,
): PasswordSource {
  let first = true;
  return (request) => {
    const use = first && request.mode === late.mode &&
      request.error === undefined;
    if (first && late.mode === "register" && request.mode === "login") {
      taken();
    }
    first = false;
    return use ? Promise.resolve(late.password) : otherwise(request);
  };
}
