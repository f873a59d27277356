// The JSON Patch is the diff between the pod the API server sent and the pod splice
// wants, so it applies to exactly that object whatever it holds (keys with "/" or "~",
// absent arrays, fields no typed model knows). Hand-built patches broke on each of
// those in other injectors (Istio replaced them with a diff in PR #28800).

import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

const { compare } = fastJsonPatch;

export function diff(original: object, desired: object): Operation[] {
  return compare(original, desired);
}
