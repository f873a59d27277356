// `splice inject` and `splice explain` take manifests, not just pods: every kind that
// carries a pod template is injected through its template, so `kubectl apply` of the
// output creates pods that the webhook then recognises as already injected.

import type { Pod } from '../inject/types.js';

export const WORKLOAD_KINDS = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'CronJob'] as const;

type Doc = Record<string, unknown>;
const isRecord = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A pod (or pod template) inside a manifest, and how to put the injected one back. */
export interface PodSite {
  /** `Kind/name` or `Kind/namespace/name`, for messages. */
  label: string;
  kind: string;
  namespace: string | undefined;
  pod: Pod;
  /** Where the pod sits in the document, ending in a dot (`spec.template.`), or '' for a Pod. */
  at: string;
  /** Returns a copy of the document holding this pod instead of the original one. */
  replace(pod: Pod): Doc;
}

function describe(doc: Doc): string {
  const meta = isRecord(doc.metadata) ? doc.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '(unnamed)';
  const ns = typeof meta.namespace === 'string' ? `${meta.namespace}/` : '';
  return `${String(doc.kind)}/${ns}${name}`;
}

function templatePath(kind: string): string[] | undefined {
  switch (kind) {
    case 'Pod':
      return [];
    case 'CronJob':
      return ['spec', 'jobTemplate', 'spec', 'template'];
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'ReplicationController':
    case 'Job':
      return ['spec', 'template'];
    default:
      return undefined;
  }
}

function getPath(doc: Doc, path: string[]): unknown {
  let cur: unknown = doc;
  for (const key of path) cur = isRecord(cur) ? cur[key] : undefined;
  return cur;
}

function setPath(doc: Doc, path: string[], value: Doc): Doc {
  if (path.length === 0) return value;
  const [head = '', ...rest] = path;
  const child = isRecord(doc[head]) ? (doc[head] as Doc) : {};
  return { ...doc, [head]: setPath(child, rest, value) };
}

/** The pod site of a document, or undefined for kinds without pods (they pass through). */
export function podSite(doc: unknown): PodSite | undefined {
  if (!isRecord(doc) || typeof doc.kind !== 'string') return undefined;
  const path = templatePath(doc.kind);
  if (!path) return undefined;
  const meta = isRecord(doc.metadata) ? doc.metadata : {};
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
  const label = describe(doc);
  const template = getPath(doc, path);
  const kind = doc.kind;
  // A Job's pods get the Job as owner; CronJob pods, the Job it creates.
  const owner = kind === 'Job' || kind === 'CronJob' ? [{ kind: 'Job', name: 'manifest' }] : undefined;
  const base = isRecord(template) ? template : {};
  const pod = (kind === 'Pod' ? base : { metadata: base.metadata ?? {}, spec: base.spec }) as Pod;
  const withOwner: Pod = owner && kind !== 'Pod' ? { ...pod, metadata: { ...(pod.metadata ?? {}), ownerReferences: owner } } : pod;
  return {
    label,
    kind,
    namespace,
    pod: withOwner,
    at: path.map((p) => `${p}.`).join(''),
    replace(injected: Pod): Doc {
      if (kind === 'Pod') return injected as unknown as Doc;
      const metadata = { ...(injected.metadata ?? {}) };
      if (owner) delete metadata.ownerReferences;
      // Empty template metadata says nothing: a template uninjected back to none has none.
      const { metadata: _old, ...rest } = base;
      return setPath(doc, path, { ...(Object.keys(metadata).length > 0 ? { metadata } : {}), ...rest, spec: injected.spec } as Doc);
    },
  };
}

/** Expands `v1 List` documents into their items, keeping how to rebuild them. */
export function listItems(doc: unknown): unknown[] | undefined {
  if (isRecord(doc) && doc.kind === 'List' && Array.isArray(doc.items)) return doc.items;
  return undefined;
}

// Maps whose entries are values of their own: a null entry there is not "absent" to the
// API server (a null label value decodes as "", a null quantity as 0), so it is kept,
// and reported if splice has to read it.
const VALUE_MAPS = new Set(['labels', 'annotations', 'nodeSelector', 'matchLabels', 'requests', 'limits']);

/**
 * A copy of a manifest document without the fields whose value is null, at any depth:
 * to the API server, a null field is an absent one (Go decodes JSON null into the
 * zero value), and `helm template` prints `annotations:` with nothing under it for an
 * empty map. So injecting a document with such lines gives exactly what injecting it
 * without them gives. Entries of the maps in VALUE_MAPS and items of lists are kept.
 */
export function withoutNullFields(value: unknown, key?: string): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutNullFields(item));
  if (!isRecord(value) || (key !== undefined && VALUE_MAPS.has(key))) return value;
  const out: Doc = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null) continue;
    // An own "__proto__" key must stay a key, not become the copy's prototype.
    Object.defineProperty(out, k, { value: withoutNullFields(v, k), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
