import assert from "node:assert/strict";
import { formatActor } from "../cli/debug_format.ts";

Deno.test("formatActor() says how long a closed actor has been closed", () => {
  const closedAt = Date.UTC(2026, 0, 1, 12, 0, 0);
  const text = formatActor({
    type: "actor",
    id: "conn-3",
    kind: "connection",
    status: "done",
    state: "closed",
    since: closedAt,
    endedAt: closedAt,
    context: {},
    connection: null,
    transitions: [],
    children: [],
  }, closedAt + 11_000);
  assert.match(
    text.split("\n")[0],
    /^conn-3 \(connection, done\): closed for 11(\.0)? ?s, ended at /,
  );
});
