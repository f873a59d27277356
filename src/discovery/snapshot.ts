// The answers discovery gives, kept ready: one JSON DiscoveryResponse per resource type,
// with a version that is the hash of its resources, so a proxy that already has them gets
// a bodiless 304 and every replica gives the same version for the same cluster state.
//
// Listeners and clusters are polled separately, and a listener whose cluster a proxy does
// not have closes every connection to its ClusterIP. So a cluster that leaves is still
// served for RETIRE_MS after its listener went, and a new listener is served only
// HOLD_MS after its cluster first was (except in the first answers of a replica, which
// all proxies that ask it take with their clusters, CDS before LDS, when they start).

import { createHash } from 'node:crypto';
import type { JsonObject } from '../inject/types.js';
import { CLUSTER_TYPE, LISTENER_TYPE, listenerCluster, type DiscoveryResources } from './resources.js';

export type ResourceKind = 'listeners' | 'clusters';
export const TYPE_URLS: Readonly<Record<ResourceKind, string>> = Object.freeze({ listeners: LISTENER_TYPE, clusters: CLUSTER_TYPE });

/** Longer than two polls with their jitter (bootstrap.ts, DISCOVERY_REFRESH_SECONDS). */
export const RETIRE_MS = 30_000;
/** Longer than one poll with its jitter (3 to 6 s) and the request: every proxy has the cluster by then. */
export const HOLD_MS = 10_000;

export interface DiscoveryAnswer {
  /** 200 with `body`, 304 (the proxy has this version), or 400 with `body` saying what is wrong. */
  status: 200 | 304 | 400;
  body?: string;
  version: string;
}

interface Prepared {
  version: string;
  body: string;
}

export class DiscoverySnapshot {
  #current: DiscoveryResources = { listeners: [], clusters: [] };
  readonly #retired = new Map<string, { cluster: JsonObject; until: number }>();
  /** Cluster name → when its listener may be served; only for clusters newer than the first update. */
  readonly #held = new Map<string, number>();
  #updates = 0;
  #prepared: Record<ResourceKind, Prepared> = { listeners: prepare('listeners', []), clusters: prepare('clusters', []) };

  /** Takes the resources of the cluster's state now; returns whether any answer changed. */
  update(next: DiscoveryResources, now = Date.now()): boolean {
    const kept = new Set(next.clusters.map((c) => String(c.name)));
    const known = new Set<string>();
    for (const cluster of this.#current.clusters) {
      const name = String(cluster.name);
      known.add(name);
      if (!kept.has(name) && !this.#retired.has(name)) this.#retired.set(name, { cluster, until: now + RETIRE_MS });
    }
    for (const name of kept) {
      this.#retired.delete(name);
      if (this.#updates > 0 && !known.has(name) && !this.#held.has(name)) this.#held.set(name, now + HOLD_MS);
    }
    for (const name of this.#held.keys()) if (!kept.has(name)) this.#held.delete(name);
    this.#updates += 1;
    this.#current = next;
    return this.#prepare(now);
  }

  /** The version each kind is at now. */
  versions(now = Date.now()): Record<ResourceKind, string> {
    this.#expire(now);
    return { listeners: this.#prepared.listeners.version, clusters: this.#prepared.clusters.version };
  }

  /**
   * The answer to one REST DiscoveryRequest (a parsed JSON body) for `kind`. Source: Envoy's
   * xDS protocol docs, "REST-JSON polling subscriptions", and its REST fetcher, which takes
   * 304 as "nothing new".
   */
  answer(kind: ResourceKind, request: unknown, now = Date.now()): DiscoveryAnswer {
    this.#expire(now);
    const prepared = this.#prepared[kind];
    const problem = requestProblem(kind, request);
    if (problem) return { status: 400, body: JSON.stringify({ message: problem }), version: prepared.version };
    const known = (request as { version_info?: string }).version_info;
    if (known === prepared.version) return { status: 304, version: prepared.version };
    return { status: 200, body: prepared.body, version: prepared.version };
  }

  #expire(now: number): void {
    let expired = false;
    for (const [name, r] of this.#retired) {
      if (r.until <= now) {
        this.#retired.delete(name);
        expired = true;
      }
    }
    for (const [name, until] of this.#held) {
      if (until <= now) {
        this.#held.delete(name);
        expired = true;
      }
    }
    if (expired) this.#prepare(now);
  }

  #prepare(now: number): boolean {
    const retired = [...this.#retired.values()].map((r) => r.cluster);
    const clusters = [...this.#current.clusters, ...retired].sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const listeners = this.#current.listeners.filter((l) => {
      const until = this.#held.get(listenerCluster(l) ?? '');
      return until === undefined || until <= now;
    });
    const next = { listeners: prepare('listeners', listeners), clusters: prepare('clusters', clusters) };
    const changed = next.listeners.version !== this.#prepared.listeners.version || next.clusters.version !== this.#prepared.clusters.version;
    this.#prepared = next;
    return changed;
  }
}

function prepare(kind: ResourceKind, resources: readonly JsonObject[]): Prepared {
  const text = JSON.stringify(resources);
  const version = createHash('sha256').update(text).digest('hex').slice(0, 16);
  return { version, body: `{"version_info":${JSON.stringify(version)},"type_url":${JSON.stringify(TYPE_URLS[kind])},"resources":${text}}` };
}

function requestProblem(kind: ResourceKind, request: unknown): string | undefined {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) return 'the body must be a JSON DiscoveryRequest object';
  const r = request as Record<string, unknown>;
  if (r.version_info !== undefined && typeof r.version_info !== 'string') return `version_info must be a string (got ${JSON.stringify(r.version_info)})`;
  if (r.type_url !== undefined && r.type_url !== TYPE_URLS[kind]) return `type_url ${JSON.stringify(r.type_url)} is not served here; this path serves ${TYPE_URLS[kind]}`;
  return undefined;
}
