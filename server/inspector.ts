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

/** What the inspector knows about one connection actor. */
export interface ActorRecord {
  id: string;
  ref: AnyActorRef;
  /** Dotted state: `online`, `authenticating.awaitingPassword`. */
  state: string;
  /** When it entered `state`. */
  since: number;
  /** Oldest first, at most {@linkcode TRANSITIONS_KEPT}. */
  transitions: Transition[];
  /** When it reached its final state or was stopped; null while live. */
  endedAt: number | null;
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
    const record: ActorRecord = {
      id: ref.id,
      ref,
      state: "",
      since: this.#now(),
      transitions: [],
      endedAt: null,
    };
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
      record.transitions.push(transition);
      if (record.transitions.length > TRANSITIONS_KEPT) {
        record.transitions.shift();
      }
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
