/**
 * The inspector: follows the actors of a running server through xstate's
 * own inspection API and keeps, for each connection actor, its state, when
 * it entered it, and its last transitions. `parley debug` reads from here.
 *
 * The hot path sends one event per socket read to a connection actor, and
 * every one of them reaches {@linkcode Inspector.inspect}. So that stays
 * cheap: a type check, a map lookup, and a comparison of the state value;
 * only a real change of state records anything. Event payloads are never
 * kept: a transition holds the event's type and a short summary made from
 * fields known to be safe (frame types, never frame contents, so a
 * password frame leaves no trace).
 *
 * @module
 */

import type {
  AnyActor,
  AnyActorLogic,
  AnyActorRef,
  InspectionEvent,
} from "xstate";
import type { ConnectionContext } from "../actors/connection.ts";

/** Transitions kept per actor. */
export const TRANSITIONS_KEPT = 20;

/** Closed connection actors kept for `parley debug show`. */
export const CLOSED_KEPT = 100;

/** One change of state of an actor. */
export interface Transition {
  /** Milliseconds since the epoch. */
  at: number;
  actor: string;
  /** The state left; null for the actor's first state. */
  from: string | null;
  to: string;
  /** The type of the event that caused it. */
  event: string;
  /** Why, in words: `no frame for 30 s`, `frames: hello`. */
  cause: string;
}

/**
 * Strings shared by every record: state names, event types and causes,
 * each kept once and named by its index. Causes that carry a client's or
 * an operator's words (a name, a kick's text) could fill it without end,
 * so it stops taking strings at {@linkcode Names.MAX}.
 */
class Names {
  /** Indexes fit 12 bits, and four of them one packed transition. */
  static readonly MAX = 4095;
  readonly #index = new Map<string, number>();
  readonly #names: string[] = [];

  /** The index of `name`, or -1 when the table is full. */
  id(name: string): number {
    let id = this.#index.get(name);
    if (id === undefined) {
      if (this.#names.length >= Names.MAX) return -1;
      id = this.#names.push(name) - 1;
      this.#index.set(name, id);
    }
    return id;
  }

  name(id: number): string {
    return this.#names[id];
  }
}

/**
 * What the inspector knows about one connection actor.
 *
 * Every logged-in connection keeps its last transitions for as long as it
 * lives, and 10,000 of them pinged for minutes keep 200,000. As objects
 * with their own strings they took about 2 KiB a connection; packed, a
 * transition is two numbers, when it happened and the indexes of its four
 * strings in the inspector's shared table, decoded only when asked for.
 */
export class ActorRecord {
  readonly id: string;
  readonly ref: AnyActorRef;
  /** Dotted state: `online`, `authenticating.awaitingPassword`. */
  state = "";
  /** When it entered `state`. */
  since: number;
  /** When it reached its final state or was stopped; null while live. */
  endedAt: number | null = null;
  readonly #names: Names;
  /** Pairs of `at` and packed indexes; -1 stands for one in `#unpacked`. */
  readonly #packed: number[] = [];
  /** Transitions whose strings the shared table had no room for. */
  #unpacked: Transition[] | undefined;

  /** @internal Made by the {@linkcode Inspector}. */
  constructor(id: string, ref: AnyActorRef, since: number, names: Names) {
    this.id = id;
    this.ref = ref;
    this.since = since;
    this.#names = names;
  }

  /** Oldest first, at most {@linkcode TRANSITIONS_KEPT}. */
  get transitions(): Transition[] {
    const names = this.#names;
    const list: Transition[] = [];
    let unpacked = 0;
    for (let i = 0; i < this.#packed.length; i += 2) {
      const at = this.#packed[i];
      let code = this.#packed[i + 1];
      if (code === -1) {
        list.push(this.#unpacked![unpacked++]);
        continue;
      }
      const field = () => {
        const id = code % 4096;
        code = (code - id) / 4096;
        return id;
      };
      const cause = names.name(field());
      const event = names.name(field());
      const to = names.name(field());
      const from = code === 0 ? null : names.name(code - 1);
      list.push({ at, actor: this.id, from, to, event, cause });
    }
    return list;
  }

  /** Keeps `transition`, forgetting the oldest beyond the limit. */
  add(transition: Transition): void {
    const names = this.#names;
    const from = transition.from === null ? 0 : names.id(transition.from) + 1;
    const to = names.id(transition.to);
    const event = names.id(transition.event);
    const cause = names.id(transition.cause);
    if (
      from === 0 && transition.from !== null || to < 0 || event < 0 ||
      cause < 0
    ) {
      (this.#unpacked ??= []).push(transition);
      this.#packed.push(transition.at, -1);
    } else {
      this.#packed.push(
        transition.at,
        ((from * 4096 + to) * 4096 + event) * 4096 + cause,
      );
    }
    if (this.#packed.length > 2 * TRANSITIONS_KEPT) {
      this.#packed.shift();
      if (this.#packed.shift() === -1) this.#unpacked!.shift();
    }
  }
}

/** Settings of an {@linkcode Inspector}. */
export interface InspectorOptions {
  /** The connection machine: actors running it are followed. */
  connection: AnyActorLogic;
  /** Ping and login timings, in seconds, to explain timeouts. */
  timings: { pingInterval: number; pingTimeout: number; login: number };
  now?: () => number;
}

/** Dotted form of a state value; cheap for the flat values parley uses. */
export function stateName(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value !== "object" || value === null) return String(value);
  const parts: string[] = [];
  for (const [key, inner] of Object.entries(value)) {
    const rest = stateName(inner);
    parts.push(rest === "" || rest === "{}" ? key : `${key}.${rest}`);
  }
  return parts.join(",");
}

/** Follows connection actors; pass {@linkcode Inspector.inspect} to xstate. */
export class Inspector {
  readonly #options: InspectorOptions;
  readonly #now: () => number;
  readonly #live = new Map<AnyActorRef, ActorRecord>();
  readonly #byId = new Map<string, ActorRecord>();
  readonly #closed: ActorRecord[] = [];
  readonly #watchers = new Set<(transition: Transition) => void>();
  readonly #names = new Names();

