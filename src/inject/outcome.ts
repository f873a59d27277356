import type { Operation } from 'fast-json-patch';
import type { Reason } from './reasons.js';
import type { Pod } from './types.js';

/** What the engine decided about one pod. */
export type Decision =
  /** Add the proxy: `pod` is the mutated pod, `patch` turns the input into it. */
  | { result: 'inject'; reasons: Reason[]; warnings: string[]; pod: Pod; patch: Operation[] }
  /** Leave the pod as it is. */
  | { result: 'skip'; reasons: Reason[]; warnings: string[] }
  /** Refuse the pod: `message` is what the user sees (names the key and value). */
  | { result: 'deny'; reasons: Reason[]; warnings: string[]; message: string };

export type DecisionResult = Decision['result'];
