// splice's configuration: the ConfigMap `splice` (key `config.yaml`) in a cluster,
// `--config FILE` on the command line. It is validated once, at start, into a frozen
// object; a bad key is an error naming the key and the value, never a silent default.

import { deepFreeze } from './frozen.js';
import { SPLICE_VERSION } from '../version.js';
import { checkResourceValue, exceeds } from './quantity.js';
import { isRecord } from './shape.js';
import { isIPv6Cidr, parseCidrs, parsePorts, ValueError } from '../iptables/options.js';
import { INBOUND_POLICIES, type InboundPolicy } from './policy.js';
import { REVISION_NAME } from './installation.js';

export type Policy = 'enabled' | 'disabled';
export type PodSecurityConflict = 'skip' | 'deny';
export type NativeSidecarMode = 'auto' | 'true' | 'false';
export type OnError = 'deny' | 'allow';
export type Ipv6Mode = 'auto' | 'enabled' | 'disabled';

export interface ContainerResources {
  requests: { cpu?: string; memory?: string };
  limits: { cpu?: string; memory?: string };
}

export interface Config {
  /** Injection for pods in namespaces that have no `splice.dev/inject` label. */
  defaultPolicy: Policy;
  /** The injector's own namespace: never injected. */
  injectorNamespace: string;
  /** SPIFFE trust domain of workload identities. */
  trustDomain: string;
  /** What to do with a pod whose namespace enforces a Pod Security level splice-init breaks. */
  podSecurityConflict: PodSecurityConflict;
  /** What the webhook answers when it cannot handle a pod (a bug, a missing namespace): refuse it, or let it through unchanged. */
  onError: OnError;
  /**
   * Which revision of splice this is: '' for the default one, which injects namespaces
   * without a splice.dev/rev label; a name for one that injects only the namespaces
   * labeled splice.dev/rev=<name> (revision.ts).
   */
  revision: string;
  proxy: {
    image: string;
    imagePullPolicy?: string;
    uid: number;
    logLevel: string;
    resources: ContainerResources;
    nativeSidecar: NativeSidecarMode;
    holdApplication: boolean;
    /** postStart command that blocks the app containers until the proxy is ready (non-native mode). */
    holdCommand: string[];
    /** Seconds a regular proxy container keeps serving once its pod terminates (its preStop wait). */
    drainSeconds: number;
    /**
     * The pod CIDRs of the mesh, comma-separated (checked, see meshCidrList): outbound
     * connections to them originate mTLS. Empty: every connection leaves as the app sent it.
     */
    meshCidrs: string;
    /**
     * Whether pods' IPv6 TCP goes through the proxy (splice-init redirects it and Envoy
     * listens on `::`). `auto`: when proxy.meshCidrs has an IPv6 CIDR (a dual-stack or
     * IPv6 cluster). Off, IPv6 is not redirected at all and leaves as the app sent it.
     */
    ipv6: Ipv6Mode;
    /** Connections each proxy cluster (outbound, outbound mTLS, inbound) holds at once. */
    maxConnections: number;
    /**
     * Whether proxies ask splice's replicas (the Service `splice` of injectorNamespace, port
     * 15012) for the cluster's Services, so connections to a ClusterIP go to its endpoints,
     * as mTLS to the meshed ones. Off: a ClusterIP is passed through as the app dialled it.
     */
    serviceDiscovery: boolean;
    /**
     * Who may connect to a meshed pod's app ports, unless its annotations say otherwise:
     * `permissive` (mesh peers over mTLS, anyone else in plaintext) or `strict` (mesh
     * peers only). See policy.ts.
     */
    inboundPolicy: InboundPolicy;
    /** Whether the app's HTTP, TCP and gRPC probes go to the proxy's health listener (probes.ts). */
    rewriteProbes: boolean;
  };
  init: {
    image: string;
    imagePullPolicy?: string;
    resources: ContainerResources;
  };
  redirect: {
    excludeInboundPorts: string;
    includeInboundPorts: string;
    excludeOutboundPorts: string;
    includeOutboundCidrs: string;
    excludeOutboundCidrs: string;
  };
  identity: {
    /** How long a workload certificate is valid; it is renewed at two thirds of that. */
    certificateLifetimeSeconds: number;
  };
}

export const PROXY_LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'critical', 'off'] as const;

// Waits on the proxy's readiness port with bash's /dev/tcp, which the Ubuntu-based
// envoyproxy/envoy image has; a proxy image without bash sets its own command. HTTP/1.1:
// Envoy answers an HTTP/1.0 request with 426 Upgrade Required, so the app never started.
const DEFAULT_HOLD_COMMAND = [
  'bash',
  '-c',
  'for i in $(seq 1 1200); do ' +
    '(exec 3<>/dev/tcp/127.0.0.1/15021 && printf "GET /ready HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n" >&3 && head -n1 <&3 | grep -q " 200 ") 2>/dev/null && exit 0; ' +
    'sleep 0.1; done; echo "splice-proxy not ready after 120s" >&2; exit 1',
];

