// The engine receives whatever the API server (or a manifest file) holds. Before
// anything reads it, this checks the few fields the engine relies on, so a malformed
// object becomes a refusal that names the field instead of an exception.
//
// `null` for a map or a list means absent, as it does to the API server (Go decodes a
// JSON null into an empty field) and to kubectl: `helm template` prints `annotations:`
// with nothing under it for an empty map. Everything the engine reads treats a null
// map or list like a missing one (`?? {}`, `?? []`).

import type { Pod } from './types.js';

/** A JSON object (not null, not a list): what every field of a pod that holds fields must be. */
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const absent = (v: unknown): boolean => v === undefined || v === null;

/** A field path in the style of Kubernetes' own messages: `metadata.annotations[example.com/a]`. */
function stringMapProblem(v: unknown, field: string): string | undefined {
  if (absent(v)) return undefined;
  if (!isRecord(v)) return `${field} must be a map of strings, not ${describe(v)}`;
  for (const key of Object.keys(v)) {
    if (typeof v[key] !== 'string') return `${field}[${key}] must be a string, not ${describe(v[key])}`;
  }
  return undefined;
}

function containerList(v: unknown, field: string, required: boolean): string | undefined {
  if (absent(v) && !required) return undefined;
  if (!Array.isArray(v)) return `${field} must be a list, not ${describe(v)}`;
  for (const [i, c] of v.entries()) {
    if (!isRecord(c)) return `${field}[${i}] must be an object, not ${describe(c)}`;
    if (typeof c.name !== 'string') return `${field}[${i}].name must be a string, not ${describe(c.name)}`;
  }
  return undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'missing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Returns the problem with the object, naming the field, or undefined if it can be
 * handled. `at` is prefixed to every field named (`spec.template.` for a workload's
 * pod template), so the path is the one in the user's manifest.
 */
export function checkPodShape(obj: unknown, at = ''): string | undefined {
  if (!isRecord(obj)) return 'the object is not a Pod (not a JSON object)';
  const { metadata, spec } = obj;
  if (!absent(metadata)) {
    if (!isRecord(metadata)) return `${at}metadata must be a map, not ${describe(metadata)}`;
    const problem = stringMapProblem(metadata.labels, `${at}metadata.labels`) ?? stringMapProblem(metadata.annotations, `${at}metadata.annotations`);
    if (problem) return problem;
  }
  if (!isRecord(spec)) return `${at}spec must be a map, not ${describe(spec)}`;
  const problem =
    containerList(spec.containers, `${at}spec.containers`, true) ?? containerList(spec.initContainers, `${at}spec.initContainers`, false);
  if (problem) return problem;
  if ((spec.containers as unknown[]).length === 0) return `${at}spec.containers is empty`;
  if (!absent(spec.volumes)) {
    if (!Array.isArray(spec.volumes)) return `${at}spec.volumes must be a list, not ${describe(spec.volumes)}`;
    for (const [i, v] of spec.volumes.entries()) {
      if (!isRecord(v) || typeof v.name !== 'string') return `${at}spec.volumes[${i}].name must be a string`;
    }
  }
  for (const field of ['serviceAccountName', 'serviceAccount'] as const) {
    if (!absent(spec[field]) && typeof spec[field] !== 'string') return `${at}spec.${field} must be a string, not ${describe(spec[field])}`;
  }
  return undefined;
}

export function asPod(obj: unknown): Pod {
  // checkPodShape has verified the fields the engine reads; everything else rides along.
  return obj as Pod;
}
