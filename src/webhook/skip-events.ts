// Pods that were chosen for the mesh but admitted without the proxy (Pod Security would
// refuse splice-init, the pod runs on Windows) are reported on the pod's owner, where the
// person who wrote the workload looks (`kubectl describe rs/…`, `kubectl get events`): the
// admission warning reaches only whoever created the pod, which for a workload is a
// controller. The webhook only hands the notice over; writing it is the kube edge's work
// (src/kube/owner-events.ts), off the admission path.

import type { ReasonId } from '../inject/reasons.js';

/** The controller of a pod, from its ownerReferences (the one with `controller: true`). */
export interface OwnerRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export interface SkipNotice {
  namespace: string;
  owner: OwnerRef;
  /** The pod's name or generateName, for the message. */
  pod: string;
  reason: ReasonId;
  /** Why the pod is not meshed, as the admission warning says it. */
  message: string;
}

export interface SkipEvents {
  /** Takes a notice and returns at once: never throws, never waits on the API server. */
  record(notice: SkipNotice): void;
}

/** Skip reasons that mean "this pod should have been meshed and is not": the ones to report. */
export const REPORTED_SKIPS: ReadonlySet<ReasonId> = new Set<ReasonId>(['pod_security_conflict', 'windows_pod']);

/** The pod's controlling owner (metadata.ownerReferences with controller: true), or undefined. */
export function controllerOf(object: unknown): OwnerRef | undefined {
  const refs = (object as { metadata?: { ownerReferences?: unknown } } | undefined)?.metadata?.ownerReferences;
  if (!Array.isArray(refs)) return undefined;
  for (const ref of refs as Array<Record<string, unknown>>) {
    if (ref?.controller !== true) continue;
    const { apiVersion, kind, name, uid } = ref;
    if ([apiVersion, kind, name, uid].every((v) => typeof v === 'string' && v !== '')) {
      return { apiVersion: apiVersion as string, kind: kind as string, name: name as string, uid: uid as string };
    }
  }
  return undefined;
}
