// The request body of POST /inject: size limit, media type, JSON parsing. Every
// problem is a 4xx that says what is wrong, never a 500.

// Kubernetes objects can exceed fastify's 1 MiB default: etcd accepts values of about
// 1.5 MiB, an object may grow to twice that while encoded as JSON, and an
// AdmissionReview can carry two of them (object and oldObject). controller-runtime
// caps webhook bodies at 7 MiB for exactly that reason (pkg/webhook/admission/http.go,
// maxRequestSize); 8 MiB leaves room for the envelope without accepting unbounded input.
export const BODY_LIMIT = 8 * 1024 * 1024;

/** A 4xx answer to input that is not a usable AdmissionReview (never a 500). */
export class BadRequest extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const media = header.split(';')[0]?.trim().toLowerCase();
  return media === 'application/json';
}

/**
 * The body as JSON. fastify's own parser reports some `__proto__` keys as "not valid
 * JSON", which sends a reader looking for a syntax error; this one names the key.
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw new BadRequest(400, 'the body is empty; expected an AdmissionReview');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequest(400, `the body is not valid JSON (${errorText(err)})`);
  }
  // JSON.parse makes `__proto__` an ordinary own key, but a later merge or assignment
  // elsewhere could turn it into prototype pollution; no Kubernetes object has such a
  // key (label, annotation and resource names start with a letter or digit), so it is
  // refused. The text search keeps the walk off the common path; a key may also be
  // written with \u escapes ("\u005f_proto__" is the same key), so any escape walks too.
  if (text.includes('"__proto__"') || text.includes('"constructor"') || text.includes('\\u')) {
    const path = poisonedKey(value);
    if (path) throw new BadRequest(400, `the body has a prototype key at ${path}; splice refuses it (no Kubernetes object has one)`);
  }
  return value;
}

/** The path of the first `__proto__` key, or `constructor` holding `prototype` (iterative: bodies can nest deeply). */
function poisonedKey(root: unknown): string | undefined {
  const stack: Array<[unknown, string]> = [[root, '']];
  while (stack.length > 0) {
    const [node, path] = stack.pop() as [unknown, string];
    if (typeof node !== 'object' || node === null) continue;
    for (const [key, child] of Object.entries(node)) {
      const childPath = `${path}/${key}`;
      if (key === '__proto__') return childPath;
      if (key === 'constructor' && typeof child === 'object' && child !== null && Object.hasOwn(child, 'prototype')) return childPath;
      stack.push([child, childPath]);
    }
  }
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
