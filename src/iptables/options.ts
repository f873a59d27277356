// The traffic-redirect options: what `splice iptables` takes as flags and what the
// injected `splice-init` container is given as args. Parsing is shared by the pod
// annotations, the config file and the CLI flags so all three accept and refuse
// exactly the same values, with the same messages.

import { isIPv4, isIPv6, SocketAddress } from 'node:net';

export const PROXY_PORTS = Object.freeze({
  admin: 15000,
  outbound: 15001,
  inbound: 15006,
  /** Where mesh peers connect, with mTLS, whatever app port they were dialling (bootstrap.ts). */
  mtls: 15008,
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
  /**
   * Whether IPv6 TCP is redirected at all. Only where the proxy listens on IPv6 too:
   * redirecting it to a port nobody serves refuses every IPv6 connection.
   */
  ipv6: boolean;
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

const V6_GROUPS = 8;

// 128-bit value of an IPv6 address in the canonical form node prints.
function v6Value(addr: string): bigint {
  const [head = '', tail] = addr.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(V6_GROUPS - left.length - right.length).fill('0'), ...right];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function v6Text(value: bigint): string {
  const groups: string[] = [];
  for (let i = V6_GROUPS - 1; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

function v4Value(addr: string): bigint {
  return addr.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function v4Text(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/**
 * `a.b.c.d/n` or an IPv6 CIDR, in canonical form (IPv6 lowercased and compressed, as
 * iptables-save prints it); a bare address means a single host (/32, /128). Host bits
 * set below the prefix are refused rather than silently cleared: `10.1.2.3/8` is more
 * often a typo for /28 than a way of writing 10.0.0.0/8.
 */
export function parseCidr(what: string, whole: string, item: string): string {
  const [addr = '', bits, ...rest] = item.split('/');
  if (rest.length > 0) throw new ValueError(what, whole, `has "${item}", which is not a CIDR`);
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : 0;
  if (family === 0) throw new ValueError(what, whole, `has "${item}", which is not an IPv4 or IPv6 CIDR`);
  if (family === 6 && /^::ffff:/i.test(addr) && addr.includes('.')) {
    // iptables would put it in the IPv6 table, where IPv4 packets never match it.
    throw new ValueError(what, whole, `has "${item}", an IPv4-mapped IPv6 address; write the IPv4 form`);
  }
  const max = family === 4 ? 32 : 128;
  if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max)) {
    throw new ValueError(what, whole, `has "${item}", whose prefix length must be 0-${max}`);
  }
  const prefix = bits === undefined ? max : Number(bits);
  const value = family === 4 ? v4Value(addr) : v6Value(new SocketAddress({ address: addr, family: 'ipv6' }).address);
  const hostBits = BigInt(max - prefix);
  const network = (value >> hostBits) << hostBits;
  const text = family === 4 ? v4Text : v6Text;
  if (network !== value) {
    throw new ValueError(what, whole, `has "${item}", whose host bits are set; the network is ${text(network)}/${prefix}`);
  }
  return `${text(network)}/${prefix}`;
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

/**
 * Like parseCidrs, for exclude lists, where `*` (exclude everything) is written as both
 * whole address families, so the rules have one shape to handle.
 */
export function parseExcludeCidrs(what: string, value: string): string[] {
  const sel = parseCidrs(what, value);
  return sel === '*' ? ['0.0.0.0/0', '::/0'] : sel;
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
    '--ipv6', String(o.ipv6),
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
    ipv6: true,
  };
}
