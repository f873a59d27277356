// The one function every caller uses: the webhook, `splice inject`, `splice explain`
// and the tests. (pod, namespace facts, cluster facts, config) → decision, mutated pod
// and patch. No I/O, no clock, no randomness: the same input gives the same output.

import type { Config } from './config.js';
import { decide } from './decide.js';
import { annotationsProblem, podConflicts } from './conflicts.js';
import type { Decision } from './outcome.js';
import { resolveOverrides } from './overrides.js';
import { diff } from './patch.js';
import { nonLinuxMessage, nonLinuxPlacement } from './node-os.js';
import { budgetProblems, podBudget, proxyResourceProblems } from './pod-resources.js';
import { conflictMessage, podSecurityFacts } from './podsecurity.js';
import { reason } from './reasons.js';
import { nativeOnOldClusterWarning, regularProxyWarnings, preStopDrain } from './regular-proxy.js';
import type { Drain } from './proxy.js';
import { KEYS } from './keys.js';
import { planProbes } from './probes.js';
import { render } from './render.js';
import { asPod, checkPodShape } from './shape.js';
import type { ClusterFacts, NamespaceFacts, Pod } from './types.js';

export interface InjectInput {
  /** The object exactly as received; it is never modified. */
  pod: unknown;
  /**
   * Where the pod sits in the document it came from, ending in a dot (`spec.template.`
   * for a Deployment's template), so a field named in a refusal is the manifest's own
   * path. Absent for a pod on its own, as the webhook receives it.
   */
  at?: string;
  namespace: NamespaceFacts;
  cluster: ClusterFacts;
  config: Config;
}

/**
 * Whether the API server is Kubernetes 1.`minor` or later. No API server asked (CLI,
 * --local): assumed, as a supported Kubernetes is; the releases before are long out of support.
 */
function atLeast(cluster: ClusterFacts, minor: number): boolean {
  const v = cluster.version;
  if (!v) return true;
  return v.major > 1 || (v.major === 1 && v.minor >= minor);
}

/** Native sidecars are on by default from Kubernetes 1.29 (SidecarContainers beta). */
export function nativeSidecarsSupported(cluster: ClusterFacts): boolean {
  return atLeast(cluster, 29);
}

/** Whether the API server takes a preStop `sleep` action (KEP-3960: beta and on by default from 1.30). */
export function sleepActionSupported(cluster: ClusterFacts): boolean {
  return atLeast(cluster, 30);
}

// A native sidecar has no preStop wait, whatever the pod's grace period: one value for all,
// so the parts of native pods are not built again for each grace period.
const NO_DRAIN: Drain = Object.freeze({ seconds: 0, sleepAction: false });

