// The traffic-redirect options: what `splice iptables` takes as flags and what the
// injected `splice-init` container is given as args. Parsing is shared by the pod
// annotations, the config file and the CLI flags so all three accept and refuse
// exactly the same values, with the same messages.

export const PROXY_PORTS = Object.freeze({
  admin: 15000,
  outbound: 15001,
  inbound: 15006,
  readiness: 15021,
  prometheus: 15090,
});

export const DEFAULT_PROXY_UID = 1337;

export type PortSelection = '*' | number[];
export type CidrSelection = '*' | string[];

export interface RedirectOptions {
  /** Traffic from this uid (the proxy) is never redirected, or it would loop. */
  proxyUid: number;
  inboundPort: number;
  outboundPort: number;
  includeInboundPorts: PortSelection;
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  includeOutboundCidrs: CidrSelection;
  excludeOutboundCidrs: string[];
}

/** A problem with one value; `what` names where it came from (a flag, an annotation key). */
export class ValueError extends Error {
  constructor(readonly what: string, readonly value: string, readonly why: string) {
    super(`${what}: ${JSON.stringify(value)} ${why}`);
    this.name = 'ValueError';
  }
}

function items(value: string): string[] {
  const trimmed = value.trim();
  if (trimmed === '') return [];
  return trimmed.split(',').map((s) => s.trim());
}

/** Comma-separated ports 1-65535; `*` only where `allowAll`. Empty string is the empty list. */
export function parsePorts(what: string, value: string, allowAll: true): PortSelection;
export function parsePorts(what: string, value: string, allowAll: false): number[];
export function parsePorts(what: string, value: string, allowAll: boolean): PortSelection {
  if (allowAll && value.trim() === '*') return '*';
  const out: number[] = [];
  for (const item of items(value)) {
    if (!/^\d{1,5}$/.test(item)) {
      const hint = item === '*' ? ' ("*" is not accepted here)' : item === '' ? ' (empty entry)' : '';
      throw new ValueError(what, value, `is not a comma-separated list of ports 1-65535${hint}`);
    }
    const port = Number(item);
    if (port < 1 || port > 65535) throw new ValueError(what, value, `has port ${item} outside 1-65535`);
    if (!out.includes(port)) out.push(port);
  }
  return out;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIPv6(addr: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(addr) || addr.includes(':::')) return false;
  const halves = addr.split('::');
  if (halves.length > 2) return false;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const parts = halves.flatMap(groups);
  // An embedded IPv4 tail (::ffff:10.0.0.1) counts as two groups.
  const last = parts[parts.length - 1];
  let count = parts.length;
  if (last !== undefined && last.includes('.')) {
    if (!IPV4.test(last)) return false;
    count += 1;
    parts.pop();
  }
  if (!parts.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? count < 8 : count === 8;
}

/** `a.b.c.d/n` or an IPv6 CIDR; a bare address means a single host (/32, /128). */
export function parseCidr(what: string, whole: string, item: string): string {
  const [addr = '', bits, ...rest] = item.split('/');
  if (rest.length > 0) throw new ValueError(what, whole, `has "${item}", which is not a CIDR`);
  const v4 = IPV4.test(addr);
  if (!v4 && !isIPv6(addr)) throw new ValueError(what, whole, `has "${item}", which is not an IPv4 or IPv6 CIDR`);
  const max = v4 ? 32 : 128;
  if (bits === undefined) return `${addr}/${max}`;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
    throw new ValueError(what, whole, `has "${item}", whose prefix length must be 0-${max}`);
  }
  return `${addr}/${Number(bits)}`;
}

/** Comma-separated IPv4/IPv6 CIDRs, or `*` for all. */
export function parseCidrs(what: string, value: string): CidrSelection {
  if (value.trim() === '*') return '*';
  const out: string[] = [];
  for (const item of items(value)) {
    if (item === '') throw new ValueError(what, value, 'has an empty entry');
    const cidr = parseCidr(what, value, item);
    if (!out.includes(cidr)) out.push(cidr);
  }
  return out;
}

export function isIPv6Cidr(cidr: string): boolean {
  return cidr.includes(':');
}

const list = (s: PortSelection | CidrSelection): string => (s === '*' ? '*' : s.join(','));

/** The `splice iptables` flags that reproduce these options (what splice-init runs with). */
export function toArgs(o: RedirectOptions): string[] {
  return [
    '--proxy-uid', String(o.proxyUid),
    '--inbound-port', String(o.inboundPort),
    '--outbound-port', String(o.outboundPort),
    '--include-inbound-ports', list(o.includeInboundPorts),
    '--exclude-inbound-ports', list(o.excludeInboundPorts),
    '--exclude-outbound-ports', list(o.excludeOutboundPorts),
    '--include-outbound-cidrs', list(o.includeOutboundCidrs),
    '--exclude-outbound-cidrs', list(o.excludeOutboundCidrs),
  ];
}

export function defaultRedirectOptions(): RedirectOptions {
  return {
    proxyUid: DEFAULT_PROXY_UID,
    inboundPort: PROXY_PORTS.inbound,
    outboundPort: PROXY_PORTS.outbound,
    includeInboundPorts: '*',
    excludeInboundPorts: [],
    excludeOutboundPorts: [],
    includeOutboundCidrs: '*',
    excludeOutboundCidrs: [],
  };
}
