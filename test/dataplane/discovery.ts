// splice's discovery server (the code `splice serve` runs), in a namespace of the test
// mesh, answering the proxies with what it renders from Service, EndpointSlice and pod
// objects given here instead of watched: the cluster objects are the test's input, the
// server, its TLS and the rendering are splice's own.

import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiscoveryInput } from '../../src/discovery/resources.js';
import type { DiscoveryTls } from '../../src/discovery/server.js';
import { REPO } from '../support/golden.js';
import { startInNetns } from './netns.js';

const SCRIPT = `
const dist = process.argv[2];
const { renderDiscovery } = await import(dist + '/src/discovery/resources.js');
const { DiscoverySnapshot } = await import(dist + '/src/discovery/snapshot.js');
const { startDiscoveryServer } = await import(dist + '/src/discovery/server.js');
const { createLogger } = await import(dist + '/src/webhook/logger.js');
const { input, tls, host, port, trustDomain } = JSON.parse(await (await import('node:fs/promises')).readFile(process.argv[3], 'utf8'));
input.meshedPods = new Map(input.meshedPods);
const snapshot = new DiscoverySnapshot();
snapshot.update(renderDiscovery(input));
await startDiscoveryServer({ host, port, tls, snapshot, trustDomain, logger: createLogger('warn') });
console.log('ready');
`;

/** Starts the server in namespace `ns` on host:port; resolves once it listens. */
export async function startDiscoveryIn(ns: string, dir: string, o: { input: DiscoveryInput; tls: DiscoveryTls; host: string; port: number }): Promise<ChildProcess> {
  const script = join(dir, 'discovery.mjs');
  const data = join(dir, 'discovery.json');
  await writeFile(script, SCRIPT);
  await writeFile(data, JSON.stringify({ ...o, trustDomain: o.input.trustDomain, input: { ...o.input, meshedPods: [...o.input.meshedPods] } }), { mode: 0o600 });
  return startInNetns(ns, process.execPath, [script, join(REPO, 'dist'), data]);
}