export const DEFAULT_CONFIG: Config = deepFreeze({
  defaultPolicy: 'disabled',
  injectorNamespace: 'splice-system',
  trustDomain: 'cluster.local',
  podSecurityConflict: 'skip',
  onError: 'deny',
  revision: '',
  proxy: {
    image: 'docker.io/envoyproxy/envoy:v1.40.0',
    uid: 1337,
    logLevel: 'warn',
    resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    nativeSidecar: 'auto',
    holdApplication: true,
    holdCommand: DEFAULT_HOLD_COMMAND,
    drainSeconds: 5,
    meshCidrs: '',
    ipv6: 'auto',
    maxConnections: 100_000,
    serviceDiscovery: true,
    inboundPolicy: 'permissive',
    rewriteProbes: true,
  },
  init: {
    // The splice image of the same version: splice-init takes exactly the flags this
    // version writes into the pod (a newer flag would stop an older image).
    image: `ghcr.io/splice-dev/splice:${SPLICE_VERSION}`,
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
  },
  redirect: {
    excludeInboundPorts: '',
    includeInboundPorts: '*',
    excludeOutboundPorts: '',
    includeOutboundCidrs: '*',
    excludeOutboundCidrs: '',
  },
  identity: {
    certificateLifetimeSeconds: 24 * 3600,
  },
});

const MIN_LIFETIME_S = 60;
// Below this a pod could not hold even the connections its own probes and scrapes make;
// above it Envoy's circuit breaker fields (uint32) have no room.
const MIN_CONNECTIONS = 16;
const MAX_CONNECTIONS = 4_294_967_295;
const MAX_LIFETIME_S = 90 * 24 * 3600;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid splice config:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Reader = { problems: string[] };

function pick<T>(r: Reader, obj: Record<string, unknown>, path: string, key: string, fallback: T, check: (v: unknown) => string | undefined): T {
  if (!(key in obj)) return fallback;
  const value = obj[key];
  const problem = check(value);
  if (problem) {
    r.problems.push(`${path}${key}: ${problem} (got ${JSON.stringify(value)})`);
    return fallback;
  }
  return value as T;
}

const oneOf = (allowed: readonly string[]) => (v: unknown) =>
  typeof v === 'string' && allowed.includes(v) ? undefined : `must be one of ${allowed.join(', ')}`;
const nonEmptyString = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? undefined : 'must be a non-empty string');
const aBoolean = (v: unknown) => (typeof v === 'boolean' ? undefined : 'must be true or false');
const uid = (v: unknown) => (Number.isInteger(v) && (v as number) > 0 && (v as number) < 2 ** 31 ? undefined : 'must be a positive integer uid');
const seconds = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 3600 ? undefined : 'must be whole seconds from 0 to 3600');
const stringList = (v: unknown) =>
  Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string') ? undefined : 'must be a non-empty list of strings';
const dnsLabel = (v: unknown) =>
  typeof v === 'string' && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v) ? undefined : 'must be a namespace name (DNS label)';
const trustDomain = (v: unknown) =>
  typeof v === 'string' && /^[a-z0-9]([-a-z0-9.]{0,253}[a-z0-9])?$/.test(v) ? undefined : 'must be a lowercase DNS name';
const pullPolicy = oneOf(['Always', 'IfNotPresent', 'Never']);
const revisionName = (v: unknown) =>
  typeof v === 'string' && (v === '' || REVISION_NAME.test(v)) ? undefined : 'must be "" (the default revision) or a DNS label of at most 40 characters';

function section(r: Reader, obj: Record<string, unknown>, path: string, key: string): Record<string, unknown> {
  if (!(key in obj)) return {};
  const v = obj[key];
  if (isRecord(v)) return v;
  r.problems.push(`${path}${key}: must be a mapping (got ${JSON.stringify(v)})`);
  return {};
}

function unknownKeys(r: Reader, obj: Record<string, unknown>, path: string, known: string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) r.problems.push(`${path}${key}: unknown key (known: ${known.join(', ')})`);
  }
}

