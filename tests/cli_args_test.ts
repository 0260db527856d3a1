import assert from "node:assert/strict";

const MOD = new URL("../mod.ts", import.meta.url).pathname;

/** Runs `parley ARGS` with no input; returns its status and output. */
async function parley(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}

/**
 * Runs `parley chat` unattended with a password file holding `text`;
 * returns its status, its stderr and the file's path (removed after).
 */
async function chatWithPasswordFile(
  text: string,
): Promise<{ code: number; stderr: string; file: string }> {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, text);
    const { code, stderr } = await parley(
      "chat",
      "--name",
      "al",
      "--server",
      "127.0.0.1:1",
      "--password-file",
      file,
    );
    return { code, stderr, file };
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("a bad flag value is quoted with its control characters spelled out", async () => {
  const { code, stderr } = await parley("serve", "--port", "1\u202E9");
  assert.equal(code, 2);
  assert.ok(!stderr.includes("\u202E"), "the raw direction mark was printed");
  assert.equal(
    stderr,
    `parley serve: option '--port <port>': expected a whole number from 0 to 65535, found "1\\u202e9" (see --help)\n`,
  );
});

Deno.test("flag errors of serve, chat and debug share one wording", async () => {
  // They used to quote the value in one case and not another (found "-1",
  // found 70000), and to start their reasons in either case.
  const cases: [string[], string][] = [
    [
      ["serve", "--port", "-1"],
      `parley serve: option '--port <port>': expected a whole number from 0 to 65535, found "-1" (see --help)`,
    ],
    [
      ["serve", "--port", "70000"],
      `parley serve: option '--port <port>': expected a whole number from 0 to 65535, found "70000" (see --help)`,
    ],
    [
      ["serve", "--log-level", "loud"],
      `parley serve: option '--log-level <level>': expected one of debug, info, warning or error, found "loud" (see --help)`,
    ],
    [
      ["serve", "--admin", "unix:/tmp/x"],
      `parley serve: option '--admin <host:port>': expected HOST:PORT with a port from 0 to 65535, found "unix:/tmp/x" (see --help)`,
    ],
    [
      ["chat", "--name", "al", "--server", "nowhere"],
      `parley chat: option '--server <host:port>': expected host:port with a port from 1 to 65535, found "nowhere" (see --help)`,
    ],
    [
      ["chat"],
      `parley chat: option '--name <name>': required when input is not a terminal (see --help)`,
    ],
    [
      ["debug", "--admin", "nowhere"],
      `parley debug: option '--admin <host:port>': expected HOST:PORT with a port from 0 to 65535, found "nowhere" (see --help)`,
    ],
    [
      ["debug", "--admin", "127.0.0.1:1"],
      `parley debug: option '--admin <host:port>': needs --token-file (see --help)`,
    ],
    [
      ["debug", "--admin", "127.0.0.1:1", "--token-file", "/no/such/file"],
      `parley debug: option '--token-file <file>': cannot read "/no/such/file": No such file or directory (see --help)`,
    ],
    [
      ["serve", "--port"],
      `parley serve: option '--port <port>': expected a value (see --help)`,
    ],
    [
      ["chat", "--name", "al", "bob"],
      `parley chat: unexpected argument "bob"; options start with -- (see --help)`,
    ],
    [
      ["serve", "--port", "0", "1998", "more"],
      `parley serve: unexpected argument "1998"; options start with -- (see --help)`,
    ],
    [
      ["serve", "--port", " 5"],
      `parley serve: option '--port <port>': expected a whole number from 0 to 65535, found " 5" (see --help)`,
    ],
    [
      ["serve", "--ping-interval", "0x10"],
      `parley serve: option '--ping-interval <seconds>': expected seconds greater than 0 and at most 86400, found "0x10" (see --help)`,
    ],
    [
      ["serve", "--ping-interval", "1e3"],
      `parley serve: option '--ping-interval <seconds>': expected seconds greater than 0 and at most 86400, found "1e3" (see --help)`,
    ],
    [
      ["debug", "--json=1"],
      `parley debug: unknown option '--json=1' (Did you mean --json?) (see --help)`,
    ],
    [
      ["serve", "--admin-token-file", "/tmp/token"],
      `parley serve: option '--admin-token-file <file>': only goes with --admin (see --help)`,
    ],
    [
      ["debug", "--token-file", "/tmp/token"],
      `parley debug: option '--token-file <file>': only goes with --admin (see --help)`,
    ],
    [
      ["debug", "kick", ""],
      `parley debug: kick takes a name or conn-id (see --help)`,
    ],
    [
      ["debug", "show", " "],
      `parley debug: show takes one conn-id or name (see --help)`,
    ],
    [
      ["serve", "--db", ""],
      `parley serve: option '--db <path>': expected a file path, found "" (see --help)`,
    ],
    [
      ["serve", "--netlog", " "],
      `parley serve: option '--netlog <path>': expected a file path, found " " (see --help)`,
    ],
    [
      ["debug", "--db", ""],
      `parley debug: option '--db <path>': expected a file path, found "" (see --help)`,
    ],
    [
      ["chat", "--name", "al", "--password-file", ""],
      `parley chat: option '--password-file <file>': expected a file path, found "" (see --help)`,
    ],
  ];
  for (const [args, line] of cases) {
    const { code, stdout, stderr } = await parley(...args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(stdout, "");
    assert.equal(stderr, `${line}\n`);
  }
});

Deno.test("serve --help states the default of --db once", async () => {
  // Its description used to describe the default, and commander added the
  // real one after it: "(default under ...) (default: ...)".
  const { code, stdout } = await parley("serve", "--help");
  assert.equal(code, 0);
  const start = stdout.indexOf("  --db <path>");
  const end = stdout.indexOf("  --netlog");
  assert.equal(
    stdout.slice(start, end).replace(/\s+/g, " ").replace(
      /"[^"]*"/,
      '"PATH"',
    ),
    ' --db <path> database file; $PARLEY_DB sets its default (default: "PATH") ',
  );
});

