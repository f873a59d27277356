// The AdmissionReview wire format (admission.k8s.io/v1 and v1beta1, which share one
// shape). Parsing checks only what splice relies on and names the field at fault;
// every answer is written in the apiVersion it was asked in, with the request's uid,
// as the API server rejects a response whose uid or version does not match.
//
// Constructors are verbs, as in controller-runtime's admission package: `allowed`,
// `patched`, `denied`, `errored` build the response; `answer` wraps it for the wire.

import type { Operation } from 'fast-json-patch';
import { patchBase64 } from '../inject/patch.js';

export const REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type ReviewVersion = (typeof REVIEW_VERSIONS)[number];

/** The part of AdmissionRequest splice reads. Everything else is left as sent. */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: string;
  namespace?: string;
  name?: string;
  subResource?: string;
  dryRun?: boolean;
  /** The object exactly as sent (for a Pod CREATE: the pod), never re-encoded. */
  object?: unknown;
}

export interface AdmissionReview {
  apiVersion: ReviewVersion;
  request: AdmissionRequest;
}

/** A status as the API server shows it to the user when a request is refused. */
export interface AdmissionStatus {
  code: number;
  message: string;
}

export interface AdmissionResponse {
  allowed: boolean;
  status?: AdmissionStatus;
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
}

export interface AdmissionReviewReply {
  apiVersion: ReviewVersion;
  kind: 'AdmissionReview';
  response: AdmissionResponse & { uid: string };
}

/** Input that is not an AdmissionReview splice can answer: the message names the field. */
export class ReviewError extends Error {
  override name = 'ReviewError';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/**
 * Checks that `body` is an AdmissionReview of a known version with a request, a uid,
 * a kind and an operation. The object itself is checked only by whoever needs it
 * (see `needsDecision`), because a DELETE legitimately has none.
 */
export function parseReview(body: unknown): AdmissionReview {
  if (!isRecord(body)) throw new ReviewError(`the body must be a JSON object (an AdmissionReview), got ${describe(body)}`);
  const { apiVersion, kind, request } = body;
  if (typeof apiVersion !== 'string' || !(REVIEW_VERSIONS as readonly string[]).includes(apiVersion)) {
    throw new ReviewError(`apiVersion must be one of ${REVIEW_VERSIONS.join(', ')}, got ${JSON.stringify(apiVersion) ?? 'nothing'}`);
  }
  if (kind !== 'AdmissionReview') throw new ReviewError(`kind must be "AdmissionReview", got ${JSON.stringify(kind) ?? 'nothing'}`);
  if (!isRecord(request)) throw new ReviewError(`request must be an object (the AdmissionRequest), it is ${describe(request)}`);
  const { uid, operation } = request;
  if (typeof uid !== 'string' || uid === '') throw new ReviewError(`request.uid must be a non-empty string, it is ${describe(uid)}`);
  const k = request.kind;
  if (!isRecord(k) || typeof k.kind !== 'string' || typeof k.version !== 'string') {
    throw new ReviewError('request.kind must be an object with group, version and kind (e.g. {"group":"","version":"v1","kind":"Pod"})');
  }
  if (typeof operation !== 'string' || operation === '') throw new ReviewError(`request.operation must be a string such as "CREATE", it is ${describe(operation)}`);
  const optionalString = (field: string): string | undefined => {
    const v = request[field];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new ReviewError(`request.${field} must be a string, it is ${describe(v)}`);
    return v;
  };
  const parsed: AdmissionRequest = {
    uid,
    kind: { group: typeof k.group === 'string' ? k.group : '', version: k.version, kind: k.kind },
    operation,
    object: request.object,
  };
  const namespace = optionalString('namespace');
  const name = optionalString('name');
  const subResource = optionalString('subResource');
  if (namespace !== undefined) parsed.namespace = namespace;
  if (name !== undefined) parsed.name = name;
  if (subResource !== undefined) parsed.subResource = subResource;
  if (request.dryRun === true) parsed.dryRun = true;
  return { apiVersion: apiVersion as ReviewVersion, request: parsed };
}

/** Only a Pod CREATE (core group, no subresource) is splice's to decide; everything else passes unchanged. */
export function needsDecision(request: AdmissionRequest): boolean {
  return request.kind.group === '' && request.kind.kind === 'Pod' && request.operation === 'CREATE' && request.subResource === undefined;
}

function withWarnings(response: AdmissionResponse, warnings: readonly string[] | undefined): AdmissionResponse {
  // Passed through whole: kubectl shows warnings of up to ~120 characters well, but
  // cutting one short would drop its meaning, so keeping them short is the writer's job.
  const list = (warnings ?? []).filter((w) => typeof w === 'string' && w !== '');
  if (list.length > 0) response.warnings = list;
  return response;
}

/** Let the object through unchanged. */
export function allowed(warnings?: readonly string[]): AdmissionResponse {
  return withWarnings({ allowed: true }, warnings);
}

/** Let the object through with `ops` applied; no ops means no patch at all. */
export function patched(ops: readonly Operation[], warnings?: readonly string[]): AdmissionResponse {
  if (ops.length === 0) return allowed(warnings);
  return withWarnings({ allowed: true, patchType: 'JSONPatch', patch: patchBase64(ops) }, warnings);
}

/** Refuse the object: 400 when the object is invalid, 403 when policy forbids it. */
export function denied(code: 400 | 403, message: string, warnings?: readonly string[]): AdmissionResponse {
  return withWarnings({ allowed: false, status: { code, message } }, warnings);
}

/** Refuse the object because splice could not handle it (a 5xx: not the user's fault). */
export function errored(code: number, message: string): AdmissionResponse {
  return { allowed: false, status: { code, message } };
}

/** The envelope: same apiVersion as asked, uid echoed. */
export function answer(review: AdmissionReview, response: AdmissionResponse): AdmissionReviewReply {
  return { apiVersion: review.apiVersion, kind: 'AdmissionReview', response: { uid: review.request.uid, ...response } };
}

/**
 * `answer` as the JSON text that goes on the wire. A patch is base64 (no character
 * JSON escapes) of ~6.6 KB for a typical pod (~17 KB while the bootstrap was inline),
 * and JSON.stringify scans every character of it looking for one: ~50 µs per review at
 * 17 KB on a 2-core server. So the patch is written in as it is, and only the small rest goes
 * through JSON.stringify. That is safe because `patched` is the only writer of `patch`
 * and writes it with Buffer's base64 encoder (checking it here would cost the same scan).
 */
export function answerText(review: AdmissionReview, response: AdmissionResponse): string {
  const { patch } = response;
  if (patch === undefined) return JSON.stringify(answer(review, response));
  const warnings = response.warnings === undefined ? '' : `,"warnings":${JSON.stringify(response.warnings)}`;
  return (
    `{"apiVersion":${JSON.stringify(review.apiVersion)},"kind":"AdmissionReview","response":{"uid":${JSON.stringify(review.request.uid)},` +
    `"allowed":${response.allowed ? 'true' : 'false'},"patchType":"JSONPatch","patch":"${patch}"${warnings}}}`
  );
}
