// Pod-level resources (spec.resources, KEP-2837 "Pod Level Resources", beta and on by
// default since Kubernetes 1.34). A pod that sets them gives all of its containers one
// budget to share, and the API server refuses a pod whose containers together request
// more than it ("must be greater than or equal to aggregate container requests of
// 576Mi"), or one container whose limit is above the pod's.
//
// What splice does: for each resource the pod budgets (cpu, memory), splice's own
// containers request nothing of their own and share the pod's budget, the way the
// field's authors ask sidecar injectors to do it (istio/istio#57393) and the way Kuma
// does it (kumahq/kuma#17588). The pod keeps exactly the budget its owner wrote, and an
// injected pod is valid whenever the original was. Only the pod's own proxy resource
// annotations still give the proxy a share of its own; if that share does not fit the
// budget, the pod is refused with the amounts, before the API server would refuse it
// about a container its owner never wrote.

import type { ContainerResources } from './config.js';
import { KEYS } from './keys.js';
import type { Overrides } from './overrides.js';
import { ZERO, addQuantities, compareQuantities, exceeds, formatQuantity, parseQuantity, type Quantity } from './quantity.js';
import { isRecord } from './shape.js';
import type { ClusterFacts, Container, Pod } from './types.js';

export type BudgetedResource = 'cpu' | 'memory';
const RESOURCES: readonly BudgetedResource[] = ['cpu', 'memory'];

type Rec = Record<string, unknown>;

const KEY_OF = {
  requests: { cpu: KEYS.proxyCpu, memory: KEYS.proxyMemory },
  limits: { cpu: KEYS.proxyCpuLimit, memory: KEYS.proxyMemoryLimit },
} as const;

function podLevel(pod: Pod): { requests: Rec; limits: Rec } {
  const res = pod.spec.resources;
  const part = (key: string): Rec => (isRecord(res) && isRecord(res[key]) ? res[key] : {});
  return { requests: part('requests'), limits: part('limits') };
}

/**
 * The resources `pod` budgets at pod level: those named in spec.resources.requests or
 * .limits, on an API server that keeps spec.resources. Before 1.34 the PodLevelResources
 * feature gate is off by default, and the API server drops spec.resources after the
 * webhooks ran (dropDisabledPodLevelResources): splice's containers then keep their
 * own resources. With no version known (the CLI), a current Kubernetes is assumed.
 */
export function podBudget(pod: Pod, cluster: ClusterFacts): BudgetedResource[] {
  const v = cluster.version;
  if (v && v.major === 1 && v.minor < POD_LEVEL_RESOURCES_MINOR) return [];
  const { requests, limits } = podLevel(pod);
  return RESOURCES.filter((r) => requests[r] !== undefined || limits[r] !== undefined);
}

/** PodLevelResources is beta and on by default from Kubernetes 1.34 (KEP-2837). */
export const POD_LEVEL_RESOURCES_MINOR = 34;

/**
 * A request above its limit in what splice-proxy ends up with (the config's values, the
 * annotations', less what the pod budgets), as one sentence per resource naming the
 * annotation that was given: the API server would refuse it about a container the user
 * never wrote. Empty when no resource annotation was given (the config's own values are
 * checked at start).
 */
export function proxyResourceProblems(budgeted: readonly BudgetedResource[], overrides: Overrides): string[] {
  if (overrides.resourceKeys.length === 0) return [];
  const res = proxyResourcesWithin(budgeted, overrides);
  const given = overrides.resourceKeys;
  const problems: string[] = [];
  for (const r of RESOURCES) {
    const [request, limit] = [res.requests[r], res.limits[r]];
    const [requestKey, limitKey] = [KEY_OF.requests[r], KEY_OF.limits[r]];
    if (!(given.includes(requestKey) || given.includes(limitKey)) || !exceeds(request, limit)) continue;
    problems.push(
      given.includes(requestKey)
        ? `annotation ${requestKey}: ${JSON.stringify(request)} is more than the ${r} limit ${JSON.stringify(limit)} (${limitKey} or the config's default)`
        : `annotation ${limitKey}: ${JSON.stringify(limit)} is less than the ${r} request ${JSON.stringify(request)} (${requestKey} or the config's default)`,
    );
  }
  return problems;
}

/** `res` without the `budgeted` resources, except those `keep` names ("requests.cpu"). */
function without(res: ContainerResources, budgeted: readonly BudgetedResource[], keep: (kind: 'requests' | 'limits', r: BudgetedResource) => boolean): ContainerResources {
  const out: ContainerResources = { requests: { ...res.requests }, limits: { ...res.limits } };
  for (const r of budgeted) {
    for (const kind of ['requests', 'limits'] as const) if (!keep(kind, r)) delete out[kind][r];
  }
  return out;
}

