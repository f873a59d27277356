// What the proxy needs that a pod may already use. Injected regardless, such a pod
// breaks in ways nobody sees at admission (reports against Istio, Linkerd and Kuma
// injectors show each of them):
//   - a container declaring one of the proxy's ports: the app cannot bind it, or its
//     traffic lands on Envoy (15001, 15006 take every redirected connection, 15008 every
//     mesh peer's);
//   - a container running as the proxy's uid: the redirect lets that uid's traffic
//     through untouched (or the proxy's own would loop), so the app leaves the mesh
//     silently: no mTLS, no access log, while the pod looks meshed;
//   - a name splice adds (a container, a volume, the metrics port's name);
//   - a service account whose identity Secret name would be too long to exist.
// Each is a refusal (invalid_pod) that names the container, the value and what the
// proxy uses it for: the owner can fix it or opt the pod out, and nothing is half-meshed.

import type { Config } from './config.js';
import { INJECTED_NAMES, KEYS, METRICS_PORT_NAME, identitySecretName } from './keys.js';
import { serviceAccountOf } from './render.js';
import { isRecord } from './shape.js';
import type { Container, Pod } from './types.js';
import { PROXY_PORTS } from '../iptables/options.js';

const PORT_USES: Record<number, string> = {
  [PROXY_PORTS.admin]: "the proxy's admin port",
  [PROXY_PORTS.outbound]: "the proxy's outbound capture port (every redirected outbound connection arrives there)",
  [PROXY_PORTS.inbound]: "the proxy's inbound capture port (every redirected inbound connection arrives there)",
  [PROXY_PORTS.mtls]: "the proxy's mTLS port (every connection from a mesh peer arrives there)",
  [PROXY_PORTS.readiness]: "the proxy's readiness port (/ready)",
  [PROXY_PORTS.prometheus]: "the proxy's Prometheus metrics port",
};

// Secret names are DNS subdomains: at most 253 characters (Kubernetes "Object Names and IDs").
const MAX_SECRET_NAME = 253;

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * Every way `pod` collides with what splice adds, as sentences naming the container,
 * the port, uid or name, and what the proxy uses it for (empty: none). Reads `pod` as
 * received, tolerating missing or null fields. `config.proxy.uid` is the uid the
 * redirect exempts (src/iptables/rules.ts); `at` prefixes every field named (where the
 * pod sits in its manifest).
 */
export function podConflicts(pod: Pod, config: Config, at = ''): string[] {
  const problems: string[] = [];
  // One pass over both lists, allocating nothing for a pod without a collision: this
  // runs for every pod splice injects.
  for (const field of ['containers', 'initContainers'] as const) {
    const containers = pod.spec[field];
    if (!Array.isArray(containers)) continue;
    for (let i = 0; i < containers.length; i++) {
      const c = containers[i] as unknown;
      if (!isRecord(c)) continue;
      const container = c as Container;
      if (container.name === INJECTED_NAMES.init) problems.push(`container name ${INJECTED_NAMES.init} is a name splice adds; rename it, or opt the pod out with ${KEYS.inject}: "false"`);
      if (Array.isArray(container.ports)) portConflicts(container, `${at}spec.${field}`, i, problems);
      // A run-to-completion init container as the proxy's uid is the documented way to
      // reach the network before a regular proxy container starts (README), so only
      // containers that run beside the app are refused.
      const alongside = field === 'containers' || container.restartPolicy === 'Always';
      const user = alongside ? runAsUserOf(pod, container) : undefined;
      if (user?.uid === config.proxy.uid) {
        const source = user.onContainer ? `${at}spec.${field}[${i}].securityContext.runAsUser` : `${at}spec.securityContext.runAsUser`;
        problems.push(
          `container ${container.name} runs as uid ${config.proxy.uid} (${source}), the proxy's uid, whose connections the traffic redirect lets through untouched: ` +
            `its traffic would leave the mesh unseen (no mTLS, no access log); run it as another uid, or opt the pod out with ${KEYS.inject}: "false"`,
        );
      }
    }
  }
  for (const v of list(pod.spec.volumes)) {
    const name = isRecord(v) ? v.name : undefined;
    for (const reserved of RESERVED_VOLUMES) {
      if (name === reserved) problems.push(`volume name ${reserved} is a name splice adds; rename it, or opt the pod out with ${KEYS.inject}: "false"`);
    }
  }
  const serviceAccount = serviceAccountOf(pod);
  if (serviceAccount.length > MAX_SERVICE_ACCOUNT) {
    problems.push(
      `the identity Secret of service account ${serviceAccount} would be named with ${identitySecretName(serviceAccount).length} characters (${identitySecretName('<serviceAccount>')}), ` +
        `and a Secret name has at most ${MAX_SECRET_NAME}; use a service account name of at most ${MAX_SERVICE_ACCOUNT} characters`,
    );
  }
  return problems;
}

