// Per-pod overrides: `splice.dev/` annotations on the pod, inherited from the
// namespace's annotations when the pod does not set them (the pod's own value wins).
// Each key has one validator returning a message or nothing; an invalid value refuses
// the pod with the key, the value and where it came from, so the user can fix it.

import type { Config, ContainerResources } from './config.js';
import { ipv6Redirected, PROXY_LOG_LEVELS } from './config.js';
import { deepFreeze } from './frozen.js';
import { KEYS, PREFIX } from './keys.js';
import { boundedMemo, getOrCreate } from './memo.js';
import { checkResourceValue } from './quantity.js';
import { INBOUND_POLICIES, parseAllowFrom, type InboundPolicy } from './policy.js';
import type { RedirectOptions } from '../iptables/options.js';
import { PROXY_PORTS, parseCidrs, parseExcludeCidrs, parsePorts, ValueError } from '../iptables/options.js';

export interface Overrides {
  /** The config's proxy.resources with every resource annotation applied, the pod's or its namespace's. */
  proxyResources: ContainerResources;
  /** The resource annotations given with a valid value, the pod's or inherited. */
  resourceKeys: readonly string[];
  /**
   * The resource annotations the pod itself carries (not inherited). Only these stand
   * for a resource the pod budgets at pod level (spec.resources, see pod-resources.ts).
   */
  podResourceKeys: readonly string[];
  logLevel: string;
  redirect: RedirectOptions;
  /** Undefined: decided from the config and the API server's version. */
  nativeSidecar?: boolean;
  holdApplication: boolean;
  /** `strict` whenever allowFrom names anyone (policy.ts). */
  inboundPolicy: InboundPolicy;
  /** The SPIFFE IDs allowed to connect (parseAllowFrom); empty: any identity of the mesh. */
  allowFrom: readonly string[];
  /** Whether the app's probes are pointed at the proxy's health listener (probes.ts). */
  rewriteProbes: boolean;
}

export interface OverrideResult {
  overrides: Overrides;
  /** One message per invalid value; any entry refuses the pod. */
  problems: readonly string[];
  warnings: string[];
}

type Check = (value: string, config: Config) => string | undefined;

const cpu: Check = (v) => checkResourceValue('cpu', v);
const memory: Check = (v) => checkResourceValue('memory', v);
const bool: Check = (v) => (v === 'true' || v === 'false' ? undefined : 'must be "true" or "false"');
const logLevel: Check = (v) =>
  (PROXY_LOG_LEVELS as readonly string[]).includes(v) ? undefined : `must be one of ${PROXY_LOG_LEVELS.join(', ')}`;
const thrown = (parse: (v: string, config: Config) => unknown): Check => (v, config) => {
  try {
    parse(v, config);
    return undefined;
  } catch (e) {
    return e instanceof ValueError ? e.why : String(e);
  }
};

const CHECKS: Record<string, Check> = {
  [KEYS.proxyCpu]: cpu,
  [KEYS.proxyMemory]: memory,
  [KEYS.proxyCpuLimit]: cpu,
  [KEYS.proxyMemoryLimit]: memory,
  [KEYS.proxyLogLevel]: logLevel,
  [KEYS.excludeInboundPorts]: thrown((v) => parsePorts('', v, false)),
  [KEYS.includeInboundPorts]: thrown((v) => parsePorts('', v, true)),
  [KEYS.excludeOutboundPorts]: thrown((v) => parsePorts('', v, false)),
  [KEYS.includeOutboundCidrs]: thrown((v) => parseCidrs('', v)),
  [KEYS.excludeOutboundCidrs]: thrown((v) => parseCidrs('', v)),
  [KEYS.nativeSidecar]: bool,
  [KEYS.holdApplication]: bool,
  [KEYS.inboundPolicy]: (v) => ((INBOUND_POLICIES as readonly string[]).includes(v) ? undefined : `must be one of ${INBOUND_POLICIES.join(', ')}`),
  [KEYS.allowFrom]: thrown((v, config) => parseAllowFrom(v, config.trustDomain)),
  [KEYS.rewriteProbes]: bool,
};