/** splice-proxy's resources in a pod that budgets `budgeted`: only the pod's own annotations stand for those. */
export function proxyResourcesWithin(budgeted: readonly BudgetedResource[], overrides: Overrides): ContainerResources {
  return without(overrides.proxyResources, budgeted, (kind, r) => overrides.podResourceKeys.includes(KEY_OF[kind][r]));
}

/** splice-init's resources in a pod that budgets `budgeted`: none of those. */
export function initResourcesWithin(budgeted: readonly BudgetedResource[], resources: ContainerResources): ContainerResources {
  return without(resources, budgeted, () => false);
}

function quantityOf(map: unknown, r: string): Quantity | undefined {
  const v = isRecord(map) ? map[r] : undefined;
  return typeof v === 'string' ? parseQuantity(v) : typeof v === 'number' ? parseQuantity(String(v)) : undefined;
}

// A container's request, defaulted to its limit when only the limit is set, as the API
// server defaults it before validating (SetDefaults_Container… in pkg/apis/core/v1).
function requestOf(c: Container, r: BudgetedResource): Quantity {
  const res = isRecord(c.resources) ? c.resources : {};
  return quantityOf(res.requests, r) ?? quantityOf(res.limits, r) ?? ZERO;
}

const max = (a: Quantity, b: Quantity): Quantity => (compareQuantities(a, b) >= 0 ? a : b);

/**
 * What the pod's containers request of `r` together, as the API server computes it to
 * check spec.resources (AggregateContainerRequests in k8s.io/component-helpers/resource,
 * following KEP-753): regular containers and sidecars (init containers with
 * restartPolicy Always) add up; an init container that runs to completion needs its own
 * request plus the sidecars started before it; the pod needs the larger of the two.
 */
export function aggregateRequests(pod: Pod, r: BudgetedResource): Quantity {
  let total = ZERO;
  for (const c of pod.spec.containers ?? []) if (isRecord(c)) total = addQuantities(total, requestOf(c, r));
  let sidecars = ZERO;
  let initPeak = ZERO;
  for (const c of pod.spec.initContainers ?? []) {
    if (!isRecord(c)) continue;
    const own = requestOf(c, r);
    if (c.restartPolicy === 'Always') {
      total = addQuantities(total, own);
      sidecars = addQuantities(sidecars, own);
      initPeak = max(initPeak, sidecars);
    } else {
      initPeak = max(initPeak, addQuantities(own, sidecars));
    }
  }
  return max(total, initPeak);
}

/**
 * Where the proxy's own share (from the pod's annotations) does not fit the pod's
 * budget in `injected`, one sentence per problem naming the annotation, the field of
 * spec.resources (prefixed with `at`, where the pod sits in its manifest) and the
 * amounts. Empty when the pod budgets nothing the annotations set.
 */
export function budgetProblems(injected: Pod, budgeted: readonly BudgetedResource[], overrides: Overrides, at = ''): string[] {
  const problems: string[] = [];
  const { requests, limits } = podLevel(injected);
  for (const r of budgeted) {
    const requestKey = KEY_OF.requests[r];
    const limitKey = KEY_OF.limits[r];
    const own = overrides.podResourceKeys;
    if (!own.includes(requestKey) && !own.includes(limitKey)) continue;
    const key = own.includes(requestKey) ? requestKey : limitKey;
    const value = overrides.proxyResources[own.includes(requestKey) ? 'requests' : 'limits'][r];
    const total = aggregateRequests(injected, r);
    const podRequest = quantityOf(requests, r);
    const podLimit = quantityOf(limits, r);
    const [field, budget] = podRequest ? ['requests', podRequest] : ['limits', podLimit];
    if (budget && compareQuantities(total, budget) > 0) {
      problems.push(
        `annotation ${key}: ${JSON.stringify(value)} does not fit the pod's budget: ${at}spec.resources.${field}.${r} is ${formatQuantity(r, budget)}, ` +
          `and with splice-proxy the pod's containers would request ${formatQuantity(r, total)}; raise ${at}spec.resources.${field}.${r} to at least ${formatQuantity(r, total)}, ` +
          `or remove the annotation so that the proxy shares the pod's budget`,
      );
    }
    // The pod's own limit annotation is what the proxy gets for a budgeted resource.
    const proxyLimit = own.includes(limitKey) ? quantityOf(overrides.proxyResources.limits, r) : undefined;
    if (proxyLimit && podLimit && compareQuantities(proxyLimit, podLimit) > 0) {
      problems.push(`annotation ${limitKey}: ${JSON.stringify(overrides.proxyResources.limits[r])} is more than ${at}spec.resources.limits.${r}, ${formatQuantity(r, podLimit)}: no container may have a limit above the pod's`);
    }
  }
  return problems;
}
