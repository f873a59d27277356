// splice's Prometheus series (CONVENTIONS: prefixed `splice_`, served on /metrics of the
// HTTP port). A registry of its own rather than prom-client's global one, so two apps
// in one process (tests, or a future second listener) never collide or share counts.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { getOrCreate } from '../inject/memo.js';
import type { ReasonId } from '../inject/reasons.js';

/** What a request came to: the engine's three results, plus splice's own failures and out-of-scope requests. */
export type RequestResult = 'inject' | 'skip' | 'deny' | 'error' | 'ignored';

/** The identity controller's series (src/kube/identity-controller.ts). */
export interface IdentityMetrics {
  issued(): void;
  renewed(): void;
  failed(): void;
  /** Where the scrape reads the earliest expiry (ms since the epoch) and the leader status from. */
  observe(source: { earliestExpiry(): number | undefined; isLeader(): boolean }): void;
}

export interface Metrics {
  registry: Registry;
  identity: IdentityMetrics;
  /** Counts one request: one increment per reason ID, or one with reason "none". */
  recordRequest(result: RequestResult, reasons: readonly ReasonId[], seconds: number): void;
  /** Publishes when a certificate in use stops being valid. */
  recordCertificateExpiry(certificate: 'serving' | 'ca', notAfter: Date): void;
  /**
   * Counts one completed TLS handshake on the webhook port: whether the client resumed a
   * session (RFC 8446 section 2.2; a ticket or an ID) or made a full handshake, and the
   * application protocol it chose (ALPN, RFC 7301; "none" when it offered none).
   */
  recordHandshake(resumed: boolean, protocol: string): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'splice_injection_requests_total',
    help: 'Admission requests answered, by result and by reason ID (one increment per reason; "none" when there was none).',
    labelNames: ['result', 'reason'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'splice_injection_duration_seconds',
    help: 'Time from a parsed AdmissionReview to its answer.',
    labelNames: ['result'] as const,
    // A decision is pure computation (well under a millisecond); a namespace GET on a
    // cache miss adds an API round trip. The API server's default webhook timeout is
    // 10 s and splice's manifests set far less, so nothing useful lies beyond 1 s.
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const expiry = new Gauge({
    name: 'splice_certificate_expiry_timestamp_seconds',
    help: 'When the certificate in use expires (Unix seconds), by certificate: the serving certificate, or the CA the API server trusts.',
    labelNames: ['certificate'] as const,
    registers: [registry],
  });
  const handshakes = new Counter({
    name: 'splice_webhook_tls_handshakes_total',
    help: 'TLS handshakes completed on the webhook port, by session (new: a full handshake; resumed) and application protocol (ALPN).',
    labelNames: ['session', 'protocol'] as const,
    registers: [registry],
  });
  collectDefaultMetrics({ register: registry, prefix: 'splice_' });
  const identity = identityMetrics(registry);

  // Every request touches these series; looking a labelled series up by its label
  // object hashes the labels each time, so each series is looked up once and kept.
  const requestSeries = new Map<string, { inc(): void }>();
  const durationSeries = new Map<RequestResult, { observe(v: number): void }>();
  const countRequest = (result: RequestResult, reason: string) =>
    getOrCreate(requestSeries, `${result} ${reason}`, () => requests.labels({ result, reason })).inc();

  return {
    registry,
    identity,
    recordRequest(result, reasons, seconds) {
      if (reasons.length === 0) countRequest(result, 'none');
      else for (const reason of reasons.length === 1 ? reasons : new Set(reasons)) countRequest(result, reason);
      getOrCreate(durationSeries, result, () => duration.labels({ result })).observe(seconds);
    },
    recordCertificateExpiry(certificate, notAfter) {
      expiry.set({ certificate }, Math.floor(notAfter.getTime() / 1000));
    },
    recordHandshake(resumed, protocol) {
      handshakes.inc({ session: resumed ? 'resumed' : 'new', protocol });
    },
  };
}

function identityMetrics(registry: Registry): IdentityMetrics {
  const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] });
  const issued = counter('splice_identity_certificates_issued_total', 'Workload certificates issued for a Secret that was missing or had been edited.');
  const renewed = counter('splice_identity_certificates_renewed_total', 'Workload certificates renewed: two thirds of the lifetime passed, the CA changed, or the lifetime was shortened.');
  const failed = counter('splice_identity_certificate_failures_total', 'Failed identity Secret writes (each is retried), and every read of a mesh CA Secret that cannot be read or cannot sign.');
  let source: { earliestExpiry(): number | undefined; isLeader(): boolean } | undefined;
  new Gauge({
    name: 'splice_identity_earliest_expiry_seconds',
    help: 'Seconds until the first identity Secret certificate expires (negative: already expired); absent while there is none.',
    registers: [registry],
    collect() {
      this.reset();
      const t = source?.earliestExpiry();
      if (t !== undefined) this.set((t - Date.now()) / 1000);
    },
  });
  new Gauge({
    name: 'splice_identity_leader',
    help: '1 while this replica leads (and is the one writing identity Secrets), else 0.',
    registers: [registry],
    collect() {
      this.set(source?.isLeader() ? 1 : 0);
    },
  });
  return {
    issued: () => issued.inc(),
    renewed: () => renewed.inc(),
    failed: () => failed.inc(),
    observe: (s) => {
      source = s;
    },
  };
}
