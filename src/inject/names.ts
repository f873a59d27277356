// The shapes of names and texts the engine checks in more than one place, so every check
// of one shape is the same check.

/** A DNS label (RFC 1123), as Kubernetes names a namespace or a container. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A DNS subdomain (RFC 1123), as Kubernetes names a service account; at most 253 characters besides. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/**
 * A URL path with its query, of the characters a URL carries as they are (RFC 3986, 3.3
 * and 3.4, with percent-encodings): anything else would have to be escaped on the wire.
 */
export const URL_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$/;

/** One line of text of at most 1,024 characters: no control character, no line break. */
export function isOneLine(v: string): boolean {
  return v.length <= 1024 && !/[\u0000-\u001f\u007f]/.test(v);
}
