// One pino logger for the process. Whole objects are logged only at debug, and even
// then values that may hold secrets are replaced: literal env values of containers
// (people do put tokens there), the requesting user's `extra` attributes (may carry
// credential IDs), and any Authorization header. Private keys are never logged at all.

import pino, { type DestinationStream, type Logger } from 'pino';

const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'];

const PROBES = ['readinessProbe', 'livenessProbe', 'startupProbe'];

export const REDACTED_PATHS = [
  ...CONTAINER_LISTS.map((list) => `object.spec.${list}[*].env[*].value`),
  ...CONTAINER_LISTS.map((list) => `pod.spec.${list}[*].env[*].value`),
  // A probe's headers may carry a token (Authorization); kubectl apply keeps the whole
  // object, env values included, in an annotation.
  ...['object', 'pod'].flatMap((root) => CONTAINER_LISTS.flatMap((list) => PROBES.map((probe) => `${root}.spec.${list}[*].${probe}.httpGet.httpHeaders`))),
  'object.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]',
  'pod.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]',
  'userInfo.extra',
  'req.headers.authorization',
  'req.headers.cookie',
];

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  const options = { level, base: { name: 'splice' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
