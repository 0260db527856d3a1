import assert from "node:assert/strict";
import { withServer } from "./support/server_fixture.ts";

Deno.test("wrong passwords sent on many connections at once are each counted against the lockout", async () => {
  await withServer([
    "--login-failures",
    "3",
    "--login-delay",
    "0.05",
  ], async ({ connect }) => {
    const owner = await connect();
    assert.equal((await owner.login("bob", "owner-pw")).type, "ready");
    await owner.send({ type: "bye" });
    await owner.waitClosed();

    const guessers = await Promise.all(
      Array.from({ length: 8 }, () => connect()),
    );
    for (const guesser of guessers) {
      await guesser.send({ type: "hello", v: 1, name: "bob" });
    }
    for (const guesser of guessers) await guesser.next("auth", 0);
    await Promise.all(
      guessers.map((guesser, i) =>
        guesser.send({ type: "password", password: `guess-${i}` })
      ),
    );
    const codes = await Promise.all(
      guessers.map(async (guesser) => (await guesser.next("error", 0)).code),
    );
    assert.deepEqual(codes.toSorted(), [
      ...Array(5).fill("too_many_attempts"),
      ...Array(3).fill("wrong_password"),
    ]);
  });
});
