import assert from "node:assert/strict";
import { formatActor, formatKicked, table } from "../cli/debug_format.ts";

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

Deno.test("formatKicked() names the connection when nobody had logged in on it", () => {
  // It used to print "Kicked - (conn-17)", a dash where the user goes.
  assert.equal(
    formatKicked({ type: "kicked", id: "conn-17", user: null, text: "bye" }),
    "Kicked conn-17 (not logged in): bye",
  );
  assert.equal(
    formatKicked({ type: "kicked", id: "conn-3", user: "alice", text: "go" }),
    "Kicked alice (conn-3): go",
  );
});

Deno.test("table columns line up in terminal columns: wide and combining characters too", () => {
  assert.equal(
    table([
      ["NAME", "STATE", "IDLE"],
      ["名前", "online", "1s"],
      ["e\u0301mile", "idle-probing", "2s"],
      ["bob", "online", "3s"],
    ]),
    [
      "NAME   STATE         IDLE",
      "名前   online        1s",
      "e\u0301mile  idle-probing  2s",
      "bob    online        3s",
    ].join("\n"),
  );
});

Deno.test("formatActor() counts one child in the singular", () => {
  const text = formatActor({
    type: "actor",
    id: "supervisor",
    kind: "supervisor",
    status: "active",
    state: "running",
    since: null,
    endedAt: null,
    context: {},
    connection: null,
    transitions: [],
    children: [
      { id: "shard-1", status: "active", children: 1 },
      { id: "shard-2", status: "active", children: 2 },
    ],
  });
  assert.deepEqual(text.split("\n").slice(-3), [
    "children (2):",
    "  shard-1  active    1 child",
    "  shard-2  active    2 children",
  ]);
});
