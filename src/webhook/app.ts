// The webhook as a fastify app: POST /inject takes an AdmissionReview and answers one.
// Built by a factory apart from the process entry point (server.ts, cli/serve.ts) so
// tests drive it with `app.inject()` and no socket. The decision itself is a function
// passed in (the engine, `injectPod`); this file is transport only: checking the
// request (body.ts, review.ts), having it decided (admit.ts), logging the decision once
// and counting it.

import type * as http2 from 'node:http2';
import type * as https from 'node:https';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../inject/config.js';
import type { InjectInput } from '../inject/engine.js';
import type { Decision } from '../inject/outcome.js';
import type { ClusterFacts } from '../inject/types.js';
import { admit, displayName, podNamespace } from './admit.js';
import { BODY_LIMIT, BadRequest, isJsonContentType, parseJsonBody } from './body.js';
import type { SkipEvents } from './skip-events.js';
import { discardBody } from './drain.js';
import { createLogger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { NamespaceSource } from './namespace-source.js';
import { ReviewError, allowed, answerText, needsDecision, parseReview, type AdmissionReview } from './review.js';

export { BODY_LIMIT } from './body.js';

/** What the engine is given: `request.object` exactly as sent, and the facts around it. */
export type DecideInput = InjectInput;

export type Decide = (input: DecideInput) => Decision;

export interface AppOptions {
  /** The engine: `injectPod` in production, small stand-ins in transport tests. */
  decide: Decide;
  namespaces: NamespaceSource;
  cluster: ClusterFacts;
  config: Config;
  metrics: Metrics;
  /** The process logger. Silent when absent. */
  logger?: Logger;
  /** Where skips of pods that should have been meshed are reported (Events on their owner); none when absent. */
  events?: SkipEvents;
}

export const WEBHOOK_PATH = '/inject';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function sendProblem(reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  return reply.code(statusCode).type('application/json').send({ statusCode, error: STATUS_TEXT[statusCode] ?? 'Error', message });
}

// fastify's own per-request lines ("incoming request", "request completed") go to
// debug: the webhook writes exactly one info line per decision, with what matters.
class QuietLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    request.log.debug({ res: reply, responseTime: reply.elapsedTime, err: error ?? undefined }, 'request completed');
  }
}

/**
 * How long an idle connection stays open, ms. Longer than the API server keeps an idle
 * connection to a webhook (Go's http.Transport IdleConnTimeout, 90 s, which the webhook
 * client keeps: kubernetes PR #82090): a server that closes first can close a connection
 * just as the API server sends a review on it, and that call fails.
 */
export const IDLE_TIMEOUT_MS = 120_000;

/** The API server gives a webhook call at most 30 s (timeoutSeconds' maximum). */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * On close, every open HTTP/2 connection is told to go away (GOAWAY): its streams in
 * flight finish, no new one starts, and the client reconnects elsewhere. Node 20 leaves
 * them open on server.close() (and fastify closes them only with forceCloseConnections),
 * so a client that keeps its connection busy, as an API server does, would hold the
 * shutdown until the kubelet's SIGKILL and meanwhile get 503s.
 */
function closeSessionsOnClose(app: FastifyInstance<http2.Http2SecureServer>): void {
  const sessions = new Set<http2.ServerHttp2Session>();
  app.server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  app.addHook('preClose', async () => {
    for (const session of sessions) session.close();
  });
}

function baseOptions(opts: AppOptions) {
  const loggerInstance: FastifyBaseLogger = opts.logger ?? createLogger('silent');
  return {
    loggerInstance,
    logController: new QuietLogController(),
    // No child logger per request: building one (bindings serialised up front) cost
    // more than writing the decision line. The decision line names the request by its
    // uid, which is what the API server's audit log knows it by, not fastify's reqId.
    childLoggerFactory: (logger: FastifyBaseLogger) => logger,
    bodyLimit: BODY_LIMIT,
    // The API server times out a webhook after at most 30 s; a request still open after
    // that is a stuck client, not an admission.
    requestTimeout: REQUEST_TIMEOUT_MS,
    return503OnClosing: true,
  };
}

/** The webhook app over plain HTTP (for `app.inject()` in tests). */
export function buildApp(opts: AppOptions): FastifyInstance {
  const app = fastify(baseOptions(opts));
  addRoutes(app, opts);
  return app;
}

/**
 * The webhook app on TLS, offering HTTP/2 and HTTP/1.1 over ALPN (RFC 7301): `app.server`
 * is node's http2.Http2SecureServer with `allowHTTP1` (see server.ts). An API server calls
 * a webhook on a loopback URL over HTTP/2 when it is offered (Kubernetes 1.30+, kubernetes
 * PR #122558): one connection carries every call, so a burst of pod creations costs one TLS
 * handshake instead of one per connection its pool opens. Through a Service it keeps
 * to HTTP/1.1 (kubernetes PR #82090), which this server speaks as before.
 */
