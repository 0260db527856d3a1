import assert from "node:assert/strict";
import { withServer } from "./support/server_fixture.ts";

const encoder = new TextEncoder();
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("server reads any bad wire input as documented and stays up", async (t) => {
  await withServer([], async ({ connect, clients }) => {
    const bob = await connect();
    assert.equal((await bob.login("bob", "pw")).type, "ready");

    await t.step(
      "a frame written one byte at a time reads as if sent whole",
      async () => {
        const c = await connect();
        for (
          const byte of encoder.encode('{"type":"hello","v":1,"name":"ann"}\n')
        ) {
          await c.write(Uint8Array.of(byte));
        }
        assert.deepEqual(await c.next("auth", 0), {
          type: "auth",
          mode: "register",
          name: "ann",
        });
        await c.send({ type: "password", password: "pw" });
        await c.next("ready", 0);
      },
    );

    await t.step(
      "several frames in one write are all answered in order",
      async () => {
        const c = clients.at(-1)!;
        const from = c.frames.length;
        await c.write(
          '{"type":"ping"}\n{"type":"who"}\n{"type":"send","id":"s1","to":"bob","text":"x"}\n',
        );
        await c.next("accepted", from);
        assert.deepEqual(
          c.frames.slice(from).map((f) => f.type),
          ["pong", "who", "accepted"],
        );
      },
    );

    await t.step(
      "a UTF-8 character split across two writes arrives whole",
      async () => {
        const c = clients.at(-1)!;
        const from = bob.frames.length;
        const bytes = encoder.encode(
          '{"type":"send","id":"u","to":"bob","text":"smile 😀 ok"}\n',
        );
        const cut = bytes.indexOf(0xf0) + 2;
        await c.write(bytes.subarray(0, cut));
        await pause(50);
        await c.write(bytes.subarray(cut));
        const msg = await bob.next("msg", from);
        assert.equal(msg.text, "smile 😀 ok");
      },
    );

    await t.step("CRLF line endings read like LF", async () => {
      const c = clients.at(-1)!;
      const from = c.frames.length;
      await c.write('{"type":"ping"}\r\n\r\n{"type":"who"}\r\n');
      await c.next("who", from);
      assert.deepEqual(c.frames.slice(from).map((f) => f.type), [
        "pong",
        "who",
      ]);
    });

    await t.step(
      "a 1 MB line gets frame_too_large once and its rest is not parsed",
      async () => {
        const c = clients.at(-1)!;
        const from = c.frames.length;
        const looksLikeFrames = '{"type":"ping"}\n'.slice(0, -1).repeat(70_000);
        await c.write(`{"junk":"${looksLikeFrames}"}\n{"type":"who"}\n`);
        await c.next("who", from, 20_000);
        assert.deepEqual(c.frames.slice(from), [
          {
            type: "error",
            code: "frame_too_large",
            text:
              "Frame of 1050011 bytes is over the limit of 65536; it was skipped",
          },
          { type: "who", users: ["ann", "bob"] },
        ]);
      },
    );

    await t.step(
      "invalid UTF-8, invalid JSON, wrong shapes and unknown types each get their code",
      async () => {
        const c = clients.at(-1)!;
        const from = c.frames.length;
        await c.write(Uint8Array.of(0x7b, 0xc3, 0x28, 0x7d, 0x0a));
        await c.write('{"type":"send"\n[1]\n{"type":"ack","seq":"x"}\n');
        await c.write(
          '{"type":"dance"}\n{"type":"hello","v":1,"name":"ann"}\n',
        );
        await c.write('{"type":"ping"}\n');
        await c.next("pong", from);
        assert.deepEqual(
          c.frames.slice(from).map((f) => f.code ?? f.type),
          [
            "bad_utf8",
            "bad_frame",
            "bad_frame",
            "bad_frame",
            "unknown_type",
            "not_allowed",
            "pong",
          ],
        );
      },
    );

    await t.step(
      "a message before login gets not_allowed and login still works",
      async () => {
        const c = await connect();
        await c.send({ type: "send", id: "1", to: "bob", text: "hi" });
        assert.deepEqual(await c.next("error", 0), {
          type: "error",
          code: "not_allowed",
          text: 'A "send" frame is not allowed while not logged in',
        });
        assert.equal((await c.login("cy", "pw")).type, "ready");
      },
    );

    await t.step(
      "a text of exactly 8192 bytes is delivered and one more byte is refused",
      async () => {
        const c = clients.at(-1)!;
        const from = bob.frames.length;
        const exact = "é".repeat(4096);
        await c.send({ type: "send", id: "max", to: "bob", text: exact });
        assert.equal((await bob.next("msg", from)).text, exact);
        await c.send({
          type: "send",
          id: "over",
          to: "bob",
          text: exact + "x",
        });
        assert.deepEqual(
          await c.waitFor((f) => f.type === "error" && f.id === "over"),
          {
            type: "error",
            code: "text_too_large",
            text: "Message text must be at most 8192 bytes, found 8193",
            id: "over",
          },
        );
      },
    );

    await t.step("the server never sent a line that is not JSON", () => {
      for (const c of clients) assert.deepEqual(c.garbage, []);
    });
  });
});
