// From a Pod CREATE to an AdmissionResponse: ask the namespace source, run the engine,
// map its Decision to allowed/patched/denied, and when either fails answer as
// config.onError says. Nothing here throws: every path ends in an Outcome.

import type { Decision } from '../inject/outcome.js';
import type { ReasonId } from '../inject/reasons.js';
import type { NamespaceFacts } from '../inject/types.js';
import type { AppOptions } from './app.js';
import { REPORTED_SKIPS, controllerOf } from './skip-events.js';
import type { RequestResult } from './metrics.js';
import { allowed, denied, errored, patched, type AdmissionRequest, type AdmissionResponse } from './review.js';

export interface Outcome {
  result: RequestResult;
  reasons: ReasonId[];
  response: AdmissionResponse;
  error?: string;
  patchOps?: unknown;
}

export async function admit(opts: AppOptions, req: AdmissionRequest, namespace: string): Promise<Outcome> {
  const pod = displayName(req) ?? '(unnamed)';
  let facts: NamespaceFacts | undefined;
  try {
    facts = await opts.namespaces.get(namespace);
  } catch (err) {
    return failure(
      opts,
      req,
      503,
      `reading namespace "${namespace}" from the API server failed (${errorText(err)}); check that the API server is reachable and that splice's ServiceAccount may get namespaces`,
      pod,
      namespace,
    );
  }
  if (facts === undefined) {
    return failure(opts, req, 503, `namespace "${namespace}" is not known to splice (not in its cache, and the API server says it does not exist)`, pod, namespace);
  }

  let decision: Decision;
  try {
    decision = opts.decide({ pod: req.object, namespace: facts, cluster: opts.cluster, config: opts.config });
    const problem = checkDecision(decision);
    if (problem) throw new Error(problem);
  } catch (err) {
    return failure(opts, req, 500, `internal error while deciding (${errorText(err)})`, pod, namespace);
  }

  const reasons = decision.reasons.map((r) => r.id);
  // kubectl prints each as "Warning: …"; the prefix says who is speaking.
  const warnings = decision.warnings.map((w) => `splice: ${w}`);
  try {
    switch (decision.result) {
      case 'inject':
        return { result: 'inject', reasons, response: patched(decision.patch, warnings), patchOps: decision.patch };
      case 'skip':
        reportSkip(opts, req, decision, namespace, pod);
        return { result: 'skip', reasons, response: allowed(warnings) };
      case 'deny': {
        // 400 when the pod itself is wrong (the user fixes the manifest); 403 when a
        // valid pod is refused by policy (e.g. Pod Security would break splice-init).
        const invalid = reasons.some((id) => id === 'invalid_annotation' || id === 'invalid_pod');
        return { result: 'deny', reasons, response: denied(invalid ? 400 : 403, decision.message, warnings) };
      }
    }
  } catch (err) {
    if (err instanceof RangeError) {
      // The patch is written as JSON text; a value nested thousands of levels deep (no
      // real pod is) exhausts the stack. The pod is at fault, and the answer says so.
      const message = `splice cannot handle this pod: a value in it is nested too deeply to write into a patch (${err.message})`;
      return { result: 'deny', reasons: ['invalid_pod'], response: denied(400, message) };
    }
    return failure(opts, req, 500, `internal error while answering (${errorText(err)})`, pod, namespace);
  }
}

// A dry run must leave nothing behind, an Event included.
function reportSkip(opts: AppOptions, req: AdmissionRequest, decision: Decision, namespace: string, pod: string): void {
  if (!opts.events || req.dryRun === true) return;
  const reported = decision.reasons.find((r) => REPORTED_SKIPS.has(r.id));
  const owner = controllerOf(req.object);
  if (!reported || !owner) return;
  opts.events.record({ namespace, owner, pod, reason: reported.id, message: reported.message });
}

function failure(opts: AppOptions, req: AdmissionRequest, code: number, why: string, pod: string, namespace: string): Outcome {
  if (opts.config.onError === 'allow') {
    return {
      result: 'error',
      reasons: [],
      error: why,
      response: allowed([`splice did not inject pod ${pod}: ${why}. Admitted unchanged because splice's onError is "allow".`]),
    };
  }
  return {
    result: 'error',
    reasons: [],
    error: why,
    response: errored(
      code,
      `splice could not decide whether to inject pod ${pod} in namespace ${namespace}: ${why}. ` +
        `The pod was refused because splice's onError is "deny"; retry once splice is healthy (its logs have request uid ${req.uid}), ` +
        `or set onError: allow to admit pods unchanged when splice fails.`,
    ),
  };
}

/** The engine promises a well-formed Decision; a broken one must not become a broken response. */
function checkDecision(d: unknown): string | undefined {
  if (typeof d !== 'object' || d === null) return 'the engine returned no decision';
  const x = d as Record<string, unknown>;
  if (!Array.isArray(x.reasons) || !Array.isArray(x.warnings)) return 'the engine returned a decision without reasons or warnings';
  if (x.result === 'inject') return Array.isArray(x.patch) ? undefined : 'the engine returned an injection without a patch';
  if (x.result === 'deny') return typeof x.message === 'string' ? undefined : 'the engine returned a denial without a message';
  if (x.result === 'skip') return undefined;
  return `the engine returned an unknown result ${JSON.stringify(x.result)}`;
}

// The object's metadata, when it has one: request.object is whatever the client sent.
function metadataOf(object: unknown): Record<string, unknown> | undefined {
  if (typeof object !== 'object' || object === null) return undefined;
  const meta = (object as { metadata?: unknown }).metadata;
  return typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : undefined;
}

export function podNamespace(object: unknown): string | undefined {
  const ns = metadataOf(object)?.namespace;
  return typeof ns === 'string' && ns !== '' ? ns : undefined;
}

/** The pod's name, or its generateName with `*` (the API server names it after admission). */
export function displayName(req: AdmissionRequest): string | undefined {
  if (req.name) return req.name;
  const meta = metadataOf(req.object);
  const name = meta?.name;
  const generateName = meta?.generateName;
  if (typeof name === 'string' && name !== '') return name;
  if (typeof generateName === 'string' && generateName !== '') return `${generateName}*`;
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
