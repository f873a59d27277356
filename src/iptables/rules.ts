// The traffic-redirect rules as iptables-restore input, one text per address family.
// Pure: no I/O, same options → same text, so the output can be compared and reviewed.
//
// Why the whole nat table is declared and restored without --noflush: splice owns the
// nat table of the pod's network namespace (nothing else in a pod writes to it). A
// restore without --noflush replaces the table atomically, so running splice-init a
// second time (an init container restarted, a pod sandbox re-created) leaves exactly
// the same rules instead of appending a second copy of every chain and jump.
import { PROXY_PORTS, isIPv6Cidr, type RedirectOptions } from './options.js';

export interface RenderedRules {
  /** Input for iptables-restore. */
  ipv4: string;
  /** Input for ip6tables-restore; undefined when IPv6 is not redirected (options.ipv6 false). */
  ipv6: string | undefined;
}

export const CHAINS = Object.freeze({
  inbound: 'SPLICE_INBOUND',
  inboundRedirect: 'SPLICE_IN_REDIRECT',
  outbound: 'SPLICE_OUTPUT',
  outboundRedirect: 'SPLICE_REDIRECT',
});

type Family = 'ipv4' | 'ipv6';

/** Ports that always reach the proxy unredirected: kubelet probes, Prometheus, admin. */
export function proxyOwnPorts(opts: RedirectOptions): number[] {
  const ports = new Set<number>([...Object.values(PROXY_PORTS), opts.inboundPort, opts.outboundPort]);
  return [...ports].sort((a, b) => a - b);
}

function inboundRules(opts: RedirectOptions): string[] {
  const { inbound, inboundRedirect } = CHAINS;
  // An empty include list means no inbound capture: the chain stays declared (so a
  // re-run still replaces it) but nothing jumps to it.
  if (opts.includeInboundPorts !== '*' && opts.includeInboundPorts.length === 0) return [];
  const rules = [`-A PREROUTING -p tcp -j ${inbound}`];
  for (const port of proxyOwnPorts(opts)) rules.push(`-A ${inbound} -p tcp --dport ${port} -j RETURN`);
  // Exclusions are written even with an explicit include list so that "excluded" wins
  // whichever way the two lists overlap.
  for (const port of opts.excludeInboundPorts) rules.push(`-A ${inbound} -p tcp --dport ${port} -j RETURN`);
  if (opts.includeInboundPorts === '*') {
    rules.push(`-A ${inbound} -p tcp -j ${inboundRedirect}`);
  } else {
    for (const port of opts.includeInboundPorts) rules.push(`-A ${inbound} -p tcp --dport ${port} -j ${inboundRedirect}`);
  }
  return rules;
}

function ofFamily(cidrs: string[], family: Family): string[] {
  return cidrs.filter((c) => isIPv6Cidr(c) === (family === 'ipv6'));
}

function outboundRules(opts: RedirectOptions, family: Family): string[] {
  const { outbound, outboundRedirect } = CHAINS;
  const include = opts.includeOutboundCidrs === '*' ? '*' : ofFamily(opts.includeOutboundCidrs, family);
  // Nothing of this family to capture: declare the chains, jump to none of them.
  if (include !== '*' && include.length === 0) return [];
  const rules = [
    `-A OUTPUT -p tcp -j ${outbound}`,
    // The proxy's own connections would otherwise be redirected back to itself, forever.
    `-A ${outbound} -m owner --uid-owner ${opts.proxyUid} -j RETURN`,
    // Loopback (127.0.0.0/8, ::1, and the pod's own addresses) never leaves the pod.
    `-A ${outbound} -o lo -j RETURN`,
  ];
  for (const port of opts.excludeOutboundPorts) rules.push(`-A ${outbound} -p tcp --dport ${port} -j RETURN`);
  for (const cidr of ofFamily(opts.excludeOutboundCidrs, family)) rules.push(`-A ${outbound} -d ${cidr} -j RETURN`);
  if (include === '*') {
    rules.push(`-A ${outbound} -j ${outboundRedirect}`);
  } else {
    for (const cidr of include) rules.push(`-A ${outbound} -d ${cidr} -j ${outboundRedirect}`);
  }
  return rules;
}

function renderFamily(opts: RedirectOptions, family: Family): string {
  const lines = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...Object.values(CHAINS).map((chain) => `:${chain} - [0:0]`),
    // Only TCP is redirected: UDP (DNS among it) goes where the application sent it.
    `-A ${CHAINS.inboundRedirect} -p tcp -j REDIRECT --to-ports ${opts.inboundPort}`,
    `-A ${CHAINS.outboundRedirect} -p tcp -j REDIRECT --to-ports ${opts.outboundPort}`,
    ...inboundRules(opts),
    ...outboundRules(opts, family),
    'COMMIT',
  ];
  return lines.join('\n') + '\n';
}

export function renderRules(opts: RedirectOptions): RenderedRules {
  return { ipv4: renderFamily(opts, 'ipv4'), ipv6: opts.ipv6 ? renderFamily(opts, 'ipv6') : undefined };
}
