/**
 * A small terminal emulator for tests: replays what a program wrote to a
 * terminal of a given width and gives the rows as they would be seen. It
 * knows what readline and `parley chat` write: text, carriage return, line
 * feed, backspace, cursor moves (`CSI n A/B/C/D/G`), erasing in the line
 * (`CSI n K`) and below the cursor (`CSI 0 J`), and the deferred wrap of a
 * real terminal (a character in the last column leaves the cursor there
 * until the next character). Other escape sequences are ignored. Rows that
 * scroll off the top are kept, so the result is the whole session.
 *
 * @module
 */

/** Where the cursor is: row from the top of the session, column from 0. */
export interface Cursor {
  row: number;
  col: number;
}

/** What a terminal shows after some output. */
export interface Rendered {
  /** Every row, trailing spaces removed. */
  rows: string[];
  cursor: Cursor;
}

/**
 * Renders terminal output on a screen `width` columns wide.
 *
 * @example
 * ```ts
 * import { render } from "./screen.ts";
 * import assert from "node:assert/strict";
 *
 * const shown = render("abcdef\r\n12\x1b[1A\x1b[3G\x1b[0KX", 4);
 * assert.deepEqual(shown.rows, ["abcd", "efX", "12"]);
 * assert.deepEqual(shown.cursor, { row: 1, col: 3 });
 * ```
 */
export function render(output: string, width: number): Rendered {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  let wrapPending = false;
  const line = (r: number) => {
    while (rows.length <= r) rows.push([]);
    return rows[r];
  };
  const move = (r: number, c: number) => {
    row = Math.max(0, r);
    col = Math.min(width - 1, Math.max(0, c));
    wrapPending = false;
  };
  let i = 0;
  while (i < output.length) {
    const ch = output[i];
    if (ch === "\x1b") {
      // deno-lint-ignore no-control-regex
      const csi = /^\x1b\[([0-9;?]*)([ -/]*)([@-~])/.exec(output.slice(i));
      if (!csi) {
        i += 2; // ESC and one character: not used by the client.
        continue;
      }
      i += csi[0].length;
      const n = csi[1] === "" ? undefined : Number(csi[1].split(";")[0]);
      switch (csi[3]) {
        case "A":
          move(row - (n ?? 1), col);
          break;
        case "B":
          move(row + (n ?? 1), col);
          break;
        case "C":
          move(row, col + (n ?? 1));
          break;
        case "D":
          move(row, col - (n ?? 1));
          break;
        case "G":
          move(row, (n ?? 1) - 1);
          break;
        case "K": {
          const cells = line(row);
          if (n === 2) cells.length = 0;
          else if (n === 1) cells.fill(" ", 0, col + 1);
          else cells.length = Math.min(cells.length, col);
          break;
        }
        case "J":
          if ((n ?? 0) === 0) {
            line(row).length = Math.min(line(row).length, col);
            rows.length = row + 1;
          }
          break;
        default:
          // Modes, colours: nothing to show.
      }
      continue;
    }
    i++;
    if (ch === "\r") {
      move(row, 0);
    } else if (ch === "\n") {
      move(row + 1, col);
    } else if (ch === "\b") {
      move(row, col - 1);
    } else if (ch >= " ") {
      if (wrapPending) move(row + 1, 0);
      const cells = line(row);
      while (cells.length < col) cells.push(" ");
      cells[col] = ch;
      if (col === width - 1) wrapPending = true;
      else col++;
    }
  }
  return {
    rows: rows.map((cells) => cells.join("").trimEnd()),
    cursor: { row, col },
  };
}
