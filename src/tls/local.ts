// `splice serve --local`: a CA and serving certificate made in memory at start and
// never written anywhere; the CA is printed so a caller can trust it.

import { generateCA, generateServing, type CertPair } from './generate.js';

export interface LocalPki {
  ca: CertPair;
  serving: CertPair;
}

export async function localPki(namespace = 'splice-system', now: Date = new Date()): Promise<LocalPki> {
  const ca = await generateCA(now);
  const serving = await generateServing(ca, namespace, now);
  return { ca, serving };
}
