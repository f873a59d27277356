// The kubelet's probes of a meshed pod, pointed at the proxy's health listener (port
// 15021), which checks the app itself over the pod's own address and answers for it.
//
// Why: the kubelet has no mesh identity, so under a strict inbound policy (policy.ts) its
// probes of an app port would be refused like any other plaintext client. And even under
// the permissive policy a TCP probe says nothing once the redirect is in place: the proxy
// accepts every connection to an app port, whether the app listens or not. Istio
// rewrites probes to its agent on 15020 for the same reasons; splice keeps it inside
// Envoy, so there is no agent to run:
//
//   httpGet    a route of the health listener that forwards the request, with the probe's
//              own path and headers, to the app's port (TLS for an HTTPS probe, with no
//              verification, as the kubelet does not verify either); the app's status is
//              the answer, so a failing status still fails
//   tcpSocket  the proxy connects to the app's port every second (an Envoy active health
//   grpc       check: a plain connect, or grpc.health.v1.Health/Check of the probe's
//              service); the health listener answers 200 while the last check passed and
//              503 once one failed, so a closed port fails the probe
//
// Each rewritten probe becomes `GET /app-health/<container>/<startup|readiness|liveness>`
// on port 15021, keeping its timing and thresholds; the originals are kept in the pod's
// annotation splice.dev/original-probes. Left as they were: exec probes, probes of a port
// the redirect leaves alone (the kubelet reaches the app directly there), probes of
// another host, and probes splice cannot carry faithfully (each with its reason).
//
// The health listener forwards only a GET of the exact path, with no query added, so
// nothing reaches the app through it but the probe's own request (with whatever headers
// the caller adds, as Istio's agent forwards them too).

import type { RedirectOptions } from '../iptables/options.js';
import { PROXY_PORTS } from '../iptables/options.js';
import { proxyOwnPorts } from '../iptables/rules.js';
import { getOrCreate } from './memo.js';
import { DNS_LABEL, isOneLine, URL_PATH } from './names.js';
import type { Container, Pod, Probe } from './types.js';

export const PROBE_FIELDS = ['startupProbe', 'readinessProbe', 'livenessProbe'] as const;
export type ProbeField = (typeof PROBE_FIELDS)[number];

/** The path of a rewritten probe on the health listener. */
export function appHealthPath(container: string, field: ProbeField): string {
  return `/app-health/${container}/${field.replace(/Probe$/, '')}`;
}

/** What the proxy's health listener does for one rewritten probe (the bootstrap renders it). */
export interface AppProbe {
  /** The path the kubelet now asks for: appHealthPath's. */
  path: string;
  /** How the proxy checks the app. */
  check: 'http' | 'https' | 'tcp' | 'grpc';
  /** The app's port, a number even when the probe named it. */
  port: number;
  /** http, https: the path (and query) the kubelet would have asked the app for. */
  target?: string;
  /** http, https: the probe sends its own Host header, which is passed on as it is. */
  ownHost?: boolean;
  /** grpc: the service the probe asks about; absent, the server as a whole. */
  service?: string;
  /** How long the proxy waits for the app: the probe's timeoutSeconds (Kubernetes' default 1). */
  timeoutSeconds: number;
}

export interface ProbePlan {
  /** spec.containers, each probe rewritten; a container with nothing to rewrite is the same object. */
  containers: Container[];
  /** spec.initContainers likewise (only restartable ones have probes); undefined when the pod has none. */
  initContainers: Container[] | undefined;
  /** One per rewritten probe, in container order. */
  appProbes: AppProbe[];
  /** The probes as they were, by container and field; empty when nothing was rewritten. */
  originals: Record<string, Partial<Record<ProbeField, Probe>>>;
  /** Probes of the pod's redirected ports left as they were, which a strict policy refuses: one sentence each, naming the probe and why. */
  untouched: string[];
}

