/**
 * A hub over an in-memory database and fake ports that record every frame
 * written, for unit tests of routing and delivery.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ServerFrame } from "../../protocol/frames.ts";
import { Hub } from "../../server/hub.ts";
import { openDatabase } from "../../store/database.ts";
import { GroupCommitter } from "../../store/group_commit.ts";
import { Mailboxes } from "../../store/mailboxes.ts";

/** How to build the hub. */
export interface HubFixtureOptions {
  /** Registered names (keys); the array may grow during a test. */
  accounts?: string[];
  /** Stored messages per recipient. Default 100,000. */
  maxStored?: number;
  /** The committer to store through, e.g. one that fails on purpose. */
  committer?: (kv: Deno.Kv) => GroupCommitter;
  /** `send` frames per second and at once; none when left out. */
  rateLimit?: { perSecond: number; burst: number };
}

/** A hub and what it did. */
export interface HubFixture {
  hub: Hub;
  committer: GroupCommitter;
  /** Every frame written, with its connection, in order. */
  written: Array<[string, ServerFrame]>;
  /** The frames written to one connection, in order. */
  framesTo(connId: string): ServerFrame[];
  /** Connections kicked, with the reason. */
  kicked: Array<[string, string]>;
  /** Moves the fake clock on, firing the timers that fall due. */
  tick(ms: number): void;
  close(): Promise<void>;
}

/** Starts a hub; the clock starts at 1,000 ms. */
export async function startHub(
  options: HubFixtureOptions = {},
): Promise<HubFixture> {
  const accounts = options.accounts ?? ["alice", "bob", "carol"];
  const kv = await openDatabase(":memory:");
  const committer = options.committer?.(kv) ?? new GroupCommitter(kv);
  let now = 1_000;
  const mailboxes = new Mailboxes(kv, committer, {
    maxStored: options.maxStored ?? 100_000,
    ttlMs: 86_400_000,
    now: () => now,
    // A failed delete's retry on a real timer would race with a test's
    // steps; none of these tests waits for it.
    retryMs: 60_000,
  });
  const written: Array<[string, ServerFrame]> = [];
  const kicked: Array<[string, string]> = [];
  let timers: Array<{ at: number; fire: () => void }> = [];
  const hub = new Hub({
    write: (connId, frame) => {
      written.push([connId, frame]);
      return true;
    },
    writeAll: (connIds, frame) => {
      for (const connId of connIds) written.push([connId, frame]);
    },
    queuedBytes: () => 0,
    kick: (connId, reason) => kicked.push([connId, reason]),
    accountName: (key) => Promise.resolve(accounts.includes(key) ? key : null),
    now: () => now,
    setTimer(ms, fire) {
      const timer = { at: now + ms, fire };
      timers.push(timer);
      return () => timers = timers.filter((t) => t !== timer);
    },
    ready: {
      server: "test",
      pingInterval: 30,
      pingTimeout: 10,
      instance: "i1",
      rateLimit: options.rateLimit?.perSecond ?? 0,
      rateBurst: options.rateLimit?.burst ?? 0,
    },
  }, mailboxes);
  return {
    hub,
    committer,
    written,
    framesTo: (connId) =>
      written.filter(([c]) => c === connId).map(([, f]) => f),
    kicked,
    tick(ms) {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const timer of due.sort((a, b) => a.at - b.at)) timer.fire();
    },
    async close() {
      mailboxes.close();
      await committer.drain();
      hub.close();
      kv.close();
    },
  };
}

/** A `send` frame. */
export const send = (id: string, to: string, text: string) => ({
  type: "send" as const,
  id,
  to,
  text,
});

/** Waits (up to a second) until `check` holds; fails the test if it never does. */
export async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.ok(check(), "condition not reached in time");
}
