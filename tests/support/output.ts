/**
 * Helpers for asserting on `parley chat` output.
 *
 * @module
 */

/** A chat line without its leading `YYYY/MM/DD HH:MM:SS ` time. */
export function untimed(line: string): string {
  return line.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /, "");
}

/** Whether a line starts with a chat time stamp. */
export function isTimed(line: string): boolean {
  return /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /.test(line);
}

/** A fresh temporary folder, removed by the returned function. */
export async function tempDir(): Promise<[string, () => Promise<void>]> {
  const dir = await Deno.makeTempDir({ prefix: "parley-test-" });
  return [dir, () => Deno.remove(dir, { recursive: true }).catch(() => {})];
}