export interface ProbeOptions {
  redirect: RedirectOptions;
  /** splice.dev/rewrite-probes (proxy.rewriteProbes). */
  rewrite: boolean;
  /** Whether the proxy is a native sidecar: only then does it run before the user's sidecars, whose probes need it. */
  native: boolean;
}

const HAS_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/**
 * The port a probe names, resolved the way the kubelet does (pkg/kubelet/prober:
 * a name of one of the container's ports, else a number written as a string).
 */
function resolvePort(port: unknown, container: Container): number | undefined {
  let n: number | undefined;
  if (typeof port === 'number') n = port;
  else if (typeof port === 'string') {
    const named = (container.ports ?? []).find((p) => p?.name === port)?.containerPort;
    n = typeof named === 'number' ? named : /^[0-9]+$/.test(port) ? Number(port) : undefined;
  }
  return n !== undefined && Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

// The proxy's own ports, per redirect options (frozen and shared per set of annotation
// values, overrides.ts): every probe of every pod asks.
const ownPorts = new WeakMap<RedirectOptions, readonly number[]>();

/** Whether the redirect sends the kubelet's connections to `port` through the proxy. */
export function inboundRedirected(port: number, redirect: RedirectOptions): boolean {
  const own = getOrCreate(ownPorts, redirect, () => proxyOwnPorts(redirect));
  if (own.includes(port) || redirect.excludeInboundPorts.includes(port)) return false;
  return redirect.includeInboundPorts === '*' || redirect.includeInboundPorts.includes(port);
}

/**
 * The request path of an httpGet probe, as the kubelet builds its URL (a missing leading
 * slash added, the fragment dropped); undefined for one that cannot be forwarded as it is:
 * characters a URL does not carry raw, a scheme or a `//host` (Go's url.Parse would take
 * them for a URL of their own), a `%` that starts no percent-encoding (the kubelet would
 * escape it).
 */
function targetPath(path: unknown): string | undefined {
  if (path !== undefined && path !== null && typeof path !== 'string') return undefined;
  let p = path ?? '';
  if (HAS_SCHEME.test(p) || p.startsWith('//') || /%(?![0-9A-Fa-f]{2})/.test(p)) return undefined;
  const hash = p.indexOf('#');
  if (hash >= 0) p = p.slice(0, hash);
  if (!p.startsWith('/')) p = `/${p}`;
  return URL_PATH.test(p) ? p : undefined;
}

type Outcome = { probe: AppProbe } | { untouched: string } | undefined;

/**
 * What becomes of one probe: rewritten; left alone with a reason (one a strict policy would
 * then refuse); or left alone silently: exec, a port the redirect leaves alone, another
 * host, or a port the container does not have (the kubelet fails that one itself).
 */
function planOne(probe: Probe, container: Container, field: ProbeField, opts: ProbeOptions): Outcome {
  // A name the API server would refuse makes no path of ours; the pod is refused there anyway.
  if (!DNS_LABEL.test(container.name)) return undefined;
  const name = `${field} of container ${container.name}`;
  const handler = probe.httpGet ?? probe.tcpSocket ?? probe.grpc;
  if (handler === undefined || handler === null || typeof handler !== 'object') return undefined;
  const port = resolvePort(handler.port, container);
  if (port === undefined || !inboundRedirected(port, opts.redirect)) return undefined;
  if ('host' in handler && handler.host !== undefined && handler.host !== null && handler.host !== '') return undefined;
  if (!opts.rewrite) return { untouched: `${name}: probes are not rewritten (splice.dev/rewrite-probes, proxy.rewriteProbes)` };
  const timeoutSeconds = typeof probe.timeoutSeconds === 'number' && Number.isInteger(probe.timeoutSeconds) && probe.timeoutSeconds >= 1 ? probe.timeoutSeconds : 1;
  const path = appHealthPath(container.name, field);
  if (probe.httpGet) {
    const scheme = probe.httpGet.scheme ?? 'HTTP';
    if (scheme !== 'HTTP' && scheme !== 'HTTPS') return { untouched: `${name}: scheme ${JSON.stringify(scheme)} is neither HTTP nor HTTPS` };
    const target = targetPath(probe.httpGet.path);
    if (target === undefined) return { untouched: `${name}: path ${JSON.stringify(probe.httpGet.path)} cannot be forwarded as it is` };
    const headers = Array.isArray(probe.httpGet.httpHeaders) ? probe.httpGet.httpHeaders : [];
    const ownHost = headers.some((h) => typeof h?.name === 'string' && h.name.toLowerCase() === 'host');
    return { probe: { path, check: scheme === 'HTTPS' ? 'https' : 'http', port, target, ...(ownHost ? { ownHost } : {}), timeoutSeconds } };
  }
  if (probe.tcpSocket) return { probe: { path, check: 'tcp', port, timeoutSeconds } };
  const service = probe.grpc?.service;
  // The bootstrap input carries it as one line (bootstrap-input.ts checks the same).
  if (typeof service === 'string' && !isOneLine(service)) return { untouched: `${name}: service ${JSON.stringify(service.slice(0, 40))} is not one line of text` };
  return { probe: { path, check: 'grpc', port, ...(typeof service === 'string' && service !== '' ? { service } : {}), timeoutSeconds } };
}

/**
 * The probe as the kubelet now runs it: a GET of the health listener, with the original's
 * timing, thresholds and (for an HTTP probe) headers.
 */
function rewritten(probe: Probe, path: string): Probe {
  const { httpGet, tcpSocket: _tcp, grpc: _grpc, ...timing } = probe;
  const headers = httpGet?.httpHeaders;
  return { httpGet: { path, port: PROXY_PORTS.readiness, ...(Array.isArray(headers) ? { httpHeaders: headers } : {}) }, ...timing };
}

function planContainer(c: Container, opts: ProbeOptions, plan: ProbePlan): Container {
  let out = c;
  for (const field of PROBE_FIELDS) {
    const probe = c[field];
    if (probe === undefined || probe === null || typeof probe !== 'object') continue;
    const outcome = planOne(probe, c, field, opts);
    if (outcome === undefined) continue;
    if ('untouched' in outcome) {
      plan.untouched.push(outcome.untouched);
      continue;
    }
    plan.appProbes.push(outcome.probe);
    (plan.originals[c.name] ??= {})[field] = probe;
    if (out === c) out = { ...c };
    out[field] = rewritten(probe, outcome.probe.path);
  }
  return out;
}

/**
 * Plans the probes of `pod` (see the top of this file).
 *
 * @param pod the pod as received (never modified)
 * @param opts the pod's redirect, whether to rewrite at all, whether the proxy is native
 * @returns the containers to use, what the health listener must serve, the originals to
 *   keep, and the probes left alone with why; never throws on odd probes, it leaves them
 */
export function planProbes(pod: Pod, opts: ProbeOptions): ProbePlan {
  const plan: ProbePlan = { containers: pod.spec.containers, initContainers: pod.spec.initContainers, appProbes: [], originals: {}, untouched: [] };
  // Paths and originals go by container name: a name used twice (a pod the API server
  // refuses) would mix up two containers' probes, so neither is touched.
  const names = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name);
  const once = (c: Container) => names.indexOf(c.name) === names.lastIndexOf(c.name);
  const planIfUnique = (c: Container) => (once(c) ? planContainer(c, opts, plan) : c);
  plan.containers = pod.spec.containers.map(planIfUnique);
  const init = pod.spec.initContainers;
  if (init) {
    plan.initContainers = init.map((c) => {
      const probed = PROBE_FIELDS.some((f) => c[f] !== undefined && c[f] !== null);
      if (!probed) return c;
      // A sidecar of the user's starts before a regular proxy does: its probes through
      // the proxy could never pass, so they stay as they were.
      if (!opts.native) {
        plan.untouched.push(`probes of init container ${c.name}: it starts before splice-proxy, which is not a native sidecar here`);
        return c;
      }
      return planIfUnique(c);
    });
  }
  return plan;
}
