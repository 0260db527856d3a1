/**
 * Writing to stdout synchronously, whole, whoever reads it.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Something to wait on, synchronously, between tries of a busy stdout. */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `text` to stdout before returning.
 *
 * @returns False when stdout is gone: a pipe whose reader closed it
 * (`| head -2`), a terminal hung up. Nothing after the error was written.
 */
export function writeStdout(text: string): boolean {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += Deno.stdout.writeSync(bytes.subarray(offset));
    } catch (error) {
      // Not gone, only busy: a stdout left non-blocking by whoever started
      // us is full, or a signal cut the write short. Wait a moment, again.
      if (
        error instanceof Deno.errors.WouldBlock ||
        error instanceof Deno.errors.Interrupted
      ) {
        Atomics.wait(PAUSE, 0, 0, 5);
        continue;
      }
      return false;
    }
  }
  return true;
}
