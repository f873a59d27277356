// The one function every caller uses: the webhook, `splice inject`, `splice explain`
// and the tests. (pod, namespace facts, cluster facts, config) → decision, mutated pod
// and patch. No I/O, no clock, no randomness: the same input gives the same output.

import type { Config } from './config.js';
import { decide } from './decide.js';
import { INJECTED_NAMES } from './keys.js';
import type { Decision } from './outcome.js';
import { resolveOverrides } from './overrides.js';
import { diff } from './patch.js';
import { conflictMessage, podSecurityFacts } from './podsecurity.js';
import { reason } from './reasons.js';
import { render } from './render.js';
import { asPod, checkPodShape } from './shape.js';
import type { ClusterFacts, NamespaceFacts, Pod } from './types.js';

export interface InjectInput {
  /** The object exactly as received; it is never modified. */
  pod: unknown;
  namespace: NamespaceFacts;
  cluster: ClusterFacts;
  config: Config;
}

/** Native sidecars are on by default from Kubernetes 1.29 (SidecarContainers beta). */
export function nativeSidecarsSupported(cluster: ClusterFacts): boolean {
  const v = cluster.version;
  // No API server asked (CLI, --local): assume a supported Kubernetes; 1.28 is long out of support.
  if (!v) return true;
  return v.major > 1 || (v.major === 1 && v.minor >= 29);
}

export function injectPod(input: InjectInput): Decision {
  const { namespace: ns, cluster, config } = input;
  const shapeProblem = checkPodShape(input.pod);
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

  const clash = reservedNameInUse(original);
  if (clash) {
    const message = `splice cannot inject this pod: ${clash} is a name splice adds; rename it, or opt the pod out with splice.dev/inject: "false"`;
    return { result: 'deny', reasons: [reason('invalid_pod', message)], warnings, message };
  }

  const { overrides, problems, warnings: overrideWarnings } = resolveOverrides(
    original.metadata?.annotations ?? {},
    ns,
    config,
  );
  warnings.push(...overrideWarnings);
  if (problems.length > 0) {
    const message = `splice cannot inject this pod: ${problems.join('; ')}`;
    return { result: 'deny', reasons: problems.map((p) => reason('invalid_annotation', p)), warnings, message };
  }

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
  if (!native && ownedByJob(original)) {
    warnings.push('the proxy runs as a regular container, so this Job\'s pod will not complete while it runs; use native sidecars (splice.dev/native-sidecar: "true", Kubernetes 1.29+)');
  }

  const pod = render(original, { namespace: ns.name, native, hold: overrides.holdApplication }, overrides, config);
  return { result: 'inject', reasons: verdict.reasons, warnings, pod, patch: diff(original, pod) };
}

// managedFields is the API server's bookkeeping: it is left out of the diff so the
// patch never touches it (Istio drops it before diffing for the same reason).
function withoutManagedFields(pod: Pod): Pod {
  if (pod.metadata?.managedFields === undefined) return pod;
  const { managedFields: _dropped, ...metadata } = pod.metadata;
  return { ...pod, metadata };
}

function reservedNameInUse(pod: Pod): string | undefined {
  const containers = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name);
  for (const name of [INJECTED_NAMES.init]) if (containers.includes(name)) return `container name ${name}`;
  const volumes = (pod.spec.volumes ?? []).map((v) => v.name);
  for (const name of [INJECTED_NAMES.identityVolume, INJECTED_NAMES.initRunVolume, INJECTED_NAMES.noApiTokenVolume]) {
    if (volumes.includes(name)) return `volume name ${name}`;
  }
  return undefined;
}

function ownedByJob(pod: Pod): boolean {
  return (pod.metadata?.ownerReferences ?? []).some((o) => o?.kind === 'Job');
}
