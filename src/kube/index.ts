// Everything serve needs from the API server, in one module so it can be loaded only
// when splice runs against a cluster (see serve.ts).
export { KubeAccessError, loadKubeConfig, serverVersion } from './client.js';
export { describeKubeError } from './errors.js';
export { clusterNamespaceSource } from './namespaces.js';
export { clusterWebhookTls } from './webhook-tls.js';
