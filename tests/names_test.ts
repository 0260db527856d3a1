import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError } from "../protocol/errors.ts";
import {
  checkName,
  MAX_NAME_LENGTH,
  nameKey,
  nameSkeleton,
} from "../protocol/names.ts";

const codeOf = (name: string): string => {
  try {
    checkName(name);
    return "ok";
  } catch (error) {
    assert.ok(error instanceof ProtocolError);
    return error.code;
  }
};

Deno.test("names differing only by case are one account", () => {
  assert.equal(checkName("Alice").key, checkName("aLICE").key);
});

Deno.test("full-width names are the same account as their ASCII form", () => {
  assert.deepEqual(checkName("ＡＬＩＣＥ"), { display: "ALICE", key: "alice" });
});

Deno.test("composed and decomposed accents are the same account", () => {
  const composed = checkName("Zo\u00EB");
  const decomposed = checkName("Zoe\u0308");
  assert.equal(composed.key, decomposed.key);
  assert.equal(decomposed.display, "Zo\u00EB");
});

Deno.test("names with invisible characters are refused", () => {
  for (
    const invisible of [
      "\u200B", // zero-width space
      "\u200C", // zero-width non-joiner
      "\u200D", // zero-width joiner
      "\u2060", // word joiner
      "\uFEFF", // byte order mark
      "\u00AD", // soft hyphen
      "\u034F", // combining grapheme joiner, a mark
      "\uFE0F", // variation selector, a mark
      "\u180E", // Mongolian vowel separator
    ]
  ) {
    assert.equal(
      codeOf(`ali${invisible}ce`),
      "bad_name",
      `U+${invisible.codePointAt(0)!.toString(16)}`,
    );
  }
});

Deno.test("a refused invisible character is named in the refusal", () => {
  assert.throws(
    () => checkName("ali\u200Bce"),
    new ProtocolError(
      "bad_name",
      'A name is 1-32 letters, digits, "_" or "-", from one script; found the invisible character U+200B',
    ),
  );
});

Deno.test("a name made of an invisible Hangul filler is refused", () => {
  assert.equal(codeOf("\u3164"), "bad_name");
  assert.equal(codeOf("\u115F\u1160"), "bad_name");
});

Deno.test("a Cyrillic letter inside a Latin name is refused as a bad name", () => {
  // A rule of the name alone: `name_confusable` names a registered name
  // the new one looks like, and there is none here.
  assert.throws(
    () => checkName("p\u0430ypal"),
    new ProtocolError(
      "bad_name",
      'A name is 1-32 letters, digits, "_" or "-", from one script; found letters from Latin and Cyrillic scripts in "p\u0430ypal"',
    ),
  );
  assert.equal(codeOf("\u0391lice"), "bad_name", "Greek capital alpha");
  assert.throws(
    () => checkName("alice\u6F22"),
    new ProtocolError(
      "bad_name",
      'A name is 1-32 letters, digits, "_" or "-", from one script; found letters from Latin and Japanese scripts in "alice\u6F22"',
    ),
  );
});

Deno.test("names from one script other than Latin are allowed", () => {
  assert.equal(checkName("Дмитрий").key, "дмитрий");
  assert.equal(codeOf("たなか太郎"), "ok");
});

Deno.test("Greek names with a final sigma are one account with their capitals", () => {
  assert.equal(checkName("ΟΔΟΣ").key, checkName("οδος").key);
  assert.equal(checkName("οδοσ").key, checkName("οδος").key);
});

Deno.test("empty, spaced, at-signed and overlong names are refused with the rule", () => {
  const rule = 'A name is 1-32 letters, digits, "_" or "-", from one script';
  assert.throws(
    () => checkName(""),
    new ProtocolError("bad_name", `${rule}; found an empty name`),
  );
  assert.throws(
    () => checkName("bob smith"),
    new ProtocolError("bad_name", `${rule}; found "bob smith"`),
  );
  assert.throws(
    () => checkName("bob@home"),
    new ProtocolError("bad_name", `${rule}; found "bob@home"`),
  );
  assert.throws(
    () => checkName("x".repeat(33)),
    new ProtocolError("bad_name", `${rule}; found 33 characters`),
  );
  assert.equal(codeOf("x".repeat(MAX_NAME_LENGTH)), "ok");
});

Deno.test("all is reserved in any case or width", () => {
  for (const name of ["all", "ALL", "Ａｌｌ"]) {
    assert.equal(codeOf(name), "name_reserved", name);
  }
});

