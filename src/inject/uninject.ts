// Undoing an injection: the pod as it was before splice, from the injected one. Pure, as
// the engine. Everything splice added is named in splice.dev/status (what it added, which
// fields it had to create, whether it set the default container) and the probes it
// rewrote are in splice.dev/original-probes, so what comes back is the pod splice was
// given: `splice inject | splice uninject` returns its input (test/unit/inject/uninject.test.ts).
// Anything else on the pod, added later by the user, a controller or the API server, stays.

import { DEFAULT_CONTAINER_ANNOTATION, INJECTED_NAMES, KEYS } from './keys.js';
import { appHealthPath, PROBE_FIELDS, type ProbeField } from './probes.js';
import { PROXY_PORTS } from '../iptables/options.js';
import { asPod, checkPodShape } from './shape.js';
import { readStatus, type InjectionStatus } from './status.js';
import type { Container, Pod, Probe } from './types.js';

export type Uninjected =
  | { result: 'uninjected'; pod: Pod }
  /** Nothing of splice's on the pod: it is returned as it came. */
  | { result: 'not-injected'; pod: Pod }
  /** The pod cannot be read, or its splice annotations are not splice's: `message` says which. */
  | { result: 'invalid'; message: string };

/** The annotations splice writes on every pod it injects. */
const SPLICE_ANNOTATIONS = [KEYS.status, KEYS.sdsCertificate, KEYS.sdsTrustBundle, KEYS.originalProbes];

function originalProbes(pod: Pod): Record<string, Partial<Record<ProbeField, Probe>>> {
  const text = pod.metadata?.annotations?.[KEYS.originalProbes];
  if (text === undefined) return {};
  const v: unknown = JSON.parse(text);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`annotation ${KEYS.originalProbes} is not a JSON object`);
  return v as Record<string, Partial<Record<ProbeField, Probe>>>;
}

/** Whether `probe` is still the one splice wrote in place of the app's (probes.ts). */
function rewrittenProbe(probe: Probe | undefined, container: string, field: ProbeField): probe is Probe {
  const get = probe?.httpGet;
  return get !== undefined && get !== null && get.port === PROXY_PORTS.readiness && get.path === appHealthPath(container, field);
}

/**
 * The container with the app's probes back where splice's still are. A probe changed
 * since keeps its change: a timing field edited on splice's probe is kept on the
 * original, and a probe replaced or deleted stays as it is now.
 */
function withProbes(c: Container, originals: Partial<Record<ProbeField, Probe>> | undefined): Container {
  if (!originals) return c;
  const out: Container = { ...c };
  for (const field of PROBE_FIELDS) {
    const original = originals[field];
    const now = c[field];
    if (original === undefined || !rewrittenProbe(now, c.name, field)) continue;
    const { httpGet: _splices, ...timing } = now;
    out[field] = { ...original, ...timing };
  }
  return out;
}

/**
 * Removes from `input` exactly what splice added to it.
 *
 * @param input a pod as the API server or a manifest has it (never modified)
 * @returns the pod without splice's containers, volumes, annotations and label, its
 *   probes as they were; `not-injected` when nothing of splice's is on it; `invalid` with
 *   a message naming the field when the pod or splice's annotations cannot be read
 */
export function uninjectPod(input: unknown): Uninjected {
  const shape = checkPodShape(input);
  if (shape) return { result: 'invalid', message: `splice cannot read this pod: ${shape}` };
  const pod = asPod(input);
  let status: InjectionStatus | undefined;
  let originals: ReturnType<typeof originalProbes>;
  try {
    status = readStatus(pod);
    originals = originalProbes(pod);
  } catch (e) {
    return { result: 'invalid', message: (e as Error).message };
  }
  const spec = pod.spec;
  if (!status) {
    // Every pod splice injected carries its status; a proxy without one is someone else's doing.
    const proxy = [...spec.containers, ...(spec.initContainers ?? [])].some((c) => c?.name === INJECTED_NAMES.proxy);
    if (proxy) return { result: 'invalid', message: `the pod has a ${INJECTED_NAMES.proxy} container but no ${KEYS.status}: splice cannot tell what it added, so it removes nothing` };
    return { result: 'not-injected', pod };
  }
  const added = status;
  const created = new Set(status.created ?? []);

  const containers = spec.containers.filter((c) => !added.containers.includes(c.name)).map((c) => withProbes(c, originals[c.name]));
  const initContainers = (spec.initContainers ?? []).filter((c) => !added.initContainers.includes(c.name)).map((c) => withProbes(c, originals[c.name]));
  const volumes = (spec.volumes ?? []).filter((v) => !added.volumes.includes(v.name));
  const newSpec: Record<string, unknown> = { ...spec, containers };
  // A status of 0.4.0 or later (it has a hash) says which fields splice created; an older
  // one does not, and an empty list is then dropped, as the API server would drop it.
  const exact = status.hash !== undefined;
  const keepList = (field: 'initContainers' | 'volumes', list: unknown[]) => {
    if (list.length === 0 && (created.has(`spec.${field}`) || !exact)) delete newSpec[field];
    else newSpec[field] = list;
  };
  keepList('initContainers', initContainers);
  keepList('volumes', volumes);

  const metadata: Record<string, unknown> = { ...(pod.metadata ?? {}) };
  const annotations = { ...(pod.metadata?.annotations ?? {}) };
  for (const key of SPLICE_ANNOTATIONS) delete annotations[key];
  if (status.defaultContainer) delete annotations[DEFAULT_CONTAINER_ANNOTATION];
  const labels = { ...(pod.metadata?.labels ?? {}) };
  delete labels[KEYS.injected];
  const keepMap = (field: 'annotations' | 'labels', map: Record<string, string>) => {
    if (Object.keys(map).length === 0 && (created.has(`metadata.${field}`) || !exact)) delete metadata[field];
    else metadata[field] = map;
  };
  keepMap('annotations', annotations);
  keepMap('labels', labels);
  return { result: 'uninjected', pod: { ...pod, metadata, spec: newSpec as Pod['spec'] } };
}
