// `splice.dev/status`: what splice added to a pod, written at injection and read back to
// undo it (uninject.ts) and to tell whether the pod still has what splice would inject
// today (its parts hash). One line of JSON, so `kubectl get pod -o yaml` shows it whole.

import { createHash } from 'node:crypto';
import { KEYS } from './keys.js';
import type { Pod } from './types.js';

/** The pod fields splice may have to create: absent before, they are removed again, not left empty. */
export const CREATABLE_FIELDS = ['metadata.labels', 'metadata.annotations', 'spec.initContainers', 'spec.volumes'] as const;
export type CreatableField = (typeof CREATABLE_FIELDS)[number];

export interface InjectionStatus {
  /** The splice version that injected the pod. */
  version: string;
  /** The revision of splice that injected it (config `revision`); absent: the default one. */
  revision?: string;
  /** Names of what splice added, to remove them again. */
  containers: string[];
  initContainers: string[];
  volumes: string[];
  /**
   * The first 16 hex digits of the SHA-256 of the parts splice added (its containers,
   * volumes, annotations and label, as rendered): two pods with the same hash got the
   * same parts. Absent on pods injected before 0.4.0.
   */
  hash?: string;
  /** The fields of CREATABLE_FIELDS the pod did not have before. */
  created?: CreatableField[];
  /** Whether splice set kubectl.kubernetes.io/default-container (the pod named none). */
  defaultContainer?: boolean;
}

/** The parts hash of InjectionStatus: of their JSON text, which is the same for the same parts. */
export function partsHash(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/** The text of the annotation, keys in a fixed order. */
export function formatStatus(s: InjectionStatus): string {
  return JSON.stringify({
    version: s.version,
    ...(s.revision ? { revision: s.revision } : {}),
    containers: s.containers,
    initContainers: s.initContainers,
    volumes: s.volumes,
    ...(s.hash !== undefined ? { hash: s.hash } : {}),
    ...(s.created?.length ? { created: s.created } : {}),
    ...(s.defaultContainer ? { defaultContainer: true } : {}),
  });
}

const stringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Reads `splice.dev/status` from a pod.
 *
 * @returns the status; undefined when the pod has no such annotation
 * @throws Error naming the annotation when it is there but not a status splice wrote
 */
export function readStatus(pod: Pod): InjectionStatus | undefined {
  const text = pod.metadata?.annotations?.[KEYS.status];
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`annotation ${KEYS.status} is not JSON: ${JSON.stringify(String(text).slice(0, 80))}`);
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  if (typeof o.version !== 'string' || !stringList(o.containers) || !stringList(o.initContainers) || !stringList(o.volumes)) {
    throw new Error(`annotation ${KEYS.status} does not say what splice added (version, containers, initContainers, volumes): ${JSON.stringify(String(text).slice(0, 120))}`);
  }
  const created = stringList(o.created) ? o.created.filter((f): f is CreatableField => (CREATABLE_FIELDS as readonly string[]).includes(f)) : undefined;
  return {
    version: o.version,
    ...(typeof o.revision === 'string' && o.revision !== '' ? { revision: o.revision } : {}),
    containers: o.containers,
    initContainers: o.initContainers,
    volumes: o.volumes,
    ...(typeof o.hash === 'string' ? { hash: o.hash } : {}),
    ...(created?.length ? { created } : {}),
    ...(o.defaultContainer === true ? { defaultContainer: true } : {}),
  };
}