Deno.test("chat with a password file of only spaces is a flag error, before any connection", async () => {
  const { code, stderr, file } = await chatWithPasswordFile("   \n");
  assert.equal(code, 2);
  assert.equal(
    stderr,
    `parley chat: option '--password-file <file>': expected a password on the first line of "${file}", found an empty line or only spaces (see --help)\n`,
  );
});

Deno.test("a password or token flag naming a huge file is refused without reading it all", async () => {
  // /dev/zero never ends: reading it whole used to hang until memory ran out.
  const file = await Deno.makeTempFile();
  try {
    // One byte over the limit: the first size refused.
    await Deno.writeFile(file, new Uint8Array(64 * 1024 + 1).fill(0x61));
    const cases: [string[], string][] = [
      [
        ["chat", "--name", "al", "--server", "127.0.0.1:1"],
        "parley chat: option '--password-file <file>'",
      ],
      [
        ["debug", "--admin", "127.0.0.1:1"],
        "parley debug: option '--token-file <file>'",
      ],
      [
        ["serve", "--port", "0", "--admin", "127.0.0.1:0"],
        "parley serve: option '--admin-token-file <file>'",
      ],
    ];
    for (const [args, start] of cases) {
      const flag = start.slice(start.indexOf("--"), start.indexOf(" <"));
      for (const path of ["/dev/zero", file]) {
        const { code, stdout, stderr } = await parley(...args, flag, path);
        assert.equal(code, 2, `${args[0]} ${flag} ${path}`);
        assert.equal(stdout, "");
        assert.equal(
          stderr,
          `${start}: "${path}" is larger than 64 KiB, too large to hold a password or token (see --help)\n`,
        );
      }
    }
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("a token file of exactly 64 KiB is read", async () => {
  // The limit's own size is allowed: the token is then checked for what it is
  // (here refused by serve for holding only spaces after trimming).
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeFile(file, new Uint8Array(64 * 1024).fill(0x20));
    const { code, stderr } = await parley(
      "serve",
      "--port",
      "0",
      "--admin",
      "127.0.0.1:0",
      "--admin-token-file",
      file,
    );
    assert.equal(code, 2);
    assert.equal(
      stderr,
      `parley serve: option '--admin-token-file <file>': expected a token of at least 16 characters in "${file}", found 0 (see --help)\n`,
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("chat with a password file whose first line is over 1,024 characters is a flag error", async () => {
  // The server refused it only after a round trip, in protocol words.
  const { code, stderr, file } = await chatWithPasswordFile(
    "p".repeat(1025) + "\nsecond line\n",
  );
  assert.equal(code, 2);
  assert.equal(
    stderr,
    `parley chat: option '--password-file <file>': expected a password of at most 1024 characters on the first line of "${file}", found 1025 (see --help)\n`,
  );
});
