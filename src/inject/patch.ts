// The JSON Patch is the diff between the pod the API server sent and the pod splice
// wants, so it applies to exactly that object whatever it holds (keys with "/" or "~",
// absent arrays, fields no typed model knows). Hand-built patches broke on each of
// those in other injectors (Istio replaced them with a diff in PR #28800).
//
// The diff follows fast-json-patch's `compare` op for op (a test holds the two to the
// same output on random pods), with one difference: `compare` deep-clones every value
// it puts in an op by writing it to JSON text and parsing it back, which for what
// splice adds (then with the whole Envoy bootstrap inline) took 38% of the engine's
// time. Here an op's value is the desired pod's own value, shared, which is safe
// because both pods are left unmodified and the ops are only ever encoded.

import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { frozenJson, isDeepFrozen } from './frozen.js';
import { BoundedMemo, getOrCreate } from './memo.js';

const { escapePathComponent } = fastJsonPatch;

export function diff(original: object, desired: object): Operation[] {
  const ops: Operation[] = [];
  walk(original as Record<string, unknown>, desired as Record<string, unknown>, '', ops);
  return ops;
}

type Node = Record<string, unknown>;

const isObject = (v: unknown): v is Node => typeof v === 'object' && v !== null;

function walk(before: Node, after: Node, path: string, ops: Operation[]): void {
  // What makes the diff cheap: render shares every value it did not change.
  if (before === after) return;
  const afterIsArray = Array.isArray(after);
  const beforeKeys = Object.keys(before);
  const afterKeys = Object.keys(after);
  let removed = false;
  // Backwards, so that removing array items leaves the indexes of later ops valid.
  for (let i = beforeKeys.length - 1; i >= 0; i--) {
    const key = beforeKeys[i] as string;
    const old = before[key];
    if (Object.hasOwn(after, key) && !(after[key] === undefined && old !== undefined && !afterIsArray)) {
      const now = after[key];
      // Most keys hold the very same value: check that before building a path.
      if (old === now) continue;
      const at = `${path}/${escapePathComponent(key)}`;
      if (isObject(old) && isObject(now) && Array.isArray(old) === Array.isArray(now)) walk(old, now, at, ops);
      else ops.push({ op: 'replace', path: at, value: now });
    } else if (Array.isArray(before) === afterIsArray) {
      ops.push({ op: 'remove', path: `${path}/${escapePathComponent(key)}` });
      removed = true;
    } else {
      ops.push({ op: 'replace', path, value: after });
    }
  }
  if (!removed && afterKeys.length === beforeKeys.length) return;
  for (const key of afterKeys) {
    if (!Object.hasOwn(before, key) && after[key] !== undefined) {
      ops.push({ op: 'add', path: `${path}/${escapePathComponent(key)}`, value: after[key] });
    }
  }
}

/**
 * The patch as JSON text. The parts splice adds are deep-frozen and shared by every
 * pod of a workload, so their text comes from a cache (frozen.ts) instead of being
 * written again for each pod; an op's value is looked up there, and so is each item
 * of a list value (the new initContainers list holds the frozen containers).
 */
export function patchText(ops: readonly Operation[]): string {
  return `[${ops.map(opText).join(',')}]`;
}

function opText(op: Operation): string {
  if (!('value' in op)) return JSON.stringify(op);
  return `{"op":${JSON.stringify(op.op)},"path":${JSON.stringify(op.path)},"value":${valueText(op.value)}}`;
}

function valueText(value: unknown): string {
  if (isObject(value)) {
    const cached = frozenJson(value);
    if (cached !== undefined) return cached;
    if (Array.isArray(value)) return `[${value.map(valueText).join(',')}]`;
  }
  // undefined becomes null, as JSON.stringify writes it inside a list.
  return JSON.stringify(value) ?? 'null';
}

// Every replica of a workload gets the very same ops: same paths, and values that are the
// same deep-frozen parts (parts.ts). So the encoded patch is kept per signature of the
// ops, in which a frozen value is a number instead of its text: a rollout encodes its
// patch once, and each further replica pays for a short key instead of writing, UTF-8
// encoding and base64 encoding ~12 KB. Two signatures are equal only when the texts are:
// a frozen object never changes, and anything else is in the signature as its own JSON.
const frozenIds = new WeakMap<object, number>();
let nextFrozenId = 0;
const encoded = new BoundedMemo<string>(1024);
/** Past this length a signature saves little over encoding, and would make the memo's keys large (a typical pod's is ~2.5 KB: its SDS, status and original-probes annotations). */
const MAX_SIGNATURE = 4096;

function valueSignature(value: unknown): string {
  if (isObject(value)) {
    if (isDeepFrozen(value)) return `#${getOrCreate(frozenIds, value, () => nextFrozenId++)}`;
    if (Array.isArray(value)) return `[${value.map(valueSignature).join(',')}]`;
  }
  return JSON.stringify(value) ?? 'null';
}

function signature(ops: readonly Operation[]): string {
  let sig = '';
  for (const op of ops) {
    sig += `${op.op}\u0000${JSON.stringify(op.path)}\u0000${'value' in op ? valueSignature(op.value) : ''}\n`;
    if (sig.length > MAX_SIGNATURE) return '';
  }
  return sig;
}

/** The patch as the base64 text an AdmissionResponse carries (see patchText). */
export function patchBase64(ops: readonly Operation[]): string {
  const encode = () => Buffer.from(patchText(ops)).toString('base64');
  const sig = signature(ops);
  return sig === '' ? encode() : encoded.get(sig, encode);
}
