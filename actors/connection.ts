/**
 * The connection machine: the life of one client connection, from its first
 * byte to its close.
 *
 * ```
 * unregistered ──hello──▶ authenticating ──password ok──▶ online ◀─┐
 *      ▲                    (lookingUp, awaitingPassword,    │      │ any
 *      └──name taken─────── verifying, penalty,       no frame   frame
 *                           registering)
 *                                                  for pingInterval │
 *                                                            ▼      │
 *   closed ◀── ping timeout, bye, link lost, kick ──── idle-probing ┘
 * ```
 *
 * The machine decides; it does no I/O itself. Everything it does to the
 * world goes through {@linkcode ConnectionPorts}, given to
 * {@linkcode createConnectionMachine}, so tests can drive it with fakes and
 * a simulated clock. Sockets stay in the ports, never in the context.
 *
 * Frames arrive in batches (one read each). Before login every frame can
 * change the state, so the machine takes the first frame of a `FRAMES` event
 * and raises the rest back to itself, ahead of anything that arrives later.
 * In `online` frames change nothing but the time of the last one, so on
 * entering `online` the machine tells its link actor to hand each batch
 * straight to {@linkcode ConnectionPorts.handle} and note its time, without
 * an event to the machine; a batch holding `bye` still goes to the machine,
 * and so does every batch once `online` is left. The machine reads the noted
 * time when its idle timer fires.
 *
 * @module
 */

