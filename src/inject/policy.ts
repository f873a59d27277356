// Who may connect to a meshed pod: its inbound policy and the callers it allows.
//
//   permissive  today's default: mesh peers over mTLS on 15008, anyone else in plaintext
//               to the app's ports, as without a proxy
//   strict      only mesh peers: a connection to an app port that did not come through
//               15008 with a certificate of this mesh is closed by the proxy
//   allow-from  strict, and of the mesh peers only the identities listed
//
// The identities are SPIFFE IDs (SPIFFE-ID spec, "SPIFFE Identity and Verifiable Identity
// Document"), checked by Envoy on the URI SAN of the peer's certificate during the TLS
// handshake, so a caller that is not allowed never gets a connection to the app: not even
// the first bytes a server that speaks first would send.

import { ValueError } from '../iptables/options.js';
import { DNS_LABEL, DNS_SUBDOMAIN } from './names.js';

export const INBOUND_POLICIES = ['permissive', 'strict'] as const;
export type InboundPolicy = (typeof INBOUND_POLICIES)[number];

// SPIFFE-ID spec 2.1 and 2.2: a trust domain of lowercase letters, digits, dots, dashes
// and underscores; path segments of letters, digits, dots, dashes and underscores, none
// empty, "." or "..", no trailing slash; 2,048 bytes at most.
const SPIFFE_ID = /^spiffe:\/\/([a-z0-9._-]+)((\/[A-Za-z0-9._-]+)+)$/;
const WILDCARD = '*';

/** `spiffe://<trustDomain>/ns/<namespace>/sa/`: every service account of a namespace starts so. */
export function namespacePrefix(trustDomain: string, namespace: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/`;
}

/**
 * One entry of `splice.dev/allow-from` as the SPIFFE ID it stands for: `<ns>/<sa>` and a
 * full `spiffe://` ID are exact; `<ns>/*` is every service account of the namespace,
 * written as its prefix followed by `*` (a `*` cannot occur in a SPIFFE ID, so the two
 * never mix up).
 */
function allowedIdentity(entry: string, trustDomain: string): string {
  if (entry.startsWith('spiffe://')) {
    const m = SPIFFE_ID.exec(entry);
    if (!m || entry.length > 2048 || m[2]!.split('/').some((s) => s === '.' || s === '..')) {
      throw new ValueError('', entry, `entry ${JSON.stringify(entry)} is not a SPIFFE ID (spiffe://<trust domain>/<path>, path segments of letters, digits, ".", "-" and "_")`);
    }
    if (m[1] !== trustDomain) {
      throw new ValueError('', entry, `entry ${JSON.stringify(entry)} is of trust domain ${m[1]}, and this mesh's peers prove identities of ${trustDomain} only (trustDomain), so it could never match`);
    }
    return entry;
  }
  const slash = entry.indexOf('/');
  const namespace = slash < 0 ? entry : entry.slice(0, slash);
  const serviceAccount = slash < 0 ? undefined : entry.slice(slash + 1);
  if (serviceAccount === undefined || !DNS_LABEL.test(namespace)) {
    throw new ValueError('', entry, `entry ${JSON.stringify(entry)} is not <namespace>/<serviceAccount>, <namespace>/* or a spiffe:// ID`);
  }
  if (serviceAccount === WILDCARD) return `${namespacePrefix(trustDomain, namespace)}${WILDCARD}`;
  if (serviceAccount.length > 253 || !DNS_SUBDOMAIN.test(serviceAccount)) {
    throw new ValueError('', entry, `entry ${JSON.stringify(entry)} names service account ${JSON.stringify(serviceAccount)}, which is not a DNS subdomain name (RFC 1123)`);
  }
  return `${namespacePrefix(trustDomain, namespace)}${serviceAccount}`;
}

/**
 * Parses `splice.dev/allow-from`: a comma-separated list of `<namespace>/<serviceAccount>`,
 * `<namespace>/*` and `spiffe://` IDs, spaces around entries allowed.
 *
 * @returns the SPIFFE IDs, in the order given without repeats; a namespace wildcard ends in `/sa/*`
 * @throws ValueError naming the entry: an empty list or entry, a malformed one, a SPIFFE
 *   ID of another trust domain
 */
export function parseAllowFrom(value: string, trustDomain: string): string[] {
  const entries = value.split(',').map((e) => e.trim());
  if (entries.every((e) => e === '')) throw new ValueError('', value, 'names no identity; list <namespace>/<serviceAccount>, <namespace>/* or spiffe:// IDs');
  if (entries.includes('')) throw new ValueError('', value, 'has an empty entry (two commas, or one at an end)');
  const out: string[] = [];
  // Every bad entry at once, so one edit fixes the annotation.
  const problems: string[] = [];
  for (const entry of entries) {
    try {
      const id = allowedIdentity(entry, trustDomain);
      if (!out.includes(id)) out.push(id);
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      problems.push(e.why);
    }
  }
  if (problems.length > 0) throw new ValueError('', value, problems.join('; '));
  return out;
}

/** An allowed identity as Envoy's StringMatcher on the peer's URI SAN. */
export function identityMatcher(id: string): { exact: string } | { prefix: string } {
  return id.endsWith(`/${WILDCARD}`) ? { prefix: id.slice(0, -WILDCARD.length) } : { exact: id };
}

/** An allowed identity as a person reads it: `<ns>/<sa>`, `<ns>/*`, or the SPIFFE ID. */
export function describeIdentity(id: string, trustDomain: string): string {
  const ours = `spiffe://${trustDomain}/ns/`;
  if (!id.startsWith(ours)) return id;
  const m = /^([^/]+)\/sa\/([^/]+)$/.exec(id.slice(ours.length));
  return m ? `${m[1]}/${m[2]}` : id;
}