/**
 * The uid container `c` of `pod` runs as, as far as the pod says: its own
 * securityContext.runAsUser (`onContainer`), else the pod's; undefined when neither sets
 * one (the image's user, which admission cannot see).
 */
export function runAsUserOf(pod: Pod, c: Container): { uid: unknown; onContainer: boolean } {
  const own = isRecord(c.securityContext) ? c.securityContext.runAsUser : undefined;
  if (own !== undefined) return { uid: own, onContainer: true };
  return { uid: isRecord(pod.spec.securityContext) ? pod.spec.securityContext.runAsUser : undefined, onContainer: false };
}

const RESERVED_VOLUMES = [INJECTED_NAMES.identityVolume, INJECTED_NAMES.initRunVolume, INJECTED_NAMES.proxyConfigVolume, INJECTED_NAMES.noApiTokenVolume];
const MAX_SERVICE_ACCOUNT = MAX_SECRET_NAME - identitySecretName('').length;

function portConflicts(container: Container, field: string, index: number, problems: string[]): void {
  const where = () => `${field}[${index}]`;
  for (const port of container.ports as unknown[]) {
    if (!isRecord(port)) continue;
    if (port.name === METRICS_PORT_NAME) {
      problems.push(`container ${container.name} (${where()}) names a port ${METRICS_PORT_NAME}, the name of the proxy's metrics port; rename it`);
    }
    const number = port.containerPort;
    // Envoy listens on TCP only; the same number over UDP or SCTP is no collision.
    if (typeof number === 'number' && PORT_USES[number] !== undefined && (port.protocol ?? 'TCP') === 'TCP') {
      problems.push(`container ${container.name} (${where()}) declares port ${number}, ${PORT_USES[number]}; move the container to another port, or opt the pod out with ${KEYS.inject}: "false"`);
    }
  }
}

// Kubernetes' limit on the total size of an object's annotations (keys and values):
// TotalAnnotationSizeLimitB in k8s.io/apimachinery/pkg/api/validation/objectmeta.go.
export const ANNOTATIONS_LIMIT_BYTES = 256 * 1024;

/** Total size of annotations as the API server counts it: the lengths of keys and values, in bytes. */
export function annotationsSize(annotations: Record<string, string> | undefined | null): number {
  let total = 0;
  for (const [key, value] of Object.entries(annotations ?? {})) total += Buffer.byteLength(key) + Buffer.byteLength(String(value));
  return total;
}

/**
 * A problem the injected pod has that the original did not, which only the whole
 * injected pod shows: its annotations past the API server's limit. Undefined if none.
 */
export function annotationsProblem(original: Pod, injected: Pod, at = ''): string | undefined {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: a pod whose annotations are far
  // from the limit (almost every pod) is passed without encoding anything.
  const annotations = injected.metadata?.annotations ?? {};
  let units = 0;
  for (const key of Object.keys(annotations)) units += key.length + String(annotations[key]).length;
  if (units * 3 <= ANNOTATIONS_LIMIT_BYTES) return undefined;
  const after = annotationsSize(annotations);
  if (after <= ANNOTATIONS_LIMIT_BYTES) return undefined;
  const before = annotationsSize(original.metadata?.annotations);
  return (
    `the pod's annotations take ${before} bytes and splice adds ${after - before} (the proxy's SDS files and ${KEYS.status}), ` +
    `past the API server's limit of ${ANNOTATIONS_LIMIT_BYTES} bytes for ${at}metadata.annotations; make the pod's annotations smaller`
  );
}