const RESOURCE_KEYS: readonly string[] = [KEYS.proxyCpu, KEYS.proxyMemory, KEYS.proxyCpuLimit, KEYS.proxyMemoryLimit];

/** The keys a user may set to change what is injected (not `inject` or `status`). */
export const OVERRIDE_KEYS: readonly string[] = Object.keys(CHECKS);

const KNOWN_KEYS = new Set<string>([...OVERRIDE_KEYS, KEYS.inject, KEYS.status, KEYS.sdsCertificate, KEYS.sdsTrustBundle, KEYS.originalProbes]);

// One memo per config, keyed by the override values a pod ends up with (almost always
// none): every replica of a workload has the same annotations, so parsing and checking
// them (CIDRs, quantities) is done once per workload, not once per pod.
const memos = new WeakMap<Config, (key: string) => Resolved>();

interface Resolved {
  overrides: Overrides;
  problems: readonly string[];
  /** What the values mean that a user may not expect (the same for every pod with them). */
  warnings: readonly string[];
}

export function resolveOverrides(
  podAnnotations: Record<string, string>,
  namespace: { name: string; annotations: Record<string, string> },
  config: Config,
): OverrideResult {
  // The key lists each given value with where it came from, as the messages say it.
  const given: Array<[key: string, value: string, inheritedFrom: string | null]> = [];
  for (const key of OVERRIDE_KEYS) {
    if (Object.hasOwn(podAnnotations, key)) given.push([key, String(podAnnotations[key]), null]);
    else if (Object.hasOwn(namespace.annotations, key)) given.push([key, String(namespace.annotations[key]), namespace.name]);
  }
  // Resolved from the key alone, so no input can be left out of it; frozen, because
  // every pod with the same values gets the same object.
  const memo = getOrCreate(memos, config, () => boundedMemo(1024, (key) => deepFreeze(resolve(JSON.parse(key) as typeof given, config))));
  const { overrides, problems, warnings: notes } = memo(given.length === 0 ? '[]' : JSON.stringify(given));

  const warnings: string[] = [...notes];
  for (const key of Object.keys(podAnnotations)) {
    if (key.startsWith(PREFIX) && !KNOWN_KEYS.has(key)) {
      warnings.push(`annotation ${key} is not a splice key and is ignored (known: ${OVERRIDE_KEYS.join(', ')})`);
    }
  }
  return { overrides, problems, warnings };
}

function resolve(given: Array<[key: string, value: string, inheritedFrom: string | null]>, config: Config): Resolved {
  const problems: string[] = [];
  const values = new Map<string, string>();
  for (const [key, raw, inheritedFrom] of given) {
    // The API server trims the spaces around a quantity it reads; so does splice.
    const value = RESOURCE_KEYS.includes(key) ? raw.trim() : raw;
    const problem = CHECKS[key]?.(value, config);
    if (problem) {
      problems.push(`annotation ${key}: ${JSON.stringify(value)} ${problem}${whereFrom(inheritedFrom)}`);
    } else {
      values.set(key, value);
    }
  }
  // An allow list is a strict policy. A permissive one said on the same object (both on the
  // pod, or both on the namespace) is a contradiction, refused: either reading of it would
  // surprise someone. Said on different objects, the pod's own wins, as for every key.
  const notes: string[] = [];
  const permissive = given.find(([key]) => key === KEYS.inboundPolicy && values.get(key) === 'permissive');
  const allow = given.find(([key]) => key === KEYS.allowFrom);
  if (permissive && allow && permissive[2] === allow[2]) {
    problems.push(
      `annotation ${KEYS.inboundPolicy}: "permissive"${whereFrom(permissive[2])} contradicts ${KEYS.allowFrom}${whereFrom(allow[2])}, which only a strict policy can enforce; set ${KEYS.inboundPolicy} to "strict" or remove one of them`,
    );
  } else if (permissive && allow && permissive[2] === null) {
    values.delete(KEYS.allowFrom);
    notes.push(`annotation ${KEYS.allowFrom}${whereFrom(allow[2])} is not applied: the pod's own ${KEYS.inboundPolicy} is "permissive"`);
  }
  const resourceKeys = given.filter(([key]) => RESOURCE_KEYS.includes(key) && values.has(key));
  const overrides = build(values, resourceKeys.map(([key]) => key), resourceKeys.filter(([, , inheritedFrom]) => inheritedFrom === null).map(([key]) => key), config);
  // Whether a request is above its limit is checked on what the proxy ends up with
  // (pod-resources.ts proxyResourceProblems): a pod-level budget removes the defaults.
  return { overrides, problems, warnings: notes };
}

