// The webhook's patch as a client sees it: base64 JSON Patch, applied to the pod sent.
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

export function decodePatch(base64: string): Operation[] {
  return JSON.parse(Buffer.from(base64, 'base64').toString('utf8')) as Operation[];
}

/** Applies with validation, so an op that does not fit the document throws. The input is not modified. */
export function applyPatchTo<T>(sent: T, base64: string): T {
  return fastJsonPatch.applyPatch(structuredClone(sent), decodePatch(base64), true, false).newDocument;
}
