// Pod Security admission runs after every mutating webhook. splice-init needs root,
// NET_ADMIN and NET_RAW to install the redirect, which both the baseline and the
// restricted levels forbid: injected into such a namespace, the pod would be rejected
// with a message about a container the user never wrote. So splice looks first, and
// either leaves the pod alone or refuses it itself, saying why (config podSecurityConflict).

import type { NamespaceFacts } from './types.js';

const LABEL = 'pod-security.kubernetes.io/';
const FORBIDDING = ['baseline', 'restricted'];

export interface PodSecurityFacts {
  /** The enforced level that would reject splice-init, if any. */
  enforced?: string;
  /** Warn/audit levels that will merely report splice-init. */
  reported: Array<{ mode: 'warn' | 'audit'; level: string }>;
}

export function podSecurityFacts(ns: NamespaceFacts): PodSecurityFacts {
  const level = (mode: string) => ns.labels[`${LABEL}${mode}`];
  const enforce = level('enforce');
  const reported: PodSecurityFacts['reported'] = [];
  for (const mode of ['warn', 'audit'] as const) {
    const l = level(mode);
    if (l !== undefined && FORBIDDING.includes(l)) reported.push({ mode, level: l });
  }
  return { ...(enforce !== undefined && FORBIDDING.includes(enforce) ? { enforced: enforce } : {}), reported };
}

export function conflictMessage(ns: string, level: string): string {
  return (
    `namespace ${ns} enforces Pod Security level "${level}", which forbids splice-init ` +
    `(root, NET_ADMIN, NET_RAW: it installs the traffic redirect); label the namespace ` +
    `pod-security.kubernetes.io/enforce=privileged to mesh its pods, or opt the pod out with splice.dev/inject: "false"`
  );
}
