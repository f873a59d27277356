// `splice serve`: the admission webhook. Everything is loaded and checked before the
// webhook listens (config, kubeconfig, certificates); afterwards certificates and
// namespaces change underneath it without a restart. Logs are JSON lines on stdout;
// start-up problems are plain sentences on stderr.
//
//   --local    no cluster: every namespace counts as enabled (the API server's
//              namespaceSelector is trusted), an in-memory certificate, unknown version
//   otherwise  kubeconfig or in-cluster account → /version, namespace informer, and the
//              certificate from the Secret splice-webhook-tls (or --tls-cert/--tls-key)

import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ConfigError, DEFAULT_CONFIG, ipv6Redirected, meshCidrList, parseConfig, type Config } from '../inject/config.js';
import { isIPv6Cidr } from '../iptables/options.js';
import { SPLICE_VERSION } from '../version.js';
import { DISCOVERY_PORT } from '../inject/bootstrap.js';
import { injectPod } from '../inject/engine.js';
import type { ClusterFacts } from '../inject/types.js';
// Loaded even for --local, which needs no cluster: the benchmark measures --local, and
// should measure the process splice is in a cluster. The ~65 MB of client code changes
// how often V8 collects the old generation (p99 at 1,000 reviews/s, one pinned core:
// 40-60 ms without it, ~10 ms with it).
import { clusterNamespaceSource } from '../kube/namespaces.js';
import { KubeAccessError, loadKubeConfig, serverVersion } from '../kube/client.js';
import { ownImage } from '../kube/own-image.js';
import { describeKubeError } from '../kube/errors.js';
import { clusterWebhookTls } from '../kube/webhook-tls.js';
import { OwnerEvents } from '../kube/owner-events.js';
import { TlsFileError, loadPairFiles, watchPairFiles } from '../tls/files.js';
import { notAfter, splitPem, type CertPair } from '../tls/generate.js';
import { localPki } from '../tls/local.js';
import { buildOpsApp } from '../webhook/health.js';
import { createLogger, type LogLevel } from '../webhook/logger.js';
import { createMetrics, type Metrics } from '../webhook/metrics.js';
import { trustingNamespaceSource, type NamespaceSource } from '../webhook/namespace-source.js';
import type { SkipEvents } from '../webhook/skip-events.js';
import { DEFAULT_METRICS_PORT, DEFAULT_PORT, listenHttp, startWebhookServer, type WebhookServer } from '../webhook/server.js';
import { loadConfig } from './context.js';
import type { CliIO } from './io.js';
import { UsageError } from './io.js';

export const SERVE_USAGE = `usage: splice serve [flags]

Runs the admission webhook: HTTPS on --port (path /inject), and plain HTTP on
--metrics-port with /healthz, /readyz and /metrics.

      --local                 no cluster: every namespace counts as enabled, and a
                              self-signed certificate is made in memory
      --port N                webhook port (default ${DEFAULT_PORT})
      --metrics-port N        probes and metrics port (default ${DEFAULT_METRICS_PORT})
      --host ADDR             address to listen on (default 0.0.0.0; 127.0.0.1 with --local;
                              :: for every IPv6 and IPv4 address, as an IPv6-only cluster needs)
      --log-level LEVEL       debug, info, warn or error (default info); debug logs every
                              review whole, with env values and credentials redacted
      --config FILE           splice config (YAML; default: built-in defaults)
      --tls-cert FILE         serving certificate (PEM), re-read when it changes
      --tls-key FILE          its private key (PEM); give both or neither
      --tls-poll-interval S   how often, in seconds, the certificate files or the Secrets
                              (splice-webhook-tls, and the mesh CA splice-ca) are re-read
                              for a rotated certificate (default 5 for files, 30 for Secrets)
      --no-identity-controller
                              do not run the identity controller (workload certificates
                              in the Secrets splice-identity-<sa>); another issuer must
                              then keep those Secrets
      --discovery-port N      service discovery port, HTTPS with mesh mTLS (default ${DISCOVERY_PORT});
                              not served with --local or proxy.serviceDiscovery: false

Unless --local, serve also tells the mesh's proxies the cluster's Services and their
meshed endpoints (service discovery), so a connection to a ClusterIP goes as mTLS.

Unless --local or --no-identity-controller, serve also runs the identity controller:
replicas elect a leader on the Lease splice-identity, and the leader keeps the mesh CA
(Secret splice-ca) and one certificate Secret per meshed service account.

Without --tls-cert/--tls-key (and without --local) the certificate is kept in the
Secret splice-webhook-tls of the injector namespace and its CA written into the
MutatingWebhookConfiguration splice.
`;