  /** @param options What to follow and how to explain timeouts. */
  constructor(options: InspectorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The inspection observer, for the root actor's `inspect` option. */
  readonly inspect = (event: InspectionEvent): void => {
    if (event.type === "@xstate.snapshot") this.#snapshot(event);
    else if (event.type === "@xstate.actor") {
      this.#actor(event.actorRef as AnyActor);
    }
  };

  #actor(ref: AnyActor): void {
    if (ref.logic !== this.#options.connection) return;
    const record = new ActorRecord(ref.id, ref, this.#now(), this.#names);
    this.#live.set(ref, record);
    this.#byId.set(ref.id, record);
  }

  #snapshot(
    event: Extract<InspectionEvent, { type: "@xstate.snapshot" }>,
  ): void {
    const record = this.#live.get(event.actorRef as AnyActorRef);
    if (record === undefined) return;
    const snapshot = event.snapshot as {
      value?: unknown;
      status: string;
      context?: ConnectionContext;
    };
    if (snapshot.status === "stopped" || snapshot.status === "error") {
      this.#end(record);
      return;
    }
    const state = stateName(snapshot.value);
    if (state !== record.state) {
      const at = this.#now();
      const transition: Transition = {
        at,
        actor: record.id,
        from: record.state === "" ? null : record.state,
        to: state,
        event: event.event.type,
        cause: this.#cause(event.event, state, snapshot.context),
      };
      record.state = state;
      record.since = at;
      record.add(transition);
      for (const watcher of this.#watchers) watcher(transition);
    }
    if (snapshot.status === "done") this.#end(record);
  }

  #end(record: ActorRecord): void {
    this.#live.delete(record.ref);
    record.endedAt = this.#now();
    this.#closed.push(record);
    if (this.#closed.length > CLOSED_KEPT) {
      const gone = this.#closed.shift()!;
      if (this.#byId.get(gone.id) === gone) this.#byId.delete(gone.id);
    }
  }

  /** Explains an event in a few safe words. */
  #cause(
    event: { type: string; [field: string]: unknown },
    state: string,
    context: ConnectionContext | undefined,
  ): string {
    const { timings } = this.#options;
    const type = event.type;
    if (type === "xstate.init") return "connected";
    if (type === "FRAMES") {
      if (state === "closed" && context?.closeReason) {
        return context.closeReason.replaceAll("_", " ");
      }
      const frames = event.frames as Array<{ type: string }>;
      const types = frames.slice(0, 4).map((f) => f.type).join(", ");
      return `frames: ${types}${frames.length > 4 ? ", …" : ""}`;
    }
    if (type === "IDLE_TIMER") {
      return `no frame for ${timings.pingInterval} s`;
    }
    if (type === "PING_TIMEOUT") {
      return `no answer to ping for ${timings.pingTimeout} s`;
    }
    if (type === "LOGIN_TIMEOUT") {
      return `not logged in after ${timings.login} s`;
    }
    if (type === "LINK_CLOSED") {
      return event.cause === "overflow"
        ? "outgoing queue overflowed"
        : `connection lost: ${event.cause}`;
    }
    if (type === "KICK") {
      const reason = String(event.reason).replaceAll("_", " ");
      return event.reason === "kicked" ? `kicked: ${event.text}` : reason;
    }
    if (type.startsWith("xstate.done.actor.")) {
      const output = event.output as
        | { kind?: string; code?: string; of?: string }
        | undefined;
      if (type.endsWith(".lookingUp")) {
        if (output?.kind === "registered") return "account exists";
        if (output?.kind === "lookalike") return `looks like ${output.of}`;
        return "name is free";
      }
      if (output?.kind === "refused") return `refused: ${output.code}`;
      if (type.endsWith(".verifying")) {
        return output?.kind === "accepted"
          ? "password accepted"
          : "wrong password";
      }
      if (type.endsWith(".registering")) return "registered";
    }
    if (type.startsWith("xstate.error.actor.")) return "store failed";
    if (context?.closeReason) return context.closeReason.replaceAll("_", " ");
    return type;
  }

  /** Live connection actors, oldest first. */
  live(): ActorRecord[] {
    return [...this.#live.values()];
  }

  /** A live or recently closed connection actor by id. */
  get(id: string): ActorRecord | undefined {
    return this.#byId.get(id);
  }

  /** Recently closed connection actors, oldest first. */
  closed(): readonly ActorRecord[] {
    return this.#closed;
  }

  /** Live connection actors per state. */
  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const record of this.#live.values()) {
      counts[record.state] = (counts[record.state] ?? 0) + 1;
    }
    return counts;
  }

  /**
   * Calls `listener` with every transition from now on.
   *
   * @returns A function that stops the calls.
   */
  watch(listener: (transition: Transition) => void): () => void {
    this.#watchers.add(listener);
    return () => this.#watchers.delete(listener);
  }
}
