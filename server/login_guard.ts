/**
 * Limits on password guessing and on registration floods.
 *
 * Wrong passwords are counted three ways within a cool-down window:
 *
 * - per name and address: after `maxFailures` that pair is refused
 *   (`too_many_attempts`) until its failures age out of the window;
 * - per address, for any names: after `maxAddressFailures` the address is
 *   refused the same way, so one address cannot try many names;
 * - per name, from every address: each wrong answer is delayed, doubling
 *   with the name's failures up to `maxDelayMs`.
 *
 * A name is never locked for every address: someone guessing from other
 * addresses only slows the owner's wrong answers, never blocks a right
 * password. The price is that a guesser with many addresses gets
 * `maxFailures` tries per address per window, each answered slowly.
 *
 * @module
 */

import { ProtocolError } from "../protocol/errors.ts";
import type { Clock } from "../protocol/token_bucket.ts";
import { FailureCounter } from "./throttle.ts";

/** Limits of a {@linkcode LoginGuard}. */
export interface LoginGuardOptions {
  /** Wrong passwords per name and address before refusing. Default 5. */
  maxFailures: number;
  /** Wrong passwords per address, any names, before refusing. Default 20. */
  maxAddressFailures: number;
  /** How long a wrong password counts, in ms. Default 5 minutes. */
  cooldownMs: number;
  /** Delay of the first wrong-password answer, in ms. Default 1 s. */
  delayMs: number;
  /** Longest delay of a wrong-password answer, in ms. Default 8 s. */
  maxDelayMs: number;
  /** New accounts per address per window. Default 5. */
  maxRegistrations: number;
  /** The registration window, in ms. Default 10 minutes. */
  registrationWindowMs: number;
}

/** The defaults of {@linkcode LoginGuardOptions}. */
export const DEFAULT_LOGIN_GUARD: LoginGuardOptions = {
  maxFailures: 5,
  maxAddressFailures: 20,
  cooldownMs: 300_000,
  delayMs: 1_000,
  maxDelayMs: 8_000,
  maxRegistrations: 5,
  registrationWindowMs: 600_000,
};

/**
 * The address part of a remote (`1.2.3.4:5678` → `1.2.3.4`), which limits
 * are counted by.
 *
 * @example
 * ```ts
 * import { hostOf } from "./login_guard.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(hostOf("127.0.0.1:50123"), "127.0.0.1");
 * assert.equal(hostOf("[::1]:50123"), "[::1]");
 * assert.equal(hostOf("unix"), "unix");
 * ```
 */
export function hostOf(remote: string): string {
  const match = /^(.*):\d+$/.exec(remote);
  return match ? match[1] : remote;
}

/** The key of a name tried from an address: lockouts count per pair. */
export function pairKey(key: string, remote: string): string {
  return `${key} ${hostOf(remote)}`;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** Counts wrong passwords and new accounts; one per server. */
export class LoginGuard {
  readonly #options: LoginGuardOptions;
  readonly #pairs: FailureCounter;
  readonly #addresses: FailureCounter;
  readonly #names: FailureCounter;
  readonly #registrations: FailureCounter;

  /**
   * @param options The limits.
   * @param clock The time source.
   */
  constructor(options: LoginGuardOptions, clock: Clock) {
    this.#options = options;
    this.#pairs = new FailureCounter(options.cooldownMs, clock);
    this.#addresses = new FailureCounter(options.cooldownMs, clock);
    this.#names = new FailureCounter(options.cooldownMs, clock);
    this.#registrations = new FailureCounter(
      options.registrationWindowMs,
      clock,
    );
  }

  /**
   * Whether a password for `key` from `remote` may be checked now.
   *
   * @returns null when it may, else the `too_many_attempts` refusal.
   */
  loginRefusal(key: string, remote: string): ProtocolError | null {
    const host = hostOf(remote);
    const forName = this.#pairs.waitBelow(
      pairKey(key, remote),
      this.#options.maxFailures,
    );
    const forAddress = this.#addresses.waitBelow(
      host,
      this.#options.maxAddressFailures,
    );
    if (forName === 0 && forAddress === 0) return null;
    const what = forAddress > 0
      ? "from your address"
      : "for this name from your address";
    return new ProtocolError(
      "too_many_attempts",
      `Too many wrong passwords ${what}; try again in ${
        seconds(Math.max(forName, forAddress))
      } s`,
    );
  }

  /**
   * Records a wrong password.
   *
   * @returns The milliseconds to wait before answering it.
   */
  failed(key: string, remote: string): number {
    const host = hostOf(remote);
    this.#pairs.add(pairKey(key, remote));
    this.#addresses.add(host);
    const count = this.#names.add(key);
    return Math.min(
      this.#options.delayMs * 2 ** Math.min(count - 1, 30),
      this.#options.maxDelayMs,
    );
  }

  /** Records a right password: the pair's failures are forgiven. */
  succeeded(key: string, remote: string): void {
    this.#pairs.clear(pairKey(key, remote));
  }

  /**
   * Whether `remote` may register a new account now, without counting
   * one: asked when a new name arrives, so the user is refused before
   * choosing a password.
   *
   * @returns null when it may, else `registration_limited`.
   */
  registrationRefusal(remote: string): ProtocolError | null {
    const { maxRegistrations, registrationWindowMs } = this.#options;
    const wait = this.#registrations.waitBelow(
      hostOf(remote),
      maxRegistrations,
    );
    if (wait === 0) return null;
    return new ProtocolError(
      "registration_limited",
      `At most ${maxRegistrations} new ${
        maxRegistrations === 1 ? "account" : "accounts"
      } per ${seconds(registrationWindowMs)} s from one address; try again in ${
        seconds(wait)
      } s`,
    );
  }

  /**
   * Counts a new account from `remote`, unless the address has made too
   * many lately (others from it may have registered since the name was
   * looked up).
   *
   * @returns null when it may register, else `registration_limited`.
   */
  register(remote: string): ProtocolError | null {
    const refusal = this.registrationRefusal(remote);
    if (refusal === null) this.#registrations.add(hostOf(remote));
    return refusal;
  }

  /**
   * Takes back a registration counted by {@linkcode LoginGuard.register}
   * that did not create an account (the name was taken or looked like
   * another): only accounts made count against the limit.
   */
  registrationFailed(remote: string): void {
    this.#registrations.undo(hostOf(remote));
  }
}
