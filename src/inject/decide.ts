// Whether a pod joins the mesh, and every reason why. Precedence, highest first
// (README "Deciding" holds the same table; test/unit/inject/decide.test.ts tests it
// row by row):
//
//   1. never: kube-system, kube-public, kube-node-lease, the injector's namespace;
//      hostNetwork: true; already injected (splice.dev/status, or a splice-proxy)
//   2. pod opt-out: splice.dev/inject annotation or label "false" / "disabled"
//   3. namespace label splice.dev/inject=disabled (a pod cannot opt back in)
//   4. pod opt-in ("true" / "enabled") in a namespace without the label
//   5. namespace label splice.dev/inject=enabled
//   6. the config's defaultPolicy (disabled unless configured)
//
//   namespace label →   enabled      disabled     (none)          (none), default enabled
//   pod says ↓
//   false/disabled      skip         skip         skip            skip
//   true/enabled        inject       skip         inject          inject
//   (nothing)           inject       skip         skip            inject
//
// Every rule that applies is reported, not just the first: a pod in kube-system with
// hostNetwork gets both reasons, so fixing one does not reveal a second surprise.

import type { Config } from './config.js';
import { INJECTED_NAMES, KEYS, SYSTEM_NAMESPACES } from './keys.js';
import type { Reason } from './reasons.js';
import { reason } from './reasons.js';
import type { NamespaceFacts, Pod } from './types.js';

export type Verdict =
  | { verdict: 'inject'; reasons: Reason[]; warnings: string[] }
  | { verdict: 'skip'; reasons: Reason[]; warnings: string[] }
  | { verdict: 'deny'; reasons: Reason[]; warnings: string[]; message: string };

type Choice = 'in' | 'out' | undefined;

const POD_VALUES: Record<string, Choice> = { true: 'in', enabled: 'in', false: 'out', disabled: 'out' };

export function isInjected(pod: Pod): boolean {
  if (pod.metadata?.annotations?.[KEYS.status] !== undefined) return true;
  const all = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])];
  return all.some((c) => c?.name === INJECTED_NAMES.proxy);
}

export function decide(pod: Pod, ns: NamespaceFacts, config: Config): Verdict {
  const warnings: string[] = [];
  const never: Reason[] = [];
  if ((SYSTEM_NAMESPACES as readonly string[]).includes(ns.name)) {
    never.push(reason('system_namespace', `namespace ${ns.name} is a Kubernetes system namespace; splice never injects there`));
  }
  if (ns.name === config.injectorNamespace) {
    never.push(reason('injector_namespace', `namespace ${ns.name} is splice's own namespace; splice never injects there`));
  }
  if (pod.spec.hostNetwork === true) {
    never.push(reason('host_network', 'the pod uses hostNetwork: true; redirecting its traffic would redirect the node\'s'));
  }
  if (isInjected(pod)) {
    never.push(reason('already_injected', `the pod already has ${KEYS.status} or a ${INJECTED_NAMES.proxy} container`));
  }
  if (never.length > 0) return { verdict: 'skip', reasons: never, warnings };

  const podChoice = readPodChoice(pod);
  if (podChoice.invalid) {
    return {
      verdict: 'deny',
      reasons: [reason('invalid_annotation', podChoice.invalid)],
      warnings,
      message: podChoice.invalid,
    };
  }
  const nsChoice = readNamespaceLabel(ns, warnings);

  const skip: Reason[] = [];
  if (podChoice.choice === 'out') {
    skip.push(reason('pod_opted_out', `the pod's ${podChoice.source} ${KEYS.inject} is ${JSON.stringify(podChoice.value)}`));
  }
  if (nsChoice === 'disabled') {
    const note = podChoice.choice === 'in' ? '; a pod cannot opt back in' : '';
    skip.push(reason('namespace_disabled', `namespace ${ns.name} is labeled ${KEYS.inject}=disabled${note}`));
  }
  const otherRevision = revisionMismatch(ns, config);
  if (otherRevision) skip.push(reason('other_revision', otherRevision));
  if (skip.length > 0) return { verdict: 'skip', reasons: skip, warnings };

  const inject: Reason[] = [];
  if (podChoice.choice === 'in') {
    inject.push(reason('pod_opted_in', `the pod's ${podChoice.source} ${KEYS.inject} is ${JSON.stringify(podChoice.value)}`));
  }
  if (nsChoice === 'enabled') {
    inject.push(reason('namespace_enabled', `namespace ${ns.name} is labeled ${KEYS.inject}=enabled`));
  } else if (config.revision !== '') {
    // This revision's own label enables the namespace, as splice.dev/inject=enabled does for the default one.
    inject.push(reason('namespace_enabled', `namespace ${ns.name} is labeled ${KEYS.revision}=${config.revision}`));
  }
  if (inject.length === 0 && config.defaultPolicy === 'enabled') {
    inject.push(reason('default_policy_enabled', 'the config\'s defaultPolicy is enabled and neither the pod nor its namespace says otherwise'));
  }
  if (inject.length === 0) {
    return {
      verdict: 'skip',
      reasons: [reason('not_enabled', `neither the pod nor namespace ${ns.name} opts in (label the namespace ${KEYS.inject}=enabled, or annotate the pod ${KEYS.inject}: "true")`)],
      warnings,
    };
  }
  return { verdict: 'inject', reasons: inject, warnings };
}

