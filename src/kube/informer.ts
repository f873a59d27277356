// Keeping a client-node informer alive. Its ListWatch stops on the first error (a
// dropped watch, an expired resourceVersion, an API server restart) and has to be
// started again; restarting at once would hammer an API server that is already
// failing, so each retry waits longer, up to a bound. `synced()` turns true after the
// first complete list and stays true: what the cache holds is still the best
// knowledge while a restart is pending.

import type { Logger } from 'pino';
import { describeKubeError } from './errors.js';

/** The part of client-node's Informer this needs (a fake in tests). */
export interface RestartableInformer {
  on(verb: 'error', cb: (err?: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 30_000 };

export class KeptInformer {
  readonly #informer: RestartableInformer;
  readonly #what: string;
  readonly #logger: Logger;
  readonly #backoff: Backoff;
  readonly #onSynced: (() => void) | undefined;
  #synced = false;
  #stopped = true;
  #failedSinceStart = false;
  #failures = 0;
  #restartTimer: NodeJS.Timeout | undefined;

  /** `what` names the cache in logs ("namespace", "service account"…). */
  constructor(informer: RestartableInformer, what: string, logger: Logger, backoff: Backoff = DEFAULT_BACKOFF, onSynced?: () => void) {
    this.#informer = informer;
    this.#what = what;
    this.#logger = logger;
    this.#backoff = backoff;
    this.#onSynced = onSynced;
    informer.on('error', (err) => this.#onError(err));
  }

  /** Starts listing and watching; resolves after the first attempt (successful or not). */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    await this.#informer.stop();
  }

  synced(): boolean {
    return this.#synced;
  }

  async #run(): Promise<void> {
    this.#failedSinceStart = false;
    try {
      // client-node's ListWatch resolves start() after the list and the opening of the
      // watch; failures along the way arrive as 'error' events, not as a rejection.
      await this.#informer.start();
    } catch (err) {
      this.#onError(err);
      return;
    }
    if (!this.#failedSinceStart && !this.#stopped) {
      const first = !this.#synced;
      this.#synced = true;
      this.#failures = 0;
      if (first) this.#onSynced?.();
    }
  }

  #onError(err: unknown): void {
    this.#failedSinceStart = true;
    if (this.#stopped || this.#restartTimer) return;
    const delay = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** this.#failures);
    this.#failures += 1;
    this.#logger.warn(
      { err: describeKubeError(err), retryInMs: delay, cacheReady: this.#synced },
      `${this.#what} informer failed; restarting it (the cached objects are still used)`,
    );
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) void this.#run();
    }, delay);
    this.#restartTimer.unref();
  }
}
