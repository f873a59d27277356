// Without native sidecars (Kubernetes before 1.29, or splice.dev/native-sidecar:
// "false") the proxy is a regular container, and three kinds of pod then break in ways
// admission cannot show. Each gets a warning that says what will happen and what to do.

import { runAsUserOf } from './conflicts.js';
import { KEYS } from './keys.js';
import { isRecord } from './shape.js';
import type { Drain } from './proxy.js';
import type { Container, Pod } from './types.js';
import type { RedirectOptions } from '../iptables/options.js';

const NATIVE_HINT = `use native sidecars (${KEYS.nativeSidecar}: "true", Kubernetes 1.29+)`;

function ownedByJob(pod: Pod): boolean {
  const owners = pod.metadata?.ownerReferences;
  return Array.isArray(owners) && owners.some((o) => isRecord(o) && o.kind === 'Job');
}

/**
 * The warnings for `pod` when its proxy is a regular container: `hold` is whether the
 * app waits for the proxy (postStart hook), `redirect` the pod's redirect options,
 * `drainSeconds` how long the proxy's preStop hook keeps it serving (proxy.drainSeconds).
 *
 * - A pod meant to finish (a Job's, or restartPolicy Never/OnFailure) never completes
 *   while the proxy container runs on.
 * - With hold on and restartPolicy Never, a proxy not ready in time fails its postStart
 *   hook; the kubelet kills it and, under Never, never starts it again, while the app
 *   runs on with its traffic redirected to a port nobody listens on: broken for good.
 *   (Under OnFailure the killed proxy is restarted.)
 * - The user's init containers (and native sidecars) start before the proxy: their
 *   outbound TCP is already redirected to a port nobody listens on yet.
 */
export function regularProxyWarnings(pod: Pod, hold: boolean, redirect: RedirectOptions, drainSeconds: number): string[] {
  const warnings: string[] = [];
  const grace = gracePeriodOf(pod);
  if (grace.seconds < drainSeconds) {
    warnings.push(
      `splice-proxy's drain before it stops is cut to ${grace.seconds}s, this pod's terminationGracePeriodSeconds${grace.given ? '' : ' (the default)'}, ` +
        `short of proxy.drainSeconds (${drainSeconds}s): what is still in flight after that is cut; raise terminationGracePeriodSeconds or ${NATIVE_HINT}`,
    );
  }
  const policy = pod.spec.restartPolicy;
  const job = ownedByJob(pod);
  if (job || policy === 'Never' || policy === 'OnFailure') {
    const which = job ? "this Job's pod" : `this pod (restartPolicy: ${String(policy)})`;
    warnings.push(`the proxy runs as a regular container, so ${which} will not complete while it runs; ${NATIVE_HINT}`);
  }
  if (hold && policy === 'Never') {
    warnings.push(
      `with ${KEYS.holdApplication} on, the app waits in splice-proxy's postStart hook; if the proxy is not ready in time the hook fails, the kubelet kills splice-proxy, ` +
        `and under restartPolicy: Never it is never started again: the pod would run on without its proxy, its redirected traffic going nowhere; ${NATIVE_HINT}, or set ${KEYS.holdApplication}: "false"`,
    );
  }
  const outboundCaptured = redirect.includeOutboundCidrs === '*' || redirect.includeOutboundCidrs.length > 0;
  // Every init container starts before a regular proxy container: one that runs to
  // completion entirely so, the user's own native sidecar (on a cluster that has them)
  // for as long as splice-proxy takes to start.
  const early = (Array.isArray(pod.spec.initContainers) ? pod.spec.initContainers : [])
    .filter((c): c is Container => isRecord(c) && runAsUserOf(pod, c as Container).uid !== redirect.proxyUid)
    .map((c) => c.name);
  if (outboundCaptured && early.length > 0) {
    const many = early.length > 1;
    warnings.push(
      `init container${many ? 's' : ''} ${early.join(', ')} start${many ? '' : 's'} before splice-proxy, with outbound TCP already redirected to port ${redirect.outboundPort}, where nothing listens yet: ` +
        `any connection ${many ? 'they open' : 'it opens'} before the proxy runs fails; run ${many ? 'them' : 'it'} as uid ${redirect.proxyUid}, exclude what ${many ? 'they reach' : 'it reaches'} with ${KEYS.excludeOutboundPorts} or ${KEYS.excludeOutboundCidrs}, or ${NATIVE_HINT}`,
    );
  }
  return warnings;
}

// The API server's default for an unset spec.terminationGracePeriodSeconds.
const DEFAULT_GRACE_SECONDS = 30;

function gracePeriodOf(pod: Pod): { seconds: number; given: boolean } {
  const grace = pod.spec.terminationGracePeriodSeconds;
  return typeof grace === 'number' && grace >= 0 ? { seconds: grace, given: true } : { seconds: DEFAULT_GRACE_SECONDS, given: false };
}

/**
 * How long a regular proxy's preStop hook waits, and in which form: proxy.drainSeconds,
 * cut to the pod's terminationGracePeriodSeconds (30 when unset). The hook counts against
 * the grace period (Kubernetes "Termination of Pods"), and the API server refuses a sleep
 * action longer than it ("must be non-negative and less than terminationGracePeriodSeconds",
 * KEP-3960), so the wait is never longer. 0 seconds: no hook.
 */
export function preStopDrain(pod: Pod, drainSeconds: number, sleepAction: boolean): Drain {
  return { seconds: Math.min(drainSeconds, gracePeriodOf(pod).seconds), sleepAction };
}

/**
 * The warning for native sidecars forced on (`splice.dev/native-sidecar: "true"` or the
 * config's proxy.nativeSidecar) on an API server that predates them, or undefined.
 * `minor` is the API server's Kubernetes minor version. Before 1.29 (1.28 with the
 * SidecarContainers feature gate, KEP-753) restartPolicy is dropped from init
 * containers, and splice-proxy becomes an init container that never exits.
 */
export function nativeOnOldClusterWarning(minor: number): string | undefined {
  if (minor >= 29) return undefined;
  return (
    `native sidecars are on (${KEYS.nativeSidecar} or the config's proxy.nativeSidecar), but the API server is Kubernetes 1.${minor}, older than native sidecars (1.29; 1.28 with the SidecarContainers feature gate): ` +
    `where restartPolicy: Always is dropped, splice-proxy runs as an init container that never exits and the app never starts; use ${KEYS.nativeSidecar}: "false"`
  );
}