/**
 * Whether a pod that says nothing would be injected in `ns`: rows 1, 3, 5 and 6 of the
 * table above. The identity controller keeps a certificate for every service account of
 * such a namespace, before any pod asks for one.
 */
export function namespaceInjects(ns: NamespaceFacts, config: Config): boolean {
  if ((SYSTEM_NAMESPACES as readonly string[]).includes(ns.name) || ns.name === config.injectorNamespace) return false;
  const label = ns.labels[KEYS.inject];
  if (label === 'disabled' || revisionMismatch(ns, config)) return false;
  if (label === 'enabled' || config.revision !== '') return true;
  return config.defaultPolicy === 'enabled';
}

/** Whether some revision of splice injects pods that say nothing in `ns`: namespaceInjects, for any revision. */
export function namespaceMeshed(ns: NamespaceFacts, config: Config): boolean {
  // As the revision the namespace belongs to would decide (the default one without a label).
  const revision = Object.hasOwn(ns.labels, KEYS.revision) ? (ns.labels[KEYS.revision] ?? '') : '';
  if (Object.hasOwn(ns.labels, KEYS.revision) && revision === '') return false;
  return namespaceInjects(ns, revision === config.revision ? config : { ...config, revision });
}

/**
 * Why this revision of splice leaves the namespace to another, or undefined when it is
 * its own: a namespace labeled splice.dev/rev=<name> belongs to revision <name>, one
 * without the label to the default revision (config.revision '').
 */
export function revisionMismatch(ns: NamespaceFacts, config: Config): string | undefined {
  const labeled = Object.hasOwn(ns.labels, KEYS.revision) ? ns.labels[KEYS.revision] : undefined;
  // An empty label names no revision, and no webhook selects it (the default's wants the label absent).
  if (labeled === '') return `namespace ${ns.name} is labeled ${KEYS.revision}="", which names no revision: no revision of splice injects it`;
  const wanted = labeled ?? '';
  if (wanted === config.revision) return undefined;
  const mine = config.revision === '' ? 'the default revision' : `revision ${config.revision}`;
  return labeled === undefined
    ? `namespace ${ns.name} has no ${KEYS.revision} label: the default revision of splice injects it, not ${mine}`
    : `namespace ${ns.name} is labeled ${KEYS.revision}=${labeled}: revision ${labeled} of splice injects it, not ${mine}`;
}

interface PodChoice {
  choice: Choice;
  source?: 'annotation' | 'label';
  value?: string;
  invalid?: string;
}

// The annotation and the label mean the same; when both are set and disagree, the
// opt-out wins, because injecting a pod its owner tried to keep out is the worse error.
function readPodChoice(pod: Pod): PodChoice {
  const found: PodChoice[] = [];
  for (const source of ['annotation', 'label'] as const) {
    const map = source === 'annotation' ? pod.metadata?.annotations : pod.metadata?.labels;
    if (!map || !Object.hasOwn(map, KEYS.inject)) continue;
    const value = String(map[KEYS.inject]);
    const choice = POD_VALUES[value];
    if (choice === undefined) {
      return { choice: undefined, invalid: `${source} ${KEYS.inject}: ${JSON.stringify(value)} must be one of "true", "enabled", "false", "disabled"` };
    }
    found.push({ choice, source, value });
  }
  return found.find((f) => f.choice === 'out') ?? found[0] ?? { choice: undefined };
}

function readNamespaceLabel(ns: NamespaceFacts, warnings: string[]): 'enabled' | 'disabled' | undefined {
  if (!Object.hasOwn(ns.labels, KEYS.inject)) return undefined;
  const value = ns.labels[KEYS.inject];
  if (value === 'enabled' || value === 'disabled') return value;
  // A namespace label is an operator's setting shared by every pod in it: refusing all
  // of them over a typo would take the namespace down, so it is reported, not enforced.
  warnings.push(`namespace ${ns.name} label ${KEYS.inject}=${JSON.stringify(value)} is neither "enabled" nor "disabled" and is ignored`);
  return undefined;
}
