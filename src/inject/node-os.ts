// splice-init (iptables) and splice-proxy (Envoy) are Linux containers. A pod that
// runs on Windows nodes cannot carry them: the API server refuses Linux-only
// securityContext fields in a pod with spec.os.name: windows ("cannot be set for a
// windows pod", once per field of each container splice added), and a pod placed on
// Windows nodes by a node selector or affinity would fail to pull or start them. Such
// pods are left alone, with a reason and a warning.
//
// A pod says where it runs in three ways, each read here the way the scheduler reads
// it (kubernetes.io/docs/reference/labels-annotations-taints/#kubernetes-io-os):
//   - spec.os.name (KEP-2802; "linux" or "windows");
//   - spec.nodeSelector["kubernetes.io/os"] (or the older beta.kubernetes.io/os);
//   - required node affinity: nodeSelectorTerms are ORed, the expressions of a term
//     ANDed, so the pod is kept off Linux nodes only when every term excludes them.

import { isRecord } from './shape.js';
import type { Pod } from './types.js';

const OS_LABELS = ['kubernetes.io/os', 'beta.kubernetes.io/os'] as const;

const field = (v: unknown, key: string): unknown => (isRecord(v) ? v[key] : undefined);

/**
 * How the pod says it runs on nodes that are not Linux (Windows nodes), as a phrase
 * naming the field, such as `spec.os.name is "windows"` (each field prefixed with `at`,
 * where the pod sits in its manifest); undefined for a pod that may run on Linux nodes
 * (the usual case: nothing is said at all).
 */
export function nonLinuxPlacement(pod: Pod, at = ''): string | undefined {
  const os = field(field(pod.spec, 'os'), 'name');
  if (typeof os === 'string' && os !== 'linux') return `${at}spec.os.name is ${JSON.stringify(os)}`;

  const selector = field(pod.spec, 'nodeSelector');
  for (const label of OS_LABELS) {
    const value = field(selector, label);
    if (typeof value === 'string' && value !== 'linux') return `${at}spec.nodeSelector["${label}"] is ${JSON.stringify(value)}`;
  }

  const required = field(field(field(pod.spec, 'affinity'), 'nodeAffinity'), 'requiredDuringSchedulingIgnoredDuringExecution');
  const terms = field(required, 'nodeSelectorTerms');
  if (Array.isArray(terms) && terms.length > 0 && terms.every(termExcludesLinux)) {
    return `every term of ${at}spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution excludes nodes whose kubernetes.io/os is "linux"`;
  }
  return undefined;
}

function termExcludesLinux(term: unknown): boolean {
  const expressions = field(term, 'matchExpressions');
  if (!Array.isArray(expressions)) return false;
  return expressions.some((e) => {
    const key = field(e, 'key');
    if (typeof key !== 'string' || !(OS_LABELS as readonly string[]).includes(key)) return false;
    const operator = field(e, 'operator');
    const values = field(e, 'values');
    const list = Array.isArray(values) ? values : [];
    if (operator === 'In') return !list.includes('linux');
    if (operator === 'NotIn') return list.includes('linux');
    return operator === 'DoesNotExist';
  });
}

/** Why a pod is left out of the mesh because of where it runs (the warning adds "pod not meshed: "). */
export function nonLinuxMessage(placement: string): string {
  return `${placement}, and splice-init and splice-proxy are Linux containers: the pod runs without the proxy`;
}
