/**
 * Private messages from alice to bob as the mailbox tests store them: the
 * text doubles as the send id.
 *
 * @module
 */

import type { StoredMessage } from "../../store/mailboxes.ts";

/** A message to store, before the mailbox numbers it. */
export const message = (
  text: string,
  ts = 5,
): Omit<StoredMessage, "seq"> => ({
  from: "alice",
  fromKey: "alice",
  to: "bob",
  ts,
  text,
  id: text,
});

/** A message as stored under `seq`, for writing a database by hand. */
export const stored = (seq: number, text: string): StoredMessage => ({
  seq,
  ...message(text),
});