export function injectPod(input: InjectInput): Decision {
  const { namespace: ns, cluster, config } = input;
  const shapeProblem = checkPodShape(input.pod, input.at);
  if (shapeProblem) {
    const message = `splice cannot handle this pod: ${shapeProblem}`;
    return { result: 'deny', reasons: [reason('invalid_pod', message)], warnings: [], message };
  }
  const original = withoutManagedFields(asPod(input.pod));
  const verdict = decide(original, ns, config);
  if (verdict.verdict !== 'inject') {
    return verdict.verdict === 'deny'
      ? { result: 'deny', reasons: verdict.reasons, warnings: verdict.warnings, message: verdict.message }
      : { result: 'skip', reasons: verdict.reasons, warnings: verdict.warnings };
  }
  const warnings = [...verdict.warnings];

  // First, because nothing else matters for a pod the proxy cannot run in: not even an
  // invalid override on a pod splice will leave alone.
  const at = input.at ?? '';
  const placement = nonLinuxPlacement(original, at);
  if (placement) {
    const message = nonLinuxMessage(placement);
    return { result: 'skip', reasons: [reason('windows_pod', message)], warnings: [...warnings, `pod not meshed: ${message}`] };
  }

  const { overrides, problems, warnings: overrideWarnings } = resolveOverrides(
    original.metadata?.annotations ?? {},
    ns,
    config,
  );
  warnings.push(...overrideWarnings);
  // Keys only splice writes, on a pod it has not injected (copied from one it had, say):
  // injecting replaces them, and taking the injection out again removes them.
  const own: string[] = [KEYS.sdsCertificate, KEYS.sdsTrustBundle, KEYS.originalProbes].filter((k) => original.metadata?.annotations?.[k] !== undefined);
  if (original.metadata?.labels?.[KEYS.injected] !== undefined) own.push(KEYS.injected);
  if (own.length > 0) warnings.push(`the pod carries ${own.join(', ')}, which splice writes itself: its own values are replaced, and splice uninject removes them`);
  // Every problem at once, the pod's and the annotations', so one fix is enough.
  const budgeted = podBudget(original, cluster);
  const conflicts = podConflicts(original, config, at);
  const annotationProblems = [...problems, ...proxyResourceProblems(budgeted, overrides)];
  if (conflicts.length > 0 || annotationProblems.length > 0) return refusal(conflicts, annotationProblems, warnings);

  const security = podSecurityFacts(ns);
  if (security.enforced) {
    const message = conflictMessage(ns.name, security.enforced);
    const conflict = [reason('pod_security_conflict', message)];
    if (config.podSecurityConflict === 'deny') return { result: 'deny', reasons: conflict, warnings, message };
    return { result: 'skip', reasons: conflict, warnings: [...warnings, `pod not meshed: ${message}`] };
  }
  for (const { mode, level } of security.reported) {
    warnings.push(
      `namespace ${ns.name} ${mode === 'warn' ? 'warns' : 'audits'} at Pod Security level "${level}": splice-init runs as root with NET_ADMIN and NET_RAW to install the traffic redirect`,
    );
  }

  const native =
    overrides.nativeSidecar ??
    (config.proxy.nativeSidecar === 'auto' ? nativeSidecarsSupported(cluster) : config.proxy.nativeSidecar === 'true');
  const drain = native ? NO_DRAIN : preStopDrain(original, config.proxy.drainSeconds, sleepActionSupported(cluster));
  if (!native) warnings.push(...regularProxyWarnings(original, overrides.holdApplication, overrides.redirect, config.proxy.drainSeconds));
  const oldCluster = native && cluster.version?.major === 1 ? nativeOnOldClusterWarning(cluster.version.minor) : undefined;
  if (oldCluster) warnings.push(oldCluster);

  const probes = planProbes(original, { redirect: overrides.redirect, rewrite: overrides.rewriteProbes, native });
  if (overrides.inboundPolicy === 'strict') {
    // Left alone, these reach the app port as the kubelet's plaintext, which strict refuses.
    for (const why of probes.untouched) warnings.push(`probe left as it was, and the strict inbound policy will refuse it: ${why}`);
    const only = overrides.redirect.includeInboundPorts;
    if (only !== '*') {
      warnings.push(
        only.length === 0
          ? `the strict inbound policy covers no port: ${KEYS.includeInboundPorts} is empty, so every connection reaches the app without the proxy`
          : `the strict inbound policy covers ports ${only.join(', ')} only (${KEYS.includeInboundPorts}): connections to any other port reach the app without the proxy`,
      );
    }
  }
  const pod = render(original, { namespace: ns.name, native, hold: overrides.holdApplication, budgeted, drain, probes }, overrides, config);
  // What only the whole injected pod shows.
  const size = annotationsProblem(original, pod, at);
  const budget = budgetProblems(pod, budgeted, overrides, at);
  if (size !== undefined || budget.length > 0) return refusal(size === undefined ? [] : [size], budget, warnings);
  return { result: 'inject', reasons: verdict.reasons, warnings, pod, patch: diff(original, pod) };
}

function refusal(podProblems: readonly string[], annotationProblems: readonly string[], warnings: string[]): Decision {
  const message = `splice cannot inject this pod: ${[...podProblems, ...annotationProblems].join('; ')}`;
  const reasons = [...podProblems.map((p) => reason('invalid_pod', p)), ...annotationProblems.map((p) => reason('invalid_annotation', p))];
  return { result: 'deny', reasons, warnings, message };
}

// managedFields is the API server's bookkeeping: it is left out of the diff so the
// patch never touches it (Istio drops it before diffing for the same reason).
function withoutManagedFields(pod: Pod): Pod {
  if (pod.metadata?.managedFields === undefined) return pod;
  const { managedFields: _dropped, ...metadata } = pod.metadata;
  return { ...pod, metadata };
}
