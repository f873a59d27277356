// Whether a running pod has what splice would inject into it today (`splice check`). Pure:
// the pod as the API server has it, its namespace, the cluster and the running config.
//
// An injected pod is taken back to what splice was given (uninject.ts) and injected again
// with today's config; the parts hash in the two statuses says whether anything splice
// adds has changed, and the containers say what. Comparing hashes, not the objects, keeps
// the API server's defaults (terminationMessagePath, a quantity it rewrote) from looking
// like drift. A pod that is not injected is injected the same way, to say whether the
// webhook would mesh it today, or why not.

import type { Config } from './config.js';
import { injectPod } from './engine.js';
import { BOOTSTRAP_FLAGS, bootstrapInputArg } from './init.js';
import { INJECTED_NAMES, KEYS } from './keys.js';
import { compareQuantities, parseQuantity } from './quantity.js';
import { readStatus } from './status.js';
import type { ClusterFacts, Container, NamespaceFacts, Pod } from './types.js';
import { uninjectPod } from './uninject.js';
import { SPLICE_VERSION } from '../version.js';

export type PodCheck =
  /** Injected, with exactly what splice would inject today. */
  | { state: 'current' }
  /** Injected, with parts that differ from today's: one reason each, as a person reads it. */
  | { state: 'drifted'; reasons: string[] }
  /** Injected, but today the webhook would leave it out (its namespace was disabled, say). */
  | { state: 'would-not-inject'; reasons: string[] }
  /** Not injected, and the webhook would inject it today: it was created before, or while splice was away. */
  | { state: 'not-injected'; reasons: string[] }
  /** Not injected, and the webhook would leave it so (or refuse it) today, for these reasons. */
  | { state: 'left-out'; reasons: string[] }
  /** splice's annotations on it cannot be read. */
  | { state: 'unreadable'; reasons: string[] };

export interface CheckInput {
  /** The pod as the API server returns it. */
  pod: unknown;
  namespace: NamespaceFacts;
  cluster: ClusterFacts;
  config: Config;
}

const containerNamed = (pod: Pod, name: string): Container | undefined =>
  [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === name);

/** Resource maps equal in amount, whatever the spelling ("0.5" and "500m"; the API server rewrites some). */
function sameResources(a: Container['resources'], b: Container['resources']): boolean {
  for (const kind of ['requests', 'limits'] as const) {
    const x = a?.[kind] ?? {};
    const y = b?.[kind] ?? {};
    for (const r of new Set([...Object.keys(x), ...Object.keys(y)])) {
      const p = x[r] === undefined ? undefined : parseQuantity(x[r]);
      const q = y[r] === undefined ? undefined : parseQuantity(y[r]);
      if (!p || !q ? x[r] !== y[r] : compareQuantities(p, q) !== 0) return false;
    }
  }
  return true;
}

const describeResources = (r: Container['resources']): string => JSON.stringify({ requests: r?.requests ?? {}, limits: r?.limits ?? {} });

const shorten = (v: unknown): string => {
  const text = JSON.stringify(v) ?? 'none';
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
};

/**
 * The args that differ: the bootstrap input (splice-init's JSON argument) field by field,
 * the other args as a whole.
 */
function argsReasons(name: string, live: string[], now: string[]): string[] {
  const input = (args: string[]): Record<string, unknown> => {
    try {
      return JSON.parse(bootstrapInputArg(args) ?? '{}') as Record<string, unknown>;
    } catch {
      return {};
    }
  };
  const rest = (args: string[]) => {
    const i = args.indexOf(BOOTSTRAP_FLAGS.input);
    return i < 0 ? args : [...args.slice(0, i), ...args.slice(i + 2)];
  };
  const out: string[] = [];
  if (JSON.stringify(rest(live)) !== JSON.stringify(rest(now))) out.push(`${name} args: ${shorten(rest(live).join(' '))}, today ${shorten(rest(now).join(' '))}`);
  const [a, b] = [input(live), input(now)];
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) out.push(`${name} proxy config ${key}: ${shorten(a[key])}, today ${shorten(b[key])}`);
  }
  return out;
}