/** Test seams: the environment, and a signal that ends the server like SIGTERM does. */
export interface ServeDeps {
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

interface ServeFlags {
  local: boolean;
  port: number;
  metricsPort: number;
  host: string;
  config: string | undefined;
  tlsFiles: { cert: string; key: string } | undefined;
  tlsPollMs: number | undefined;
  identityController: boolean;
  discoveryPort: number;
  logLevel: LogLevel;
  help: boolean;
}

function port(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`${flag}: ${JSON.stringify(value)} is not a port (0-65535; 0 picks a free one)`);
  return Number(value);
}

const SERVE_LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

function logLevel(value: string | undefined): LogLevel {
  if (value === undefined) return 'info';
  if (!(SERVE_LOG_LEVELS as readonly string[]).includes(value)) throw new UsageError(`--log-level: ${JSON.stringify(value)} is not one of ${SERVE_LOG_LEVELS.join(', ')}`);
  return value as LogLevel;
}

function pollSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n < 0.05 || n > 3600) {
    throw new UsageError(`--tls-poll-interval: ${JSON.stringify(value)} is not a number of seconds from 0.05 to 3600`);
  }
  return Math.round(n * 1000);
}

export function parseServeFlags(argv: string[]): ServeFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        local: { type: 'boolean' },
        port: { type: 'string' },
        'metrics-port': { type: 'string' },
        host: { type: 'string' },
        config: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-poll-interval': { type: 'string' },
        'no-identity-controller': { type: 'boolean' },
        'discovery-port': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${SERVE_USAGE}`);
  }
  const local = values.local === true;
  const cert = values['tls-cert'];
  const key = values['tls-key'];
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together: give both or neither');
  const flags: ServeFlags = {
    local,
    port: port('--port', values.port, DEFAULT_PORT),
    metricsPort: port('--metrics-port', values['metrics-port'], DEFAULT_METRICS_PORT),
    host: values.host ?? (local ? '127.0.0.1' : '0.0.0.0'),
    config: values.config,
    tlsFiles: cert !== undefined && key !== undefined ? { cert, key } : undefined,
    tlsPollMs: pollSeconds(values['tls-poll-interval']),
    identityController: !local && values['no-identity-controller'] !== true,
    discoveryPort: port('--discovery-port', values['discovery-port'], DISCOVERY_PORT),
    logLevel: logLevel(values['log-level']),
    help: values.help === true,
  };
  if (flags.host.trim() === '') throw new UsageError('--host: must not be empty');
  if (flags.port !== 0 && flags.port === flags.metricsPort) throw new UsageError(`--port and --metrics-port must differ (both ${flags.port})`);
  for (const [name, other] of [['--port', flags.port], ['--metrics-port', flags.metricsPort]] as const) {
    if (flags.discoveryPort !== 0 && flags.discoveryPort === other) throw new UsageError(`--discovery-port and ${name} must differ (both ${other})`);
  }
  return flags;
}

/** Resolves when SIGTERM or SIGINT arrives (or `signal` aborts); a second signal then acts as usual. */
function shutdownRequested(signal: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      signal?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onTerm = () => done('SIGTERM');
    const onInt = () => done('SIGINT');
    const onAbort = () => done('abort');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    if (signal?.aborted) done('abort');
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The injector namespace: POD_NAMESPACE (where this pod really runs) wins over the config. */
function injectorNamespace(config: Config, env: NodeJS.ProcessEnv, logger: Logger): Config {
  const fromEnv = env.POD_NAMESPACE?.trim();
  if (!fromEnv || fromEnv === config.injectorNamespace) return config;
  logger.warn(
    { config: config.injectorNamespace, POD_NAMESPACE: fromEnv },
    'injectorNamespace in the config differs from the namespace splice runs in; using POD_NAMESPACE',
  );
  return Object.freeze({ ...config, injectorNamespace: fromEnv });
}

/**
 * The revision: SPLICE_REVISION (the pod's label splice.dev/revision, which the revision
 * overlay of the manifests sets) wins over the config, so one name in the overlay makes
 * the revision. Checked as the config key is.
 */
function revisionFromEnv(config: Config, env: NodeJS.ProcessEnv, logger: Logger): Config {
  const fromEnv = env.SPLICE_REVISION?.trim();
  if (!fromEnv || fromEnv === config.revision) return config;
  const checked = parseConfig({ revision: fromEnv }).revision;
  if (config.revision !== '') logger.warn({ config: config.revision, SPLICE_REVISION: fromEnv }, 'revision in the config differs from SPLICE_REVISION; using SPLICE_REVISION');
  return Object.freeze({ ...config, revision: checked });
}

function recordExpiry(metrics: Metrics, serving: CertPair, caBundle: string | undefined): void {
  metrics.recordCertificateExpiry('serving', notAfter(serving.cert));
  const ca = caBundle === undefined ? undefined : splitPem(caBundle)[0];
  if (ca) metrics.recordCertificateExpiry('ca', notAfter(ca));
}

/** Whether `image` is the shipped splice image (DEFAULT_CONFIG's repository), of any version. */
export function isShippedImage(image: string): boolean {
  const repository = DEFAULT_CONFIG.init.image.slice(0, DEFAULT_CONFIG.init.image.lastIndexOf(':'));
  return image.startsWith(`${repository}:`) || image.startsWith(`${repository}@`) || image === repository;
}

/** The tag of an image reference (`repo/name:tag`), or undefined for a digest or no tag. */
function imageTag(image: string): string | undefined {
  if (image.includes('@')) return undefined;
  const name = image.slice(image.lastIndexOf('/') + 1);
  const colon = name.lastIndexOf(':');
  return colon < 0 ? undefined : name.slice(colon + 1);
}

export async function serveCommand(argv: string[], io: CliIO, deps: ServeDeps = {}): Promise<number> {
  const flags = parseServeFlags(argv);
  if (flags.help) {
    io.stdout(SERVE_USAGE);
    return 0;
  }
  let config: Config;
  try {
    config = await loadConfig(flags.config);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    io.stderr(`splice serve: --config ${flags.config}: ${e.problems.length} problem(s):\n  ${e.problems.join('\n  ')}\n`);
    return 2;
  }

  const logger = createLogger(flags.logLevel, (await io.logDestination?.()) ?? { write: (line: string) => io.stdout(line) });
  const env = deps.env ?? process.env;
  config = injectorNamespace(config, env, logger);
  try {
    config = revisionFromEnv(config, env, logger);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    io.stderr(`splice serve: SPLICE_REVISION: ${e.problems.join('; ')}\n`);
    return 2;
  }
  const metrics = createMetrics();
  const stops: Array<() => unknown> = [];
  let namespaces: NamespaceSource | undefined;
  let events: SkipEvents | undefined;
  let server: WebhookServer | undefined;
  let stopping = false;

  // The operations port comes up first, so liveness answers while the rest starts and
  // /readyz says what start-up is still waiting for.
  const ops = buildOpsApp({
    metrics,
    logger,
    checks: [
      { name: 'certificates', ready: () => server !== undefined },
      { name: 'namespace cache', ready: () => namespaces?.ready() ?? false },
      { name: 'shutting down', ready: () => !stopping },
    ],
  });

  const fail = async (code: number, message: string): Promise<number> => {
    io.stderr(`splice serve: ${message}\n`);
    stopping = true;
    for (const stop of stops) await stop();
    await ops.close();
    return code;
  };

  let opsUrl: string;
  try {
    opsUrl = await listenHttp(ops, flags.host, flags.metricsPort);
  } catch (e) {
    return fail(1, `cannot listen on ${flags.host}:${flags.metricsPort} (--metrics-port): ${(e as Error).message}`);
  }

  let cluster: ClusterFacts = {};
  // Started once the webhook listens, so a certificate change always has a server to go to.
  const afterListen: Array<() => void> = [];
  const swap = (pair: CertPair, bundle?: string) => {
    server?.setCertificate(pair);
    recordExpiry(metrics, pair, bundle);
  };

  let certificate: { tls: CertPair; caBundle?: string };
  try {
    let kc: KubeConfig | undefined;
    if (flags.local) {
      namespaces = trustingNamespaceSource();
    } else {
      kc = loadKubeConfig();
      const apiServer = kc.getCurrentCluster()?.server;
      try {
        cluster = { version: await serverVersion(kc) };
      } catch (e) {
        return fail(1, `cannot reach the API server at ${apiServer}: ${describeKubeError(e)}`);
      }
      logger.info({ apiServer, version: `${cluster.version?.major}.${cluster.version?.minor}` }, 'connected to the API server');
      // init.image left at the shipped image follows the image this pod runs from, so
      // moving splice to another registry (kustomize images:) or version (a canary's
      // image, with the ConfigMap of the version before) moves splice-init with it.
      const podName = env.POD_NAME?.trim();
      if (podName && isShippedImage(config.init.image)) {
        const own = await ownImage(kc, config.injectorNamespace, podName);
        if ('error' in own) logger.warn({ error: own.error, image: config.init.image }, 'cannot read the image splice runs from; init.image stays at its default');
        else if (own.image !== config.init.image) {
          logger.info({ image: own.image }, 'init.image follows the image splice runs from (the config leaves it at its default)');
          config = Object.freeze({ ...config, init: Object.freeze({ ...config.init, image: own.image }) });
        }
      }
      const source = clusterNamespaceSource(kc, logger);
      namespaces = source;
      const recorder = new OwnerEvents({ api: kc.makeApiClient(CoreV1Api), logger, instance: env.POD_NAME?.trim() || hostname() });
      events = recorder;
      stops.push(() => recorder.stop());
      stops.push(() => source.stop());
      // Not awaited: the webhook may answer before the first list (misses are a GET);
      // /readyz reports the cache until it has synced.
      void source.start();
      if (flags.identityController) {
        // Loaded only here: --local and --no-identity-controller never need it.
        const { startIdentityController } = await import('../kube/identity.js');
        const identity = startIdentityController(kc, {
          config,
          namespaces: source,
          metrics,
          logger,
          ...(flags.tlsPollMs !== undefined ? { caPollMs: flags.tlsPollMs } : {}),
        });
        stops.push(() => identity.stop());
      }
      if (config.proxy.serviceDiscovery) {
        const { startDiscovery } = await import('../kube/discovery.js');
        const discovery = startDiscovery(kc, {
          config,
          host: flags.host,
          port: flags.discoveryPort,
          serviceAccount: env.POD_SERVICE_ACCOUNT?.trim() || 'splice',
          logger,
          ...(flags.tlsPollMs !== undefined ? { caPollMs: flags.tlsPollMs } : {}),
        });
        stops.push(() => discovery.stop());
      }
    }

    if (flags.tlsFiles) {
      const files = flags.tlsFiles;
      const tls = await loadPairFiles(files.cert, files.key);
      certificate = { tls };
      afterListen.push(() => {
        const stopWatching = watchPairFiles({
          certFile: files.cert,
          keyFile: files.key,
          current: tls,
          ...(flags.tlsPollMs !== undefined ? { intervalMs: flags.tlsPollMs } : {}),
          onReload: (pair) => {
            swap(pair);
            logger.info({ notAfter: notAfter(pair.cert).toISOString() }, 'serving the new certificate from --tls-cert/--tls-key');
          },
          onError: (err) => logger.error({ err: err.message }, 'new certificate files are unusable; still serving the previous certificate'),
        });
        stops.push(stopWatching);
      });
    } else if (kc === undefined) {
      const pki = await localPki(config.injectorNamespace);
      certificate = { tls: pki.serving, caBundle: pki.ca.cert };
      io.stderr(`splice serve --local: the webhook's certificate is signed by this CA (e.g. curl --cacert):\n${pki.ca.cert}`);
    } else {
      const manager = clusterWebhookTls(kc, {
        namespace: config.injectorNamespace,
        revision: config.revision,
        logger,
        onChange: (m) => swap(m.serving, m.caBundle),
        ...(flags.tlsPollMs !== undefined ? { pollIntervalMs: flags.tlsPollMs } : {}),
      });
      const material = await manager.ensure();
      certificate = { tls: material.serving, caBundle: material.caBundle };
      stops.push(() => manager.stop());
      afterListen.push(() => manager.start());
    }
  } catch (e) {
    if (e instanceof TlsFileError) return fail(2, e.message);
    return fail(1, e instanceof KubeAccessError || e instanceof Error ? e.message : String(e));
  }

  recordExpiry(metrics, certificate.tls, certificate.caBundle);
  try {
    server = await startWebhookServer({
      app: { decide: injectPod, namespaces, cluster, config, metrics, logger, ...(events ? { events } : {}) },
      tls: certificate.tls,
      host: flags.host,
      port: flags.port,
    });
  } catch (e) {
    return fail(1, `cannot listen on ${flags.host}:${flags.port} (--port): ${(e as Error).message}`);
  }
  for (const start of afterListen) start();
  logger.info(
    {
      webhook: `${server.url}/inject`,
      healthz: `${opsUrl}/healthz`,
      readyz: `${opsUrl}/readyz`,
      metrics: `${opsUrl}/metrics`,
      mode: flags.local ? 'local' : 'cluster',
      injectorNamespace: config.injectorNamespace,
      certificate: flags.tlsFiles ? 'files' : flags.local ? 'in-memory' : 'secret',
      meshCidrs: config.proxy.meshCidrs,
    },
    'splice listening',
  );
  // Said once at start, where an operator reads the configuration back: a mesh that
  // encrypts nothing outbound looks healthy in every other way.
  if (config.proxy.meshCidrs.trim() === '') {
    logger.warn('proxy.meshCidrs is empty: injected proxies give no outbound connection mTLS (inbound still accepts it); set it to the pod CIDRs');
  }
  // splice-init runs with the flags this version writes into the pod; an image of another
  // version may refuse them (0.1.0 does not know --ipv6), and then every new pod fails.
  const initTag = imageTag(config.init.image);
  if (initTag !== undefined && initTag !== SPLICE_VERSION) {
    logger.warn({ image: config.init.image, version: SPLICE_VERSION }, `init.image is not splice ${SPLICE_VERSION}'s image: splice-init may refuse the flags this version gives it; use the splice image of the same version`);
  }
  const v6Mesh = meshCidrList(config.proxy.meshCidrs).filter(isIPv6Cidr);
  if (v6Mesh.length > 0 && !ipv6Redirected(config)) {
    logger.warn({ meshCidrs: v6Mesh }, 'proxy.ipv6 is disabled, so IPv6 connections bypass the proxy: the IPv6 mesh CIDRs get no mTLS; set proxy.ipv6 to auto or enabled');
  }

  const why = await shutdownRequested(deps.signal);
  // Graceful: /readyz turns 503 so no new traffic is routed here, the webhook stops
  // accepting connections and finishes the requests in flight, then everything stops.
  logger.info({ signal: why }, 'shutting down');
  stopping = true;
  for (const stop of stops) await stop();
  await server.close();
  await ops.close();
  logger.info('stopped');
  return 0;
}
