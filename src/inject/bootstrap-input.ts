// The proxy's bootstrap input as it travels in the pod: one line of JSON in splice-init's
// args, which the init container turns into the Envoy bootstrap file splice-proxy reads
// (`splice iptables --bootstrap-input … --bootstrap-file …`). The pod carries these few
// hundred bytes instead of the ~14 KB bootstrap they render to: the pod object is stored
// in etcd and sent to every pod watcher, and it was mostly bootstrap.
//
// The text is read back by a splice of the same version (splice-init's image is pinned
// to the injector's version), yet it is still checked field by field: a pod edited by
// hand, or a mismatched image, stops in its init container with a message naming the
// field, never with an Envoy that starts on half a configuration.

import { isIP } from 'node:net';
import { parseCidrs, ValueError } from '../iptables/options.js';
import type { BootstrapInput } from './bootstrap.js';
import { DNS_LABEL, DNS_SUBDOMAIN, isOneLine, URL_PATH } from './names.js';
import { INBOUND_POLICIES } from './policy.js';
import type { AppProbe } from './probes.js';

/** A bootstrap input that cannot be used; `message` names the field and the value. */
export class BootstrapInputError extends Error {
  override name = 'BootstrapInputError';
}

/**
 * The input as it goes into the pod: keys in a fixed order, so the same input always
 * gives the same text (the patch of every replica of a workload is shared, memo.ts).
 */
export function formatBootstrapInput(input: BootstrapInput): string {
  const ordered: BootstrapInput = {
    podIp: input.podIp,
    namespace: input.namespace,
    serviceAccount: input.serviceAccount,
    trustDomain: input.trustDomain,
    identityDir: input.identityDir,
    drainSeconds: input.drainSeconds,
    meshCidrs: input.meshCidrs,
    maxConnections: input.maxConnections,
    ipv6: input.ipv6,
    ...(input.discovery ? { discovery: { host: input.discovery.host, port: input.discovery.port, namespace: input.discovery.namespace } } : {}),
    inboundPolicy: input.inboundPolicy,
    ...(input.allowFrom?.length ? { allowFrom: input.allowFrom } : {}),
    ...(input.appProbes?.length ? { appProbes: input.appProbes.map(orderedProbe) } : {}),
  };
  return JSON.stringify(ordered);
}

function orderedProbe(p: AppProbe): AppProbe {
  return {
    path: p.path,
    check: p.check,
    port: p.port,
    ...(p.target !== undefined ? { target: p.target } : {}),
    ...(p.ownHost ? { ownHost: true } : {}),
    ...(p.service !== undefined ? { service: p.service } : {}),
    timeoutSeconds: p.timeoutSeconds,
  };
}

// Kubernetes object names: a namespace is an RFC 1123 label, a service account (and a
// host name) an RFC 1123 subdomain.

type Check = (field: string, value: unknown) => unknown;

const fail = (field: string, value: unknown, why: string): never => {
  throw new BootstrapInputError(`${field}: ${JSON.stringify(value)} ${why}`);
};

