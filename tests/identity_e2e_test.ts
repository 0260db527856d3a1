import assert from "node:assert/strict";
import { withServer } from "./support/server_fixture.ts";

Deno.test("server keeps one account per person whatever form the name takes", async (t) => {
  await withServer([], async ({ connect }) => {
    const authFor = async (name: string) => {
      const c = await connect();
      await c.send({ type: "hello", v: 1, name });
      const answer = await c.waitFor((f) =>
        f.type === "auth" || f.type === "error"
      );
      c.close();
      return answer;
    };
    for (const [name, password] of [["Alice", "a"], ["Zoë", "z"]]) {
      const c = await connect();
      assert.equal((await c.login(name, password)).type, "ready");
      await c.send({ type: "bye" });
      await c.waitClosed();
    }

    await t.step(
      "names differing by case or width log in to the same account",
      async () => {
        for (const name of ["alice", "ALICE", "ＡＬＩＣＥ"]) {
          assert.deepEqual(await authFor(name), {
            type: "auth",
            mode: "login",
            name: "Alice",
          }, name);
        }
      },
    );

    await t.step(
      "a decomposed accent logs in to the composed account",
      async () => {
        assert.deepEqual(await authFor("ZOE\u0308"), {
          type: "auth",
          mode: "login",
          name: "Zoë",
        });
      },
    );

    await t.step(
      "look-alike and invisible names are refused with a reason and retry works",
      async () => {
        const c = await connect();
        const bad = [
          "Ali\u200Bce",
          "\u0410lice",
          "",
          "bob smith",
          "bob@home",
          "x".repeat(300),
          "All",
        ];
        for (const name of bad) await c.send({ type: "hello", v: 1, name });
        await c.send({ type: "hello", v: 1, name: "carol" });
        await c.next("auth", 0);
        assert.deepEqual(c.frames.map((f) => f.code ?? f.type), [
          "bad_name",
          "bad_name",
          "bad_name",
          "bad_name",
          "bad_name",
          "bad_name",
          "name_reserved",
          "auth",
        ]);
        assert.match(c.frames[1].text, /from Cyrillic and Latin scripts/);
        assert.match(c.frames[5].text, /found 300 characters/);
      },
    );

    await t.step(
      "two clients registering the same new name at once make one account",
      async () => {
        for (let round = 0; round < 5; round++) {
          const name = `twin${round}`;
          const [a, b] = [await connect(), await connect()];
          await Promise.all(
            [a, b].map((c) => c.send({ type: "hello", v: 1, name })),
          );
          await Promise.all([a, b].map((c) => c.next("auth", 0)));
          assert.deepEqual(
            [a.frames[0].mode, b.frames[0].mode],
            ["register", "register"],
          );
          await Promise.all(
            [a, b].map((c) => c.send({ type: "password", password: "pw" })),
          );
          const answers = await Promise.all(
            [a, b].map((c) =>
              c.waitFor((f) => f.type === "ready" || f.type === "error")
            ),
          );
          const kinds = answers.map((f) => f.code ?? f.type).sort();
          assert.deepEqual(kinds, ["name_taken", "ready"], `round ${round}`);
          const loser = answers[0].type === "error" ? a : b;
          assert.deepEqual(await authFor(name), {
            type: "auth",
            mode: "login",
            name,
          });
          // The loser is back at hello and may pick another name.
          const from = loser.frames.length;
          await loser.send({ type: "hello", v: 1, name: `${name}b` });
          assert.equal((await loser.next("auth", from)).mode, "register");
        }
      },
    );

    await t.step(
      "a connection that gave a name but no password counts as offline",
      async () => {
        const bob = await connect();
        assert.equal((await bob.login("bob", "pw")).type, "ready");
        const half = await connect();
        await half.send({ type: "hello", v: 1, name: "alice" });
        await half.next("auth", 0);
        const from = bob.frames.length;
        await bob.send({ type: "send", id: "1", to: "alice", text: "hi" });
        await bob.send({ type: "who" });
        assert.equal((await bob.next("accepted", from)).status, "stored");
        const { users } = await bob.next("who", from);
        assert.ok(users.includes("bob") && !users.includes("Alice"), users);
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(half.frames.map((f) => f.type), ["auth"]);
      },
    );
    await t.step(
      "a name in another script that looks like a registered one is refused before any password",
      async () => {
        const c = await connect();
        await c.send({
          type: "hello",
          v: 1,
          name: "\u0430\u04cf\u0456\u0441\u0435",
        });
        const refusal = await c.waitFor("error");
        assert.deepEqual(refusal, {
          type: "error",
          code: "name_confusable",
          text:
            'The name "\u0430\u04cf\u0456\u0441\u0435" looks like the registered name "Alice"; choose another',
        });
        assert.equal((await c.login("Alicia", "p")).type, "ready");
        c.close();
      },
    );
  });
});