Deno.test("checkName never throws anything but a ProtocolError and keys are stable", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: "grapheme", maxLength: 40 }),
        fc.string({ unit: "binary", maxLength: 40 }),
      ),
      (name) => {
        let checked;
        try {
          checked = checkName(name);
        } catch (error) {
          assert.ok(error instanceof ProtocolError, String(error));
          return;
        }
        // An accepted name is visible, short, and its key is a fixed point.
        assert.ok(checked.key.length > 0);
        assert.ok([...checked.display].length <= MAX_NAME_LENGTH);
        assert.equal(nameKey(checked.key), checked.key);
        assert.equal(checkName(checked.display).key, checked.key);
        assert.ok(!/[\p{Default_Ignorable_Code_Point}\s@]/u.test(checked.key));
      },
    ),
    { numRuns: 3_000 },
  );
});

Deno.test("checkName() refuses marks that decorate instead of forming letters", () => {
  for (const name of ["x\u0301\u0301\u0301\u0301", "ape\u0338", "a\u20DD"]) {
    assert.throws(
      () => checkName(name),
      (error: unknown) =>
        error instanceof ProtocolError && error.code === "bad_name",
      JSON.stringify(name),
    );
  }
  // Accents that compose are letters; so are vowel signs in other scripts.
  assert.equal(checkName("Ze\u0301lie").display, "Zélie");
  assert.equal(checkName("\u0928\u092E\u0938\u094D\u0924\u0947").key, "नमस्ते");
});

Deno.test("checkName() spells out control characters when it quotes a refused name", () => {
  assert.throws(
    () => checkName("bo\u0085b"),
    (error: unknown) =>
      error instanceof ProtocolError &&
      error.message.endsWith('found "bo\\u0085b"'),
  );
});

Deno.test("checkName() refuses a name of only '_' and '-'", () => {
  for (const name of ["-", "__", "-_-"]) {
    assert.throws(() => checkName(name), {
      code: "bad_name",
      message:
        `A name is 1-32 letters, digits, "_" or "-", from one script; a name needs at least one letter or digit, found "${name}"`,
    });
  }
  assert.equal(checkName("a-").display, "a-");
});

Deno.test("names that imitate Latin ones in other scripts share their skeleton", () => {
  const skeleton = nameSkeleton;
  const alike: Array<[string, string]> = [
    ["ΜΑΧ", "MAX"], // Greek capitals: Mu, Alpha, Chi
    ["ΗΕΝ", "hen"],
    ["ΝΕΜΟ", "nemo"],
    ["ΥΕΤΙ", "yeti"],
    ["ΙΑΝ", "Ian"], // a capital that passes for I is i, as ASCII's
    ["ԁаѵе", "dave"], // Cyrillic, with izhitsa for v
    ["Еѵе", "Eve"], // Cyrillic
    ["ꓰꓦꓰ", "EVE"], // Lisu
    ["Ꭼꮩꭼ", "Eve"], // Cherokee, whose key is in its small letters
    ["аӏісе", "alice"], // Cyrillic, palochka for l
    ["ΑΒΕ", "abe"], // Greek capitals
    ["ВОВ", "bob"], // Cyrillic capitals
    ["ıan", "ian"], // Latin dotless i
  ];
  for (const [imitation, name] of alike) {
    assert.equal(skeleton(imitation), skeleton(name), imitation);
  }
  const apart: Array<[string, string]> = [
    ["émile", "emile"], // an accent shows
    ["zoë", "zoe"],
    ["rnike", "mike"], // ASCII is taken as typed
    ["l0la", "lola"],
    ["жук", "xyk"],
    // Lower-case Greek looks like other letters than its capitals: a name
    // is judged as shown.
    ["ΜΜΜ", "uuu"],
    ["ΗΗΗ", "nnn"],
    ["ΝΝΝ", "vvv"],
    ["lan", "Ian"], // ASCII as typed
  ];
  for (const [one, other] of apart) {
    assert.notEqual(skeleton(one), skeleton(other), one);
  }
  assert.equal(
    skeleton("Bob_2-x"),
    "bob_2-x",
    "ASCII keys are their own skeleton",
  );
});

Deno.test("a Japanese name with the long-vowel mark, which Hiragana and Katakana share, is one script", () => {
  for (const name of ["ルーシー", "パーティー", "ﾊﾟｰﾃｨｰ", "らーめん"]) {
    assert.equal(codeOf(name), "ok", name);
  }
  assert.equal(codeOf("alーce"), "bad_name", "not a Latin letter");
});

Deno.test("a digit of another script counts as that script; ASCII digits go with any", () => {
  for (const name of ["ann٥", "kim०", "bob০", "l١"]) {
    assert.equal(codeOf(name), "bad_name", name);
  }
  for (const name of ["bob0", "١٢٣", "محمد٥", "राम५", "ＢＯＢ１"]) {
    assert.equal(codeOf(name), "ok", name);
  }
});