const dnsName: Check = (field, v) => (typeof v === 'string' && v.length <= 253 && DNS_SUBDOMAIN.test(v) ? v : fail(field, v, 'is not a DNS subdomain name (RFC 1123)'));
const dnsLabel: Check = (field, v) => (typeof v === 'string' && DNS_LABEL.test(v) ? v : fail(field, v, 'is not a namespace name (an RFC 1123 label)'));
const integer = (min: number, max: number): Check => (field, v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(field, v, `is not an integer ${min}-${max}`);
// As config.ts accepts it (a SPIFFE trust domain is a lowercase DNS name).
const trustDomain: Check = (field, v) => (typeof v === 'string' && /^[a-z0-9]([-a-z0-9.]{0,253}[a-z0-9])?$/.test(v) ? v : fail(field, v, 'is not a lowercase DNS name'));
const boolean: Check = (field, v) => (typeof v === 'boolean' ? v : fail(field, v, 'is not true or false'));

const podIp: Check = (field, v) => {
  if (v === '$(POD_IP)') fail(field, v, 'was not expanded: the container needs the env var POD_IP (fieldRef status.podIP)');
  // No zone (fe80::1%eth0): a pod's address never has one, and Envoy would not bind it.
  return typeof v === 'string' && isIP(v) !== 0 && !v.includes('%') ? v : fail(field, v, 'is not an IP address');
};
const absolutePath: Check = (field, v) => (typeof v === 'string' && v.startsWith('/') && !v.includes('\0') ? v : fail(field, v, 'is not an absolute path'));
// Each entry on its own, exactly as the renderer will use it: one CIDR, no spaces, no
// commas (a list joined by commas would have let "10.0.0.0/8,10.1.0.0/16" through as one).
const cidrs: Check = (field, v) => {
  if (!Array.isArray(v) || !v.every((c) => typeof c === 'string')) return fail(field, v, 'is not a list of CIDRs');
  v.forEach((c: string, i: number) => {
    const at = `${field}[${i}]`;
    if (c === '' || c !== c.trim() || c.includes(',') || c === '*') fail(at, c, 'is not one CIDR');
    try {
      const parsed = parseCidrs(at, c);
      if (parsed === '*' || parsed.length !== 1 || parsed[0] !== c) fail(at, c, `is not one CIDR in canonical form${parsed !== '*' && parsed.length === 1 ? ` (${parsed[0] ?? ''})` : ''}`);
    } catch (err) {
      if (err instanceof ValueError) throw new BootstrapInputError(err.message);
      throw err;
    }
  });
  return v;
};

function object(field: string, v: unknown, checks: Record<string, Check>, optional: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(field === '' ? 'the bootstrap input' : field, v, 'is not a JSON object');
  const o = v as Record<string, unknown>;
  const prefix = field === '' ? '' : `${field}.`;
  for (const key of Object.keys(o)) if (!Object.hasOwn(checks, key)) fail(`${prefix}${key}`, o[key], 'is not a field of the bootstrap input');
  for (const [key, check] of Object.entries(checks)) {
    if (o[key] === undefined) {
      if (!optional.includes(key)) throw new BootstrapInputError(`${prefix}${key} is missing`);
      continue;
    }
    check(`${prefix}${key}`, o[key]);
  }
  return o;
}

const discovery: Check = (field, v) => object(field, v, { host: dnsOrIp, port: integer(1, 65535), namespace: dnsLabel }, []);
function dnsOrIp(field: string, v: unknown): unknown {
  return typeof v === 'string' && isIP(v) !== 0 ? v : dnsName(field, v);
}

const oneOf = (allowed: readonly string[]): Check => (field, v) =>
  typeof v === 'string' && allowed.includes(v) ? v : fail(field, v, `is not one of ${allowed.join(', ')}`);
const listOf = (item: Check): Check => (field, v) => {
  if (!Array.isArray(v)) return fail(field, v, 'is not a list');
  v.forEach((x: unknown, i: number) => item(`${field}[${i}]`, x));
  return v;
};
// A SPIFFE ID, or the prefix of a namespace's IDs followed by `*` (policy.ts).
const allowedId: Check = (field, v) =>
  typeof v === 'string' && /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)+(\/\*)?$/.test(v) ? v : fail(field, v, 'is not a SPIFFE ID');
const probePath: Check = (field, v) =>
  typeof v === 'string' && /^\/app-health\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/(startup|readiness|liveness)$/.test(v) ? v : fail(field, v, 'is not /app-health/<container>/<startup|readiness|liveness>');
// As probes.ts forwards it: a path, with its query, of characters a URL carries as they are.
const urlPath: Check = (field, v) => (typeof v === 'string' && URL_PATH.test(v) ? v : fail(field, v, 'is not a URL path'));
const text: Check = (field, v) => (typeof v === 'string' && isOneLine(v) ? v : fail(field, v, 'is not a line of text'));
const isTrue: Check = (field, v) => (v === true ? v : fail(field, v, 'is not true'));
const appProbe: Check = (field, v) =>
  object(
    field,
    v,
    { path: probePath, check: oneOf(['http', 'https', 'tcp', 'grpc']), port: integer(1, 65535), target: urlPath, ownHost: isTrue, service: text, timeoutSeconds: integer(1, 2_147_483_647) },
    ['target', 'ownHost', 'service'],
  );

const CHECKS: Record<keyof BootstrapInput, Check> = {
  podIp,
  namespace: dnsLabel,
  serviceAccount: dnsName,
  trustDomain,
  identityDir: absolutePath,
  drainSeconds: integer(0, 86_400),
  meshCidrs: cidrs,
  maxConnections: integer(1, 4_294_967_295),
  ipv6: boolean,
  discovery,
  inboundPolicy: oneOf(INBOUND_POLICIES),
  allowFrom: listOf(allowedId),
  appProbes: listOf(appProbe),
};

/**
 * Reads the text `formatBootstrapInput` wrote, once the kubelet has expanded `$(POD_IP)`
 * in it (Kubernetes: "Define dependent environment variables", `$(VAR)` in args).
 *
 * @param text the JSON text, as splice-init's argument
 * @returns the input, every field checked
 * @throws BootstrapInputError naming the field and its value: not JSON, an unknown or a
 *   missing field, a value of the wrong kind (e.g. `podIp` still `$(POD_IP)`)
 */
export function parseBootstrapInput(text: string): BootstrapInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BootstrapInputError(`is not JSON (${err instanceof Error ? err.message : String(err)}): ${JSON.stringify(text.slice(0, 80))}`);
  }
  return object('', parsed, CHECKS, ['discovery', 'allowFrom', 'appProbes']) as unknown as BootstrapInput;
}