const whereFrom = (inheritedFrom: string | null): string => (inheritedFrom === null ? '' : ` (inherited from namespace ${inheritedFrom})`);

function build(values: Map<string, string>, resourceKeys: readonly string[], podResourceKeys: readonly string[], config: Config): Overrides {
  const get = (key: string): string | undefined => values.get(key);
  const r = config.redirect;
  const res = config.proxy.resources;
  const requests = { ...res.requests };
  const limits = { ...res.limits };
  const set = (target: { cpu?: string; memory?: string }, name: 'cpu' | 'memory', key: string) => {
    const v = get(key);
    if (v !== undefined) target[name] = v;
  };
  set(requests, 'cpu', KEYS.proxyCpu);
  set(requests, 'memory', KEYS.proxyMemory);
  set(limits, 'cpu', KEYS.proxyCpuLimit);
  set(limits, 'memory', KEYS.proxyMemoryLimit);

  const native = get(KEYS.nativeSidecar);
  const hold = get(KEYS.holdApplication);
  const allowFrom = get(KEYS.allowFrom);
  const rewrite = get(KEYS.rewriteProbes);
  return {
    proxyResources: { requests, limits },
    resourceKeys,
    podResourceKeys,
    logLevel: get(KEYS.proxyLogLevel) ?? config.proxy.logLevel,
    redirect: {
      proxyUid: config.proxy.uid,
      inboundPort: PROXY_PORTS.inbound,
      outboundPort: PROXY_PORTS.outbound,
      includeInboundPorts: parsePorts(KEYS.includeInboundPorts, get(KEYS.includeInboundPorts) ?? r.includeInboundPorts, true),
      excludeInboundPorts: parsePorts(KEYS.excludeInboundPorts, get(KEYS.excludeInboundPorts) ?? r.excludeInboundPorts, false),
      excludeOutboundPorts: parsePorts(KEYS.excludeOutboundPorts, get(KEYS.excludeOutboundPorts) ?? r.excludeOutboundPorts, false),
      includeOutboundCidrs: parseCidrs(KEYS.includeOutboundCidrs, get(KEYS.includeOutboundCidrs) ?? r.includeOutboundCidrs),
      excludeOutboundCidrs: parseExcludeCidrs(KEYS.excludeOutboundCidrs, get(KEYS.excludeOutboundCidrs) ?? r.excludeOutboundCidrs),
      // The same switch as the proxy's IPv6 listeners (proxy-texts.ts): never one without the other.
      ipv6: ipv6Redirected(config),
    },
    ...(native !== undefined ? { nativeSidecar: native === 'true' } : {}),
    holdApplication: hold !== undefined ? hold === 'true' : config.proxy.holdApplication,
    inboundPolicy: allowFrom !== undefined ? 'strict' : ((get(KEYS.inboundPolicy) as InboundPolicy | undefined) ?? config.proxy.inboundPolicy),
    allowFrom: allowFrom !== undefined ? parseAllowFrom(allowFrom, config.trustDomain) : [],
    rewriteProbes: rewrite !== undefined ? rewrite === 'true' : config.proxy.rewriteProbes,
  };
}