/** What differs between the live container splice added and today's, field by field. */
function containerReasons(name: string, live: Container | undefined, now: Container | undefined): string[] {
  if (!live || !now) return live === now ? [] : [`${name}: ${live ? 'would not be added today' : 'missing; today it would be added'}`];
  const out: string[] = [];
  if (live.image !== now.image) out.push(`${name} image: ${live.image ?? '(none)'}, today ${now.image ?? '(none)'}`);
  if (!sameResources(live.resources, now.resources)) out.push(`${name} resources: ${describeResources(live.resources)}, today ${describeResources(now.resources)}`);
  out.push(...argsReasons(name, live.args ?? [], now.args ?? []));
  if ((live.restartPolicy === 'Always') !== (now.restartPolicy === 'Always')) {
    out.push(`${name} runs as ${live.restartPolicy === 'Always' ? 'a native sidecar' : 'a regular container'}; today as ${now.restartPolicy === 'Always' ? 'a native sidecar' : 'a regular container'}`);
  }
  return out;
}

/**
 * Checks one pod against what splice would inject today.
 *
 * @param input the live pod (as the API server has it), its namespace, the cluster's
 *   version and the running config
 * @returns the pod's state and the reasons for it; never throws
 */
export function checkPod(input: CheckInput): PodCheck {
  const back = uninjectPod(input.pod);
  if (back.result === 'invalid') return { state: 'unreadable', reasons: [back.message] };
  const today = injectPod({ pod: back.pod, namespace: input.namespace, cluster: input.cluster, config: input.config });
  const why = today.reasons.map((r) => `${r.id}: ${r.message}`);
  if (back.result === 'not-injected') {
    if (today.result !== 'inject') return { state: 'left-out', reasons: today.result === 'deny' ? [today.message] : why };
    // The webhook decides only about the pods its configuration sends it.
    const unseen = unseenByWebhook(back.pod, input.namespace);
    return unseen ? { state: 'left-out', reasons: [unseen] } : { state: 'not-injected', reasons: why };
  }
  if (today.result !== 'inject') return { state: 'would-not-inject', reasons: today.result === 'deny' ? [today.message] : why };

  const live = asLive(input.pod);
  const was = readStatus(live);
  const now = readStatus(today.pod);
  // The containers as they run: one changed in place (kubectl set image, a resize) differs
  // from what splice added, whatever the hash of what it added says.
  const reasons: string[] = [];
  for (const name of [INJECTED_NAMES.proxy, INJECTED_NAMES.init]) reasons.push(...containerReasons(name, containerNamed(live, name), containerNamed(today.pod, name)));
  if (was?.hash !== undefined && was.hash === now?.hash && reasons.length === 0) return { state: 'current' };
  if (was?.version !== SPLICE_VERSION) reasons.unshift(`injected by splice ${was?.version ?? 'of an unknown version'}; today ${SPLICE_VERSION}`);
  if (reasons.length === 0) reasons.push(`the parts splice added differ from today's (hash ${was?.hash ?? 'none'}, today ${now?.hash ?? 'none'}): volumes or annotations`);
  return { state: 'drifted', reasons };
}

/**
 * Why the webhook is never asked about a pod that says nothing of its own, as manifests/
 * configures it (its namespaceSelector and objectSelector see labels only), or undefined
 * when it is asked. A pod that opts in by annotation in a namespace without the label is
 * the case: the selectors cannot see annotations.
 */
export function unseenByWebhook(pod: Pod, ns: NamespaceFacts): string | undefined {
  if (Object.hasOwn(ns.labels, KEYS.inject) || Object.hasOwn(ns.labels, KEYS.revision)) return undefined;
  const label = pod.metadata?.labels?.[KEYS.inject];
  const annotation = pod.metadata?.annotations?.[KEYS.inject];
  // Only an opt-in by annotation is certain to be unseen; with defaultPolicy enabled the
  // README has the objectSelector removed, which check cannot see from here.
  if (label === 'true' || label === 'enabled' || (annotation !== 'true' && annotation !== 'enabled')) return undefined;
  return `the pod opts in by annotation only, in namespace ${ns.name} without a ${KEYS.inject} label: the webhook's objectSelector sees labels, so it is never asked; label the pod ${KEYS.inject}=true or the namespace ${KEYS.inject}=enabled`;
}

/**
 * Whether `splice check` of this revision speaks for the pod: an injected pod belongs to
 * the revision that injected it (splice.dev/status), which checks it; a pod without the
 * proxy to the revision its namespace belongs to.
 */
export function checkedBy(pod: Pod, ns: NamespaceFacts, revision: string): boolean {
  let injectedBy: string | undefined;
  try {
    const status = readStatus(pod);
    injectedBy = status ? (status.revision ?? '') : undefined;
  } catch {
    return true;
  }
  if (injectedBy !== undefined) return injectedBy === revision;
  return (Object.hasOwn(ns.labels, KEYS.revision) ? ns.labels[KEYS.revision] : '') === revision;
}

// uninjectPod has read the pod's shape already.
const asLive = (pod: unknown): Pod => pod as Pod;