function resources(r: Reader, obj: Record<string, unknown>, path: string, fallback: ContainerResources): ContainerResources {
  if (!('resources' in obj)) return fallback;
  const res = section(r, obj, path, 'resources');
  unknownKeys(r, res, `${path}resources.`, ['requests', 'limits']);
  const out: ContainerResources = { requests: {}, limits: {} };
  for (const kind of ['requests', 'limits'] as const) {
    const sub = section(r, res, `${path}resources.`, kind);
    unknownKeys(r, sub, `${path}resources.${kind}.`, ['cpu', 'memory']);
    for (const name of ['cpu', 'memory'] as const) {
      if (!(name in sub)) continue;
      const q = sub[name];
      // A number (cpu: 1) is what YAML makes of an unquoted quantity; Kubernetes takes it too.
      const text = typeof q === 'number' && Number.isFinite(q) && q >= 0 ? String(q) : q;
      const problem = typeof text === 'string' ? checkResourceValue(name, text) : 'must be a Kubernetes quantity such as 100m or 128Mi';
      if (problem === undefined) out[kind][name] = text as string;
      else r.problems.push(`${path}resources.${kind}.${name}: ${JSON.stringify(q)} ${problem}`);
    }
  }
  // The API server refuses a container whose request is above its limit, about a
  // container the user never wrote: say it here, once, at start.
  for (const name of ['cpu', 'memory'] as const) {
    if (exceeds(out.requests[name], out.limits[name])) {
      r.problems.push(`${path}resources.requests.${name}: ${JSON.stringify(out.requests[name])} is more than ${path}resources.limits.${name} ${JSON.stringify(out.limits[name])}`);
    }
  }
  return out;
}

/** `proxy.meshCidrs` as canonical CIDRs; throws a ValueError naming the key for a bad value. */
export function meshCidrList(value: string): string[] {
  const cidrs = parseCidrs('proxy.meshCidrs', value);
  // mTLS to every destination would break every connection to something outside the
  // mesh (the API server, databases, the internet): the pod CIDRs must be named.
  if (cidrs === '*') throw new ValueError('proxy.meshCidrs', value, 'must name the pod CIDRs; "*" would send mTLS to destinations outside the mesh too');
  return cidrs;
}

/**
 * Whether injected pods carry IPv6 through the proxy: proxy.ipv6, with `auto` meaning
 * "when proxy.meshCidrs names an IPv6 CIDR". The redirect rules and the proxy's listeners
 * both follow it, so IPv6 is either captured and served, or neither.
 */
export function ipv6Redirected(config: Config): boolean {
  if (config.proxy.ipv6 !== 'auto') return config.proxy.ipv6 === 'enabled';
  return meshCidrList(config.proxy.meshCidrs).some(isIPv6Cidr);
}

/** A check that the value is a string `parse` accepts; the reason of its ValueError is the problem. */
const parsedBy =
  (parse: (v: string) => unknown, notAString = 'must be a string') =>
  (v: unknown): string | undefined => {
    if (typeof v !== 'string') return notAString;
    try {
      parse(v);
      return undefined;
    } catch (e) {
      return e instanceof ValueError ? e.why : String(e);
    }
  };

/**
 * Turns a parsed config document into a Config, filling defaults. Throws a ConfigError
 * listing every problem at once (key path and offending value), so an operator fixes the
 * file in one go. Port and CIDR lists are checked by the same parsers as the pod
 * annotations and the `splice iptables` flags.
 */
