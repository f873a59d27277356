// The plain-HTTP operations port (CONVENTIONS: 9090): probes and metrics, kept off the
// webhook's HTTPS port so the kubelet and Prometheus need no certificate, and a probe
// never competes with admission traffic.
//
//   /healthz  200 while the process runs (liveness: restart only a wedged process)
//   /readyz   200 once every readiness check passes, else 503 naming what is missing
//   /metrics  the Prometheus exposition of splice's own registry

import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createLogger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface ReadinessCheck {
  /** What a person reads in the 503 body, e.g. "certificates". */
  name: string;
  ready(): boolean;
}

export interface OpsAppOptions {
  metrics: Metrics;
  checks: readonly ReadinessCheck[];
  logger?: Logger;
}

export function buildOpsApp(opts: OpsAppOptions): FastifyInstance {
  const loggerInstance: FastifyBaseLogger = (opts.logger ?? createLogger('silent')).child({ listener: 'ops' }, { level: 'warn' });
  // Probes arrive every few seconds: one log line each would drown the decisions.
  const app = fastify({ loggerInstance, logController: new LogController({ disableRequestLogging: true }), forceCloseConnections: true });

  app.get('/healthz', async (_request, reply) => reply.type('text/plain').send('ok\n'));

  app.get('/readyz', async (_request, reply) => {
    const missing = opts.checks.filter((c) => !safeReady(c)).map((c) => c.name);
    if (missing.length === 0) return reply.type('text/plain').send('ok\n');
    return reply.code(503).type('text/plain').send(`not ready: ${missing.join(', ')}\n`);
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await opts.metrics.registry.metrics();
    return reply.type(opts.metrics.registry.contentType).send(body);
  });

  return app;
}

function safeReady(check: ReadinessCheck): boolean {
  try {
    return check.ready();
  } catch {
    return false;
  }
}