export function buildHttpsApp(opts: AppOptions, tls: https.ServerOptions): FastifyInstance<http2.Http2SecureServer> {
  const app = fastify({ ...baseOptions(opts), http2: true, https: { ...tls, allowHTTP1: true }, http2SessionTimeout: IDLE_TIMEOUT_MS });
  // fastify copies neither keepAliveTimeout nor requestTimeout onto an HTTP/2 server (and
  // node's types show neither there), but its HTTP/1.1 connections (allowHTTP1) take them:
  // unset, an idle connection never times out and a request may take node's 300 s.
  const h1 = app.server as unknown as { keepAliveTimeout: number; requestTimeout: number };
  h1.keepAliveTimeout = IDLE_TIMEOUT_MS;
  h1.requestTimeout = REQUEST_TIMEOUT_MS;
  // An HTTP/2 stream idle that long is reset (node destroys a stream whose timeout has no listener).
  app.addHook('onRequest', async (request) => {
    if (request.raw.httpVersionMajor === 2) request.raw.setTimeout(REQUEST_TIMEOUT_MS);
  });
  closeSessionsOnClose(app as unknown as FastifyInstance<http2.Http2SecureServer>);
  // The routes use only what the HTTP/1.1 and HTTP/2 compatibility APIs share.
  addRoutes(app as unknown as FastifyInstance, opts);
  return app;
}

function addRoutes(app: FastifyInstance, opts: AppOptions): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(String(body)));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // Checked before the body is read, so a wrong client never makes fastify parse (or
  // buffer) a body it will refuse anyway. The API server always sends application/json.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'POST' || request.routeOptions.url !== WEBHOOK_PATH) return;
    if (!isJsonContentType(request.headers['content-type'])) {
      const got = request.headers['content-type'];
      return sendProblem(reply, 415, `Content-Type must be application/json, got ${got === undefined ? 'none' : JSON.stringify(got)}`);
    }
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = err.statusCode;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const message = `the body is larger than ${BODY_LIMIT} bytes`;
      request.log.info({ statusCode: 413 }, `refused request: ${message}`);
      // fastify asks to close the connection; closing with the body still arriving
      // resets it, and the client never reads the 413 (drain.ts).
      if (await discardBody(request.raw)) reply.removeHeader('connection');
      return sendProblem(reply, 413, message);
    }
    if (status !== undefined && status >= 400 && status < 500) {
      request.log.info({ statusCode: status }, `refused request: ${err.message}`);
      return sendProblem(reply, status, err.message);
    }
    request.log.error({ err }, 'unexpected error while answering a request');
    return sendProblem(reply, 500, 'splice failed to answer this request; see its logs');
  });

  app.post(WEBHOOK_PATH, async (request, reply) => {
    const started = process.hrtime.bigint();
    let review: AdmissionReview;
    try {
      review = parseReview(request.body);
    } catch (err) {
      if (err instanceof ReviewError) throw new BadRequest(400, err.message);
      throw err;
    }
    const req = review.request;
    const namespace = req.namespace ?? podNamespace(req.object);
    const log = request.log;
    const who = { uid: req.uid, namespace, kind: req.kind.kind, name: displayName(req) };

    if (!needsDecision(req)) {
      // Outside splice's rules (a misconfigured webhook, or a subresource): let it pass.
      log.debug({ ...who, operation: req.operation, subResource: req.subResource }, 'not a pod creation; allowed unchanged');
      opts.metrics.recordRequest('ignored', [], seconds(started));
      return reply.type('application/json').send(answerText(review, allowed()));
    }
    if (typeof req.object !== 'object' || req.object === null || Array.isArray(req.object)) {
      throw new BadRequest(400, 'request.object must be the Pod being created (a JSON object)');
    }
    if (namespace === undefined) throw new BadRequest(400, 'request.namespace is missing, and the pod names no metadata.namespace');

    const debug = opts.logger?.isLevelEnabled('debug') ?? false;
    if (debug) log.debug({ ...who, object: req.object }, 'pod as received');
    const outcome = await admit(opts, req, namespace);
    const durationSeconds = seconds(started);
    opts.metrics.recordRequest(outcome.result, outcome.reasons, durationSeconds);
    // One literal with every key (no spread of `who`): a spread object that then gets
    // more keys costs V8 a new hidden class per request.
    const line = {
      uid: who.uid,
      namespace: who.namespace,
      kind: who.kind,
      name: who.name,
      pod: who.name ?? '',
      result: outcome.result,
      reasons: outcome.reasons,
      durationMs: Math.round(durationSeconds * 1e6) / 1e3,
    };
    if (outcome.result === 'error') log.error({ ...line, error: outcome.error, answered: outcome.response.allowed ? 'allowed' : 'denied' }, 'admission decision');
    else log.info(line, 'admission decision');
    // Where the patch writes, not what: a value can be a whole app container, env and all.
    if (debug && outcome.response.patch !== undefined) log.debug({ ...who, patch: (outcome.patchOps as Array<{ op: string; path: string }> | undefined)?.map((o) => `${o.op} ${o.path}`) }, 'patch');
    // Sent as text with its media type set: fastify then writes it as it is.
    return reply.type('application/json').send(answerText(review, outcome.response));
  });
}

function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}
