// Builds the injected pod from the original: plain objects, never templated text.
// The app's containers are carried over as they are, but for the probes that must go
// through the proxy (probes.ts); splice adds its own containers and volumes, a few
// annotations and one label.
//
// The new pod is a copy of the original only along the paths splice changes
// (metadata.labels, metadata.annotations and the three lists in spec); every other value is the
// original's own, and the added parts are shared, frozen values (parts.ts). Copying
// the whole pod cost more than everything else the engine does, and the diff skips
// shared values at once, so it walks only what changed.

import type { Config } from './config.js';
import { DEFAULT_CONTAINER_ANNOTATION, KEYS } from './keys.js';
import type { ProbePlan } from './probes.js';
import { CREATABLE_FIELDS, formatStatus, type CreatableField } from './status.js';
import { getOrCreate } from './memo.js';
import type { Overrides } from './overrides.js';
import type { BudgetedResource } from './pod-resources.js';
import { injectedParts, type InjectedParts } from './parts.js';
import type { Drain } from './proxy.js';
import type { Container, Pod } from './types.js';

export interface RenderPlan {
  namespace: string;
  native: boolean;
  hold: boolean;
  /** The resources the pod budgets at pod level (pod-resources.ts podBudget). */
  budgeted: readonly BudgetedResource[];
  /** A regular proxy's preStop drain (regular-proxy.ts preStopDrain). */
  drain: Drain;
  /** The app's probes, pointed at the proxy where they must be (probes.ts planProbes). */
  probes: ProbePlan;
}

export function serviceAccountOf(pod: Pod): string {
  return pod.spec.serviceAccountName || pod.spec.serviceAccount || 'default';
}

/** Returns a new pod that shares unchanged values with `pod`; neither may be modified afterwards. */
export function render(pod: Pod, plan: RenderPlan, overrides: Overrides, config: Config): Pod {
  const parts = injectedParts(
    {
      namespace: plan.namespace,
      serviceAccount: serviceAccountOf(pod),
      native: plan.native,
      hold: plan.hold,
      budgeted: plan.budgeted,
      drain: plan.drain,
      appProbes: plan.probes.appProbes,
    },
    overrides,
    config,
  );
  const spec = pod.spec;

  // splice-init goes first so the redirect exists before anything else runs. A native
  // proxy goes right after it, so the user's init containers already have a proxy to
  // talk through; a regular proxy goes first among containers only when it must hold
  // the app (the kubelet starts containers in order).
  const userInit: Container[] = plan.probes.initContainers ?? [];
  let initContainers: Container[];
  let containers = plan.probes.containers;
  if (plan.native) {
    initContainers = [parts.init, parts.proxy, ...userInit];
  } else {
    initContainers = [parts.init, ...userInit];
    containers = plan.hold ? [parts.proxy, ...containers] : [...containers, parts.proxy];
  }

  const annotations: Record<string, string> = copy(pod.metadata?.annotations ?? {});
  const firstApp = spec.containers[0]?.name;
  const defaultContainer = firstApp !== undefined && annotations[DEFAULT_CONTAINER_ANNOTATION] === undefined;
  if (defaultContainer) {
    // Keeps `kubectl logs` and `kubectl exec` pointed at the app, not at Envoy.
    annotations[DEFAULT_CONTAINER_ANNOTATION] = firstApp;
  }
  for (const [key, value] of Object.entries(parts.annotations)) set(annotations, key, value);
  if (plan.probes.appProbes.length > 0) set(annotations, KEYS.originalProbes, JSON.stringify(plan.probes.originals));
  // What uninjection needs to give the pod back exactly as it came (uninject.ts).
  const created = CREATABLE.filter(([, outer, inner]) => (outer === 'metadata' ? pod.metadata : spec)?.[inner] === undefined).map(([field]) => field);
  set(annotations, KEYS.status, statusText(parts.status, created, defaultContainer));
  const labels: Record<string, string> = copy(pod.metadata?.labels ?? {});
  for (const [key, value] of Object.entries(parts.labels)) set(labels, key, value);

  const volumes = [...(spec.volumes ?? []), ...parts.volumes];
  return copy(pod, {
    metadata: copy(pod.metadata ?? {}, { labels, annotations }),
    spec: copy(spec, { initContainers, containers, volumes }),
  });
}

const CREATABLE = CREATABLE_FIELDS.map((field) => [field, ...field.split('.')] as [CreatableField, 'metadata' | 'spec', string]);

// The status text per parts (frozen, shared per workload) and pod shape: every replica of
// a workload has the same, so it is written once, not once per pod.
const statusTexts = new WeakMap<InjectedParts['status'], Map<string, string>>();

function statusText(status: InjectedParts['status'], created: readonly CreatableField[], defaultContainer: boolean): string {
  const texts = getOrCreate(statusTexts, status, () => new Map<string, string>());
  const key = `${created.join(',')}|${defaultContainer}`;
  let text = texts.get(key);
  if (text === undefined) {
    text = formatStatus({ ...status, created: [...created], defaultContainer });
    texts.set(key, text);
  }
  return text;
}

/**
 * A shallow copy of `source` with `changes` set: keys keep their order (the user reads
 * this pod in `splice inject`), a new key goes last. Built key by key on a fresh object
 * and not with a spread: V8 then reuses the hidden classes it built for the previous
 * pod of the same shape, where a spread of a parsed object followed by a new key builds
 * a new hidden class every time. Those live in the old generation, and at 1,000
 * reviews/s they made a full garbage collection every two seconds (p99 latency 40 ms).
 */
function copy<T extends object>(source: T, changes?: Partial<T>): T {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(source)) set(out, key, (source as Record<string, unknown>)[key]);
  if (changes) for (const key of Object.keys(changes)) set(out, key, (changes as Record<string, unknown>)[key]);
  return out as T;
}

function set(target: Record<string, unknown>, key: string, value: unknown): void {
  // An own "__proto__" key (JSON.parse and YAML make one) must stay a key: assigning it
  // would set the copy's prototype instead.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