export function parseConfig(doc: unknown): Config {
  const r: Reader = { problems: [] };
  if (doc === null || doc === undefined) return DEFAULT_CONFIG;
  if (!isRecord(doc)) throw new ConfigError([`config must be a mapping (got ${JSON.stringify(doc)})`]);
  const d = DEFAULT_CONFIG;
  unknownKeys(r, doc, '', ['defaultPolicy', 'injectorNamespace', 'trustDomain', 'podSecurityConflict', 'onError', 'revision', 'proxy', 'init', 'redirect', 'identity']);

  const p = section(r, doc, '', 'proxy');
  unknownKeys(r, p, 'proxy.', ['image', 'imagePullPolicy', 'uid', 'logLevel', 'resources', 'nativeSidecar', 'holdApplication', 'holdCommand', 'drainSeconds', 'meshCidrs', 'ipv6', 'maxConnections', 'serviceDiscovery', 'inboundPolicy', 'rewriteProbes']);
  const i = section(r, doc, '', 'init');
  unknownKeys(r, i, 'init.', ['image', 'imagePullPolicy', 'resources']);
  const id = section(r, doc, '', 'identity');
  unknownKeys(r, id, 'identity.', ['certificateLifetimeSeconds']);
  const red = section(r, doc, '', 'redirect');
  const redirectKeys = ['excludeInboundPorts', 'includeInboundPorts', 'excludeOutboundPorts', 'includeOutboundCidrs', 'excludeOutboundCidrs'] as const;
  unknownKeys(r, red, 'redirect.', [...redirectKeys]);

  const proxyPull = pick<string | undefined>(r, p, 'proxy.', 'imagePullPolicy', d.proxy.imagePullPolicy, pullPolicy);
  const initPull = pick<string | undefined>(r, i, 'init.', 'imagePullPolicy', d.init.imagePullPolicy, pullPolicy);
  const redirect = { ...d.redirect };
  const redirectChecks: Record<(typeof redirectKeys)[number], (v: string) => unknown> = {
    excludeInboundPorts: (v) => parsePorts('', v, false),
    includeInboundPorts: (v) => parsePorts('', v, true),
    excludeOutboundPorts: (v) => parsePorts('', v, false),
    includeOutboundCidrs: (v) => parseCidrs('', v),
    excludeOutboundCidrs: (v) => parseCidrs('', v),
  };
  for (const key of redirectKeys) {
    redirect[key] = pick(r, red, 'redirect.', key, d.redirect[key], parsedBy(redirectChecks[key]));
  }

  const config: Config = {
    defaultPolicy: pick(r, doc, '', 'defaultPolicy', d.defaultPolicy, oneOf(['enabled', 'disabled'])),
    injectorNamespace: pick(r, doc, '', 'injectorNamespace', d.injectorNamespace, dnsLabel),
    trustDomain: pick(r, doc, '', 'trustDomain', d.trustDomain, trustDomain),
    podSecurityConflict: pick(r, doc, '', 'podSecurityConflict', d.podSecurityConflict, oneOf(['skip', 'deny'])),
    onError: pick(r, doc, '', 'onError', d.onError, oneOf(['deny', 'allow'])),
    revision: pick(r, doc, '', 'revision', d.revision, revisionName),
    proxy: {
      image: pick(r, p, 'proxy.', 'image', d.proxy.image, nonEmptyString),
      ...(proxyPull ? { imagePullPolicy: proxyPull } : {}),
      uid: pick(r, p, 'proxy.', 'uid', d.proxy.uid, uid),
      logLevel: pick(r, p, 'proxy.', 'logLevel', d.proxy.logLevel, oneOf(PROXY_LOG_LEVELS)),
      resources: resources(r, p, 'proxy.', d.proxy.resources),
      nativeSidecar: pick(r, p, 'proxy.', 'nativeSidecar', d.proxy.nativeSidecar, oneOf(['auto', 'true', 'false'])),
      holdApplication: pick(r, p, 'proxy.', 'holdApplication', d.proxy.holdApplication, aBoolean),
      holdCommand: pick(r, p, 'proxy.', 'holdCommand', d.proxy.holdCommand, stringList),
      drainSeconds: pick(r, p, 'proxy.', 'drainSeconds', d.proxy.drainSeconds, seconds),
      meshCidrs: pick(r, p, 'proxy.', 'meshCidrs', d.proxy.meshCidrs, parsedBy(meshCidrList, 'must be a string of comma-separated CIDRs, such as "10.244.0.0/16,fd00:10:244::/56"')),
      ipv6: pick(r, p, 'proxy.', 'ipv6', d.proxy.ipv6, oneOf(['auto', 'enabled', 'disabled'])),
      maxConnections: pick(r, p, 'proxy.', 'maxConnections', d.proxy.maxConnections, (v) =>
        Number.isInteger(v) && (v as number) >= MIN_CONNECTIONS && (v as number) <= MAX_CONNECTIONS
          ? undefined
          : `must be a whole number from ${MIN_CONNECTIONS} to ${MAX_CONNECTIONS}`,
      ),
      serviceDiscovery: pick(r, p, 'proxy.', 'serviceDiscovery', d.proxy.serviceDiscovery, aBoolean),
      inboundPolicy: pick(r, p, 'proxy.', 'inboundPolicy', d.proxy.inboundPolicy, oneOf(INBOUND_POLICIES)),
      rewriteProbes: pick(r, p, 'proxy.', 'rewriteProbes', d.proxy.rewriteProbes, aBoolean),
    },
    init: {
      image: pick(r, i, 'init.', 'image', d.init.image, nonEmptyString),
      ...(initPull ? { imagePullPolicy: initPull } : {}),
      resources: resources(r, i, 'init.', d.init.resources),
    },
    redirect,
    identity: {
      certificateLifetimeSeconds: pick(r, id, 'identity.', 'certificateLifetimeSeconds', d.identity.certificateLifetimeSeconds, (v) =>
        Number.isInteger(v) && (v as number) >= MIN_LIFETIME_S && (v as number) <= MAX_LIFETIME_S
          ? undefined
          : `must be whole seconds from ${MIN_LIFETIME_S} to ${MAX_LIFETIME_S} (90 days)`,
      ),
    },
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return deepFreeze(config);
}