import {
  type AnyActorRef,
  assign,
  enqueueActions,
  type EventObject,
  fromCallback,
  fromPromise,
  raise,
  setup,
} from "xstate";
import type {
  ByeReason,
  HelloFrame,
  Incoming,
  ServerFrame,
} from "../protocol/frames.ts";
import {
  MAX_LOGIN_FRAMES,
  PROTOCOL_VERSION,
  refusalOf,
} from "../protocol/frames.ts";
import { type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import { checkName, lookalikeRefusal } from "../protocol/names.ts";
import type { CloseCause } from "../transport/transport.ts";

/** Wrong passwords allowed on one connection before it is closed. */
export const MAX_PASSWORD_FAILURES = 3;

/** Timing of a connection, in milliseconds. */
export interface ConnectionTimings {
  /** Client silence before the server pings. */
  pingIntervalMs: number;
  /** Wait for any frame after the ping. */
  pingTimeoutMs: number;
  /** Time allowed from connect to a successful login. */
  loginTimeoutMs: number;
}

/**
 * What the server makes of a password: accepted; wrong, to be answered
 * after `delayMs` (a growing delay slows guessing); or refused without
 * being checked (too many attempts, too many new accounts, name taken).
 */
export type PasswordVerdict =
  | { kind: "accepted" }
  | { kind: "wrong"; delayMs: number }
  | { kind: "refused"; code: ErrorCode; text: string };

/** Why a connection closed: a `bye` reason, or the link going away. */
export type CloseReason = ByeReason | "connection_lost" | "internal";

/** What a requested name is to the server. */
export type NameStatus =
  /** Registered; `name` is how it is shown. */
  | { kind: "registered"; name: string }
  | { kind: "free" }
  /** Free, but it looks like the registered name `of`. */
  | { kind: "lookalike"; of: string }
  /** Free, but the address may not register more names for now. */
  | { kind: "limited"; text: string };

/** Everything a connection machine does to the world. */
export interface ConnectionPorts {
  timings: ConnectionTimings;
  /**
   * Milliseconds on a steady clock: the clock the actor's timers run on
   * (a simulated one in tests).
   */
  now(): number;
  /**
   * Calls `fire` after `ms` on that clock. Returns a function that cancels
   * it; it is called when the state that set the timer is left.
   */
  setTimer(ms: number, fire: () => void): () => void;
  /** Called once at start with the running actor, so others can reach it. */
  attach(connId: string, actor: AnyActorRef): void;
  /**
   * Starts reading the connection's link. Returns a function that stops
   * reading; it is called when the machine stops.
   */
  read(connId: string, events: {
    frames(frames: Incoming[]): void;
    closed(cause: CloseCause): void;
  }): () => void;
  /** Sends a frame to the client. */
  write(connId: string, frame: ServerFrame): void;
  /**
   * Whether the name `name` (key `key`) is registered, free, too like a
   * registered one, or free but not to be registered from `remote` now.
   */
  lookupAccount(
    name: string,
    key: string,
    remote: string,
  ): Promise<NameStatus>;
  /**
   * Checks `password` for the account `key`, tried from `remote`. `signal`
   * aborts when the connection stops waiting (closed, timed out), so a
   * check still queued need not be made.
   */
  checkPassword(
    key: string,
    password: string,
    remote: string,
    signal?: AbortSignal,
  ): Promise<PasswordVerdict>;
  /**
   * Registers an account from `remote`; never `wrong`, `refused` when the
   * name was taken meanwhile or the address made too many accounts.
   * `signal` as for {@linkcode ConnectionPorts.checkPassword}.
   */
  register(
    name: string,
    key: string,
    password: string,
    remote: string,
    signal?: AbortSignal,
  ): Promise<PasswordVerdict>;
  /** The user is logged in on this connection: route to it from now on. */
  enterSession(connId: string, name: string, key: string): void;
  /** Frames received while online, in order (never `bye`). */
  handle(connId: string, frames: Incoming[]): void;
  /** The connection is over: say why if the client can still hear it. */
  finish(connId: string, reason: CloseReason, text: string): void;
}

/** The context of a connection actor: small, serialisable, secret-free. */
export interface ConnectionContext {
  connId: string;
  remote: string;
  /** Requested or logged-in display name. */
  name: string | null;
  key: string | null;
  mode: "register" | "login" | null;
  failures: number;
  /** Delay before answering the last wrong password, in ms. */
  penaltyMs: number;
  loggedIn: boolean;
  /**
   * The login timeout fired while the server was checking a password: the
   * connection closes once the check is answered and the turn is back with
   * the client, unless it logged in.
   */
  loginExpired: boolean;
  /** When the last frame arrived, on {@linkcode ConnectionPorts.now}. */
  lastFrameAt: number;
  closeReason: CloseReason | null;
  closeText: string;
}

/** Input to spawn a connection actor with. */
export interface ConnectionInput {
  connId: string;
  remote: string;
}

/** Events a connection actor accepts. */
export type ConnectionEvent =
  | { type: "FRAMES"; frames: Incoming[] }
  | { type: "LINK_CLOSED"; cause: CloseCause }
  /** The server ends the connection; `text` defaults to the reason's. */
  | { type: "KICK"; reason: ByeReason; text?: string }
  | { type: "LOGIN_TIMEOUT" }
  /**
   * A timer of a logged-in connection fired. `lastDirectAt`: when the last
   * frame handed straight to the ports arrived (0: none), on
   * {@linkcode ConnectionPorts.now}.
   */
  | { type: "IDLE_TIMER"; lastDirectAt?: number }
  | { type: "PING_TIMEOUT"; lastDirectAt?: number }
  /**
   * Frames handed straight to {@linkcode ConnectionPorts.handle} made it
   * throw: the actor fails with `error`, as when an action throws.
   */
  | { type: "HANDLE_FAILED"; error: unknown };

/** The events a timer of a logged-in connection sends. */
type TimerEvent = Extract<
  ConnectionEvent,
  { type: "IDLE_TIMER" | "PING_TIMEOUT" }
>;

/**
 * What the machine tells its link actor on entering a state: whether frames
 * go straight to {@linkcode ConnectionPorts.handle} (`direct`, while
 * `online`) or to the machine as `FRAMES` events; and, since the link also
 * keeps the one timer of a logged-in connection, the timer that replaces
 * any other (none: cleared).
 */
interface LinkCommand {
  direct: boolean;
  timer?: { ms: number; event: TimerEvent["type"] };
}

/** Input of a link actor: its connection, and the actor it serves. */
interface LinkInput {
  connId: string;
  machine: AnyActorRef;
}

type FramesEvent = Extract<ConnectionEvent, { type: "FRAMES" }>;

const CLOSE_TEXT: Record<CloseReason, string> = {
  client_left: "Goodbye",
  shutdown: "The server is shutting down",
  taken_over: "Logged in from another connection",
  ping_timeout: "No answer to ping",
  login_timeout: "Login took too long",
  too_many_attempts: "Too many wrong passwords",
  kicked: "Kicked by the operator",
  slow_consumer: "Too far behind reading messages",
  flooding: "Too many frames too fast, after being refused",
  protocol_error: "Protocol error",
  connection_lost: "Connection lost",
  internal: "Internal server error",
};

function first(event: ConnectionEvent): Incoming | undefined {
  return event.type === "FRAMES" ? event.frames[0] : undefined;
}

function firstIs<T extends Incoming["type"]>(
  event: ConnectionEvent,
  type: T,
): boolean {
  return first(event)?.type === type;
}

const isBye = (frame: Incoming) => frame.type === "bye";

function refusal(code: ErrorCode, text: string): ServerFrame {
  return new ProtocolError(code, text).toFrame();
}

/** Why a `hello` is refused (version, name), or null when it is fine. */
function helloRefusal(frame: HelloFrame): ServerFrame | null {
  if (frame.v !== PROTOCOL_VERSION) {
    return refusal(
      "unsupported_version",
      `This server speaks protocol version ${PROTOCOL_VERSION}, found ${frame.v}`,
    );
  }
  try {
    checkName(frame.name);
    return null;
  } catch (error) {
    const e = error as ProtocolError;
    return refusal(e.code, e.message);
  }
}

/**
 * Builds the connection machine around `ports`.
 *
 * @param ports The world the machine acts on; built once per server.
 */
export function createConnectionMachine(ports: ConnectionPorts) {
  /**
   * When the last frame arrived, by whichever way it came: frames handed
   * straight to the ports are noted by the link actor, which tells the
   * machine with its timer events (the time changes on every read while
   * online, too often to go through the machine).
   */
  const lastFrameAt = (context: ConnectionContext, event: ConnectionEvent) =>
    Math.max(
      context.lastFrameAt,
      (event as { lastDirectAt?: number }).lastDirectAt ?? 0,
    );
  /**
   * How to route each running connection actor's link, by actor. The
   * states call it directly: as events, their commands cost the link actor
   * a turn of its own each (mailbox, snapshot, inspection events), twice
   * per ping.
   */
  const routes = new WeakMap<AnyActorRef, (command: LinkCommand) => void>();
  return setup({
    types: {
      context: {} as ConnectionContext,
      events: {} as ConnectionEvent,
      input: {} as ConnectionInput,
    },
    actors: {
      link: fromCallback<EventObject, LinkInput>(
        ({ input, sendBack }) => {
          const { connId, machine } = input;
          let direct = false;
          // Frames before the first login, counted so a client that
          // writes them without end (each one answered by the machine)
          // is closed instead.
          let loginFrames = 0;
          let loggedIn = false;
          let lastDirectAt = 0;
          // One timer at a time, so one function fires them all.
          let due: TimerEvent["type"] = "IDLE_TIMER";
          const fire = () => sendBack({ type: due, lastDirectAt });
          const none = () => {};
          let clearTimer = none;
          routes.set(machine, ({ direct: route, timer }) => {
            direct = route;
            if (route) loggedIn = true;
            clearTimer();
            clearTimer = none;
            if (timer) {
              due = timer.event;
              clearTimer = ports.setTimer(timer.ms, fire);
            }
          });
          const stop = ports.read(connId, {
            frames(frames) {
              if (direct && !frames.some(isBye)) {
                lastDirectAt = ports.now();
                try {
                  ports.handle(connId, frames);
                } catch (error) {
                  sendBack({ type: "HANDLE_FAILED", error });
                }
              } else if (loggedIn) {
                sendBack({ type: "FRAMES", frames });
              } else {
                const room = MAX_LOGIN_FRAMES - loginFrames;
                const was = loginFrames;
                loginFrames += frames.length;
                if (room >= frames.length) {
                  sendBack({ type: "FRAMES", frames });
                } else if (room > 0) {
                  sendBack({ type: "FRAMES", frames: frames.slice(0, room) });
                }
                // Closed at the first frame past the limit, whichever read
                // brings it; later ones are dropped while it closes.
                if (was <= MAX_LOGIN_FRAMES && loginFrames > MAX_LOGIN_FRAMES) {
                  sendBack({
                    type: "KICK",
                    reason: "flooding",
                    text: "Too many frames before login",
                  });
                }
              }
            },
            closed: (cause) => sendBack({ type: "LINK_CLOSED", cause }),
          });
          return () => {
            routes.delete(machine);
            clearTimer();
            stop();
          };
        },
      ),
      lookupAccount: fromPromise<
        NameStatus,
        { name: string; key: string; remote: string }
      >(({ input }) =>
        ports.lookupAccount(input.name, input.key, input.remote)
      ),
      checkPassword: fromPromise<
        PasswordVerdict,
        { key: string; password: string; remote: string }
      >(({ input, signal }) =>
        ports.checkPassword(input.key, input.password, input.remote, signal)
      ),
      register: fromPromise<
        PasswordVerdict,
        { name: string; key: string; password: string; remote: string }
      >(({ input, signal }) =>
        ports.register(
          input.name,
          input.key,
          input.password,
          input.remote,
          signal,
        )
      ),
    },
    delays: {
      loginTimeout: ports.timings.loginTimeoutMs,
      penalty: ({ context }) => context.penaltyMs,
    },
    guards: {
      isHello: ({ event }) => firstIs(event, "hello"),
      isGoodHello: ({ event }) => {
        const frame = first(event);
        return frame?.type === "hello" && helloRefusal(frame) === null;
      },
      isPassword: ({ event }) => firstIs(event, "password"),
      isEmptyPassword: ({ event }) => {
        const frame = first(event);
        return frame?.type === "password" && frame.password.trim() === "";
      },
      isRegistering: ({ context }) => context.mode === "register",
      isBye: ({ event }) => firstIs(event, "bye"),
      isPing: ({ event }) => firstIs(event, "ping"),
      isPong: ({ event }) => firstIs(event, "pong"),
      containsBye: ({ event }) =>
        event.type === "FRAMES" && event.frames.some(isBye),
      notLoggedIn: ({ context }) => !context.loggedIn,
      loginExpired: ({ context }) => context.loginExpired,
      quietForPingInterval: ({ context, event }) =>
        ports.now() - lastFrameAt(context, event) >=
          ports.timings.pingIntervalMs,
      /** The answer of an invoked check (a name, a password) is of `kind`. */
      outputIs: ({ event }, kind: (NameStatus | PasswordVerdict)["kind"]) =>
        (event as { output?: { kind?: string } }).output?.kind === kind,
      noPenalty: ({ context }) => context.penaltyMs <= 0,
      lastChance: ({ context }) =>
        context.failures + 1 >= MAX_PASSWORD_FAILURES,
    },
    actions: {
      noteLoginExpired: assign({ loginExpired: true }),
      attach: ({ context, self }) => ports.attach(context.connId, self),
      write: ({ context }, frame: ServerFrame) =>
        ports.write(context.connId, frame),
      pong: ({ context }) => ports.write(context.connId, { type: "pong" }),
      ping: ({ context }) => ports.write(context.connId, { type: "ping" }),
      /** Raises the frames after the first back to the machine. */
      raiseRest: enqueueActions(({ event, enqueue }) => {
        if (event.type === "FRAMES" && event.frames.length > 1) {
          enqueue.raise({ type: "FRAMES", frames: event.frames.slice(1) });
        }
      }),
      /** Writes the refusal of a password verdict that carries one. */
      refuse: ({ context }, verdict: PasswordVerdict) => {
        if (verdict.kind === "refused") {
          ports.write(context.connId, refusal(verdict.code, verdict.text));
        }
      },
      answerWrong: ({ context }) =>
        ports.write(
          context.connId,
          refusal(
            "wrong_password",
            `Wrong password; ${
              triesLeft(MAX_PASSWORD_FAILURES - context.failures)
            }`,
          ),
        ),
      refuseFirst: ({ context, event }, state: string) => {
        const frame = first(event);
        if (frame) {
          ports.write(context.connId, refusalOf(frame, `while ${state}`));
        }
      },
      refuseHello: ({ context, event }) => {
        const frame = first(event);
        const refused = frame?.type === "hello" ? helloRefusal(frame) : null;
        if (refused) ports.write(context.connId, refused);
      },
      takeName: assign(({ event }) => {
        const frame = first(event) as HelloFrame;
        const { display, key } = checkName(frame.name);
        // Wrong passwords count per connection, whatever name they were for.
        return { name: display, key, mode: null };
      }),
      askPassword: ({ context }) =>
        ports.write(context.connId, {
          type: "auth",
          mode: context.mode!,
          name: context.name!,
        }),
      noteFrame: assign({ lastFrameAt: () => ports.now() }),
      /**
       * On the way into `online` from a check, not on entering it: `online`
       * is entered again after every ping, where this has nothing to do.
       */
      logIn: enqueueActions(({ context, enqueue }) => {
        enqueue.cancel("loginTimer");
        enqueue.assign({ loggedIn: true, lastFrameAt: ports.now() });
        enqueue(() =>
          ports.enterSession(context.connId, context.name!, context.key!)
        );
      }),
      /** Brings the context up to date with frames that went straight on. */
      noteDirectFrames: assign({
        lastFrameAt: ({ context, event }) => lastFrameAt(context, event),
      }),
      /**
       * Online: frames go straight on, and a ping goes once the interval
       * has passed since the last frame.
       */
      routeOnline: ({ context, self }) =>
        routes.get(self)?.({
          direct: true,
          timer: {
            ms: Math.max(
              0,
              context.lastFrameAt + ports.timings.pingIntervalMs - ports.now(),
            ),
            event: "IDLE_TIMER",
          },
        }),
      /** Probing: the answer goes to the machine, within the ping timeout. */
      routeProbing: ({ self }) =>
        routes.get(self)?.({
          direct: false,
          timer: { ms: ports.timings.pingTimeoutMs, event: "PING_TIMEOUT" },
        }),
      handleFrames: ({ context, event }) => {
        const frames = (event as FramesEvent).frames;
        const bye = frames.findIndex(isBye);
        const before = bye === -1 ? frames : frames.slice(0, bye);
        if (before.length > 0) ports.handle(context.connId, before);
      },
      setReason: assign((_, reason: CloseReason) => ({
        closeReason: reason,
        closeText: CLOSE_TEXT[reason],
      })),
      /** Fails the actor, so its parent closes it as after any failure. */
      fail: ({ event }) => {
        if (event.type === "HANDLE_FAILED") throw event.error;
      },
      finish: ({ context }) =>
        ports.finish(
          context.connId,
          context.closeReason ?? "connection_lost",
          context.closeText || CLOSE_TEXT.connection_lost,
        ),
    },
  }).createMachine({
    id: "connection",
    context: ({ input }) => ({
      connId: input.connId,
      remote: input.remote,
      name: null,
      key: null,
      mode: null,
      failures: 0,
      penaltyMs: 0,
      loggedIn: false,
      loginExpired: false,
      lastFrameAt: 0,
      closeReason: null,
      closeText: "",
    }),
    // The link keeps its input for as long as it runs: the id and the
    // actor, not the whole first context.
    invoke: {
      id: "link",
      src: "link",
      input: ({ context, self }): LinkInput => ({
        connId: context.connId,
        machine: self,
      }),
    },
    entry: [
      "attach",
      raise({ type: "LOGIN_TIMEOUT" }, {
        id: "loginTimer",
        delay: "loginTimeout",
      }),
    ],
    on: {
      HANDLE_FAILED: { actions: "fail" },
      LINK_CLOSED: {
        target: ".closed",
        actions: {
          type: "setReason",
          params: ({ event }) =>
            event.cause === "overflow" ? "slow_consumer" : "connection_lost",
        },
      },
      KICK: {
        target: ".closed",
        actions: assign(({ event }) => ({
          closeReason: event.reason,
          closeText: event.text ?? CLOSE_TEXT[event.reason],
        })),
      },
      LOGIN_TIMEOUT: {
        guard: "notLoggedIn",
        target: ".closed",
        actions: [{ type: "setReason", params: "login_timeout" }],
      },
    },
    initial: "unregistered",
    states: {
      unregistered: {
        always: closeIfLoginExpired,
        on: {
          FRAMES: [
            {
              guard: "isGoodHello",
              target: "authenticating",
              actions: ["takeName", "raiseRest"],
            },
            { guard: "isHello", actions: ["refuseHello", "raiseRest"] },
            ...loginPhaseFrames("not logged in"),
          ],
        },
      },
      authenticating: {
        initial: "lookingUp",
        on: { FRAMES: loginPhaseFrames("logging in") },
        states: {
          lookingUp: {
            invoke: {
              src: "lookupAccount",
              input: ({ context }) => ({
                name: context.name!,
                key: context.key!,
                remote: context.remote,
              }),
              onDone: [
                {
                  guard: { type: "outputIs", params: "registered" },
                  target: "awaitingPassword",
                  actions: [
                    assign({
                      mode: "login",
                      name: ({ event }) =>
                        (event.output as { name: string }).name,
                    }),
                    "askPassword",
                  ],
                },
                {
                  // Refused before a password is asked for, not after.
                  guard: { type: "outputIs", params: "lookalike" },
                  target: "#connection.unregistered",
                  actions: {
                    type: "write",
                    params: ({ context, event }) =>
                      lookalikeRefusal(
                        context.name!,
                        (event.output as { of: string }).of,
                      ).toFrame(),
                  },
                },
                {
                  // A new name from an address over its registration
                  // limit: refused before the user chooses a password.
                  guard: { type: "outputIs", params: "limited" },
                  target: "#connection.unregistered",
                  actions: {
                    type: "write",
                    params: ({ event }) =>
                      refusal(
                        "registration_limited",
                        (event.output as { text: string }).text,
                      ),
                  },
                },
                {
                  target: "awaitingPassword",
                  actions: [assign({ mode: "register" }), "askPassword"],
                },
              ],
              onError: {
                target: "#connection.closed",
                actions: [{ type: "setReason", params: "internal" }],
              },
            },
          },
          awaitingPassword: {
            // Back here after a wrong password: say so in the goodbye.
            always: {
              ...closeIfLoginExpired,
              actions: [
                ...closeIfLoginExpired.actions,
                assign({
                  closeText: "Wrong password, and the time to log in is up",
                }),
              ],
            },
            on: {
              FRAMES: [
                {
                  guard: "isEmptyPassword",
                  actions: [
                    {
                      type: "write",
                      params: refusal(
                        "bad_password",
                        "A password must not be empty or only spaces",
                      ),
                    },
                    "raiseRest",
                  ],
                },
                {
                  guard: "isPassword",
                  target: "checking",
                  actions: "raiseRest",
                },
                {
                  guard: "isHello",
                  target: "#connection.unregistered",
                  actions: raise(({ event }) => event),
                },
              ],
            },
          },
          checking: {
            always: [
              { guard: "isRegistering", target: "registering" },
              { target: "verifying" },
            ],
          },
          verifying: {
            on: waitForTheCheck,
            invoke: {
              src: "checkPassword",
              input: ({ context, event }) => ({
                key: context.key!,
                password: passwordOf(event),
                remote: context.remote,
              }),
              onDone: [
                {
                  guard: { type: "outputIs", params: "accepted" },
                  target: "#connection.online",
                  actions: "logIn",
                },
                {
                  guard: { type: "outputIs", params: "refused" },
                  target: "#connection.closed",
                  actions: [
                    { type: "refuse", params: ({ event }) => event.output },
                    { type: "setReason", params: "too_many_attempts" },
                  ],
                },
                {
                  guard: "lastChance",
                  target: "#connection.closed",
                  actions: [{ type: "setReason", params: "too_many_attempts" }],
                },
                {
                  target: "penalty",
                  actions: assign(({ context, event }) => ({
                    failures: context.failures + 1,
                    penaltyMs: event.output.kind === "wrong"
                      ? event.output.delayMs
                      : 0,
                  })),
                },
              ],
              onError: {
                target: "#connection.closed",
                actions: [{ type: "setReason", params: "internal" }],
              },
            },
          },
          // A wrong password is answered only after a delay that grows with
          // each failure, so guessing is slow. Frames meanwhile are refused.
          penalty: {
            // The answer to a checked password comes before any timeout.
            on: waitForTheCheck,
            always: {
              guard: "noPenalty",
              target: "awaitingPassword",
              actions: "answerWrong",
            },
            after: {
              penalty: { target: "awaitingPassword", actions: "answerWrong" },
            },
          },
          registering: {
            on: waitForTheCheck,
            invoke: {
              src: "register",
              input: ({ context, event }) => ({
                name: context.name!,
                key: context.key!,
                password: passwordOf(event),
                remote: context.remote,
              }),
              onDone: [
                {
                  guard: { type: "outputIs", params: "accepted" },
                  target: "#connection.online",
                  actions: "logIn",
                },
                {
                  target: "#connection.unregistered",
                  actions: {
                    type: "refuse",
                    params: ({ event }) => event.output,
                  },
                },
              ],
              onError: {
                target: "#connection.closed",
                actions: [{ type: "setReason", params: "internal" }],
              },
            },
          },
        },
      },
      online: {
        entry: [
          // A read here only hands frames on and notes the time: the link
          // does that itself, sparing the machine an event per read. The
          // state entered next replaces the routing and the timer, so
          // `online` has no exit action.
          "routeOnline",
        ],
        // Any frame shows life, but restarting the idle timer on every read
        // (a cancel and a new timer each time) costs more than the rest of
        // the event: a frame only notes its time, and the timer, set for
        // what was left of the interval, sets itself again for the rest
        // when frames came meanwhile.
        //
        // The timers of logged-in connections are kept by the link actor,
        // not `after`: xstate keeps every delayed event of the system in one
        // table that it walks whole each time any actor stops (an invoked
        // check, a closing connection), so with one pending `after` per
        // connection, 10,000 connections made every login and logout cost
        // 10,000 steps. Nor an actor invoked per state: starting and
        // stopping one on every ping was most of an idle server's work, and
        // each cost about 1.5 KiB while it ran. Only connections still
        // logging in use `after`.
        on: {
          FRAMES: onlineFrames(),
          IDLE_TIMER: [
            { guard: "quietForPingInterval", target: "idle-probing" },
            { target: "online", reenter: true, actions: "noteDirectFrames" },
          ],
        },
      },
      "idle-probing": {
        entry: ["ping", "routeProbing"],
        on: {
          FRAMES: onlineFrames("#connection.online"),
          PING_TIMEOUT: {
            target: "closed",
            actions: [{ type: "setReason", params: "ping_timeout" }],
          },
        },
      },
      closed: {
        type: "final",
        // Its link actor stops with the machine: that clears the timer
        // and ends the reading.
        entry: ["finish"],
      },
    },
  });
}

/**
 * `2 more tries on this connection`. Said per connection: the login guard
 * may refuse sooner across connections, and says so itself.
 */
function triesLeft(n: number): string {
  return `${n} more ${n === 1 ? "try" : "tries"} on this connection`;
}

/**
 * The login timeout counts the client's time, not the server's: when it
 * fires while a password is being hashed (the hash may wait behind others
 * in a storm of logins) or its wrong-password delay runs, the check
 * finishes and is answered, and the connection closes only when the turn
 * comes back to the client.
 */
const closeIfLoginExpired = {
  guard: "loginExpired",
  target: "#connection.closed",
  actions: [{ type: "setReason", params: "login_timeout" }],
} as const;

/** While a password is checked, the login timeout is only noted. */
const waitForTheCheck = {
  LOGIN_TIMEOUT: { actions: "noteLoginExpired" },
} as const;

/**
 * How the login phase answers the frames that do not move it on: `bye`
 * leaves, pings are answered, anything else is refused naming the phase.
 */
function loginPhaseFrames(phase: string) {
  return [
    {
      guard: "isBye",
      target: "#connection.closed",
      actions: [{ type: "setReason", params: "client_left" }],
    },
    { guard: "isPing", actions: ["pong", "raiseRest"] },
    { guard: "isPong", actions: "raiseRest" },
    {
      actions: [{ type: "refuseFirst", params: phase }, "raiseRest"],
    },
  ] as const;
}

/**
 * Frames while logged in: handed to the hub; `bye` closes after the rest.
 * `online` stays where it is (no target); `idle-probing` returns to it.
 */
function onlineFrames(target?: "#connection.online") {
  return [
    {
      guard: "containsBye",
      target: "#connection.closed",
      actions: ["handleFrames", { type: "setReason", params: "client_left" }],
    },
    { target, actions: ["noteFrame", "handleFrames"] },
  ] as const;
}

/**
 * The password carried by the event that entered a checking state. The
 * password goes from the frame straight into the check and is never kept in
 * the context.
 */
function passwordOf(event: unknown): string {
  const frame = (event as FramesEvent).frames?.[0];
  return frame?.type === "password" ? frame.password : "";
}

/** The machine type, for typing actors and snapshots. */
export type ConnectionMachine = ReturnType<typeof createConnectionMachine>;
