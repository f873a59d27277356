// The engine receives whatever the API server (or a manifest file) holds. Before
// anything reads it, this checks the few fields the engine relies on, so a malformed
// object becomes a refusal that names the field instead of an exception.

import type { Pod } from './types.js';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringMap(v: unknown): boolean {
  return v === undefined || (isRecord(v) && Object.values(v).every((x) => typeof x === 'string'));
}

function containerList(v: unknown, field: string, required: boolean): string | undefined {
  if (v === undefined && !required) return undefined;
  if (!Array.isArray(v)) return `${field} must be a list`;
  for (const [i, c] of v.entries()) {
    if (!isRecord(c)) return `${field}[${i}] must be an object`;
    if (typeof c.name !== 'string') return `${field}[${i}].name must be a string`;
  }
  return undefined;
}

/** Returns the problem with the object, naming the field, or undefined if it can be handled. */
export function checkPodShape(obj: unknown): string | undefined {
  if (!isRecord(obj)) return 'the object is not a Pod (not a JSON object)';
  const { metadata, spec } = obj;
  if (metadata !== undefined) {
    if (!isRecord(metadata)) return 'metadata must be an object';
    if (!stringMap(metadata.labels)) return 'metadata.labels must map strings to strings';
    if (!stringMap(metadata.annotations)) return 'metadata.annotations must map strings to strings';
  }
  if (!isRecord(spec)) return 'spec must be an object';
  const problem =
    containerList(spec.containers, 'spec.containers', true) ?? containerList(spec.initContainers, 'spec.initContainers', false);
  if (problem) return problem;
  if (spec.containers !== undefined && (spec.containers as unknown[]).length === 0) return 'spec.containers is empty';
  if (spec.volumes !== undefined) {
    if (!Array.isArray(spec.volumes)) return 'spec.volumes must be a list';
    for (const [i, v] of spec.volumes.entries()) {
      if (!isRecord(v) || typeof v.name !== 'string') return `spec.volumes[${i}].name must be a string`;
    }
  }
  for (const field of ['serviceAccountName', 'serviceAccount'] as const) {
    if (spec[field] !== undefined && typeof spec[field] !== 'string') return `spec.${field} must be a string`;
  }
  return undefined;
}

export function asPod(obj: unknown): Pod {
  // checkPodShape has verified the fields the engine reads; everything else rides along.
  return obj as Pod;
}
