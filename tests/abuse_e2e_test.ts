import assert from "node:assert/strict";
import { withServer } from "./support/server_fixture.ts";

Deno.test("server limits password guessing, registration floods and message floods", async (t) => {
  await withServer([
    "--login-failures",
    "3",
    "--login-cooldown",
    "3",
    "--login-delay",
    "0.2",
    "--register-limit",
    "3",
    "--rate-limit",
    "5",
    "--rate-burst",
    "5",
  ], async ({ server, connect, clients }) => {
    const bob = await connect();
    assert.equal((await bob.login("bob", "owner-pw")).type, "ready");
    await bob.send({ type: "bye" });
    await bob.waitClosed();

    await t.step(
      "wrong passwords are answered ever more slowly, then locked out for the cool-down",
      async () => {
        const guesser = await connect();
        await guesser.send({ type: "hello", v: 1, name: "bob" });
        await guesser.next("auth", 0);
        const took: number[] = [];
        for (const guess of ["guess-one", "guess-two"]) {
          const from = guesser.frames.length;
          const start = performance.now();
          await guesser.send({ type: "password", password: guess });
          assert.deepEqual(
            (await guesser.next("error", from)).code,
            "wrong_password",
          );
          took.push(performance.now() - start);
        }
        assert.ok(took[0] >= 190, `first answer after ${took[0]} ms`);
        assert.ok(took[1] >= 390, `second answer after ${took[1]} ms`);
        await guesser.send({ type: "password", password: "guess-three" });
        assert.deepEqual(await guesser.next("bye", 0), {
          type: "bye",
          reason: "too_many_attempts",
          text: "Too many wrong passwords",
        });
        await guesser.waitClosed();

        // Three failures from this address: even the right password is refused.
        const locked = await connect();
        await locked.send({ type: "hello", v: 1, name: "bob" });
        await locked.next("auth", 0);
        await locked.send({ type: "password", password: "owner-pw" });
        const refusal = await locked.next("error", 0);
        assert.equal(refusal.code, "too_many_attempts");
        assert.match(
          refusal.text,
          /^Too many wrong passwords for this name from your address; try again in [1-3] s$/,
        );
        assert.equal((await locked.next("bye", 0)).reason, "too_many_attempts");
      },
    );

    await t.step("the owner logs in after the cool-down", async () => {
      await new Promise((r) => setTimeout(r, 3_200));
      const owner = await connect();
      assert.equal((await owner.login("bob", "owner-pw")).type, "ready");
      owner.close();
    });

    await t.step("login attempts are logged without the password", async () => {
      await server.stderr.waitFor("Wrong password for bob from 127.0.0.1");
      const log = server.stderr.lines.join("\n");
      for (const secret of ["guess-one", "guess-two", "guess-three"]) {
        assert.ok(!log.includes(secret), `${secret} appears in the log`);
      }
      assert.ok(!log.includes("owner-pw"));
    });

    await t.step(
      "one address may register only so many accounts per window",
      async () => {
        const c = await connect();
        assert.equal((await c.login("reg1", "pw")).type, "ready");
        c.close();
        const d = await connect();
        assert.equal((await d.login("reg2", "pw")).type, "ready");
        d.close();
        const flood = await connect();
        await flood.send({ type: "hello", v: 1, name: "reg3" });
        // Refused at once, not after a password was chosen for it.
        const answer = await flood.next("error", 0);
        assert.deepEqual(flood.frames.map((f) => f.type), ["error"]);
        assert.equal(answer.code, "registration_limited");
        assert.match(
          answer.text,
          /^At most 3 new accounts per 600 s from one address; try again in \d+ s$/,
        );
        // The connection is kept: an existing account may still log in.
        assert.equal((await flood.login("reg1", "pw")).type, "ready");
      },
    );

    await t.step(
      "a message flood is told rate_limited, and the rest of the flood is not sent",
      async () => {
        const sender = clients.at(-1)!;
        const watcher = await connect();
        assert.equal((await watcher.login("bob", "owner-pw")).type, "ready");
        const from = sender.frames.length;
        const flood = [];
        for (let i = 0; i < 20; i++) {
          flood.push({ type: "send", id: `f${i}`, to: "all", text: `n${i}` });
        }
        await sender.send(...flood);
        await sender.waitFor((f) => f.id === "f19", 10_000, from);
        const answers = sender.frames.slice(from).filter((f) => f.id);
        assert.equal(answers.filter((f) => f.type === "accepted").length, 5);
        const limited = answers.filter((f) => f.code === "rate_limited");
        assert.equal(limited.length, 15);
        assert.match(
          limited[0].text,
          /^Too many messages: at most 5 per second; this one was not sent, try again in \d+ ms$/,
        );
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(
          watcher.frames.filter((f) => f.type === "msg").map((f) => f.text),
          ["n0", "n1", "n2", "n3", "n4"],
        );
        await new Promise((r) => setTimeout(r, 1_000));
        const later = sender.frames.length;
        await sender.send({ type: "send", id: "after", to: "all", text: "ok" });
        assert.equal((await sender.next("accepted", later)).id, "after");
      },
    );
  });
});
