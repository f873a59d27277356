// What `splice inject` and `splice explain` assume about the cluster they are not
// talking to: the config file, the namespace's labels and the Kubernetes version,
// all given as flags with the defaults the README states.

import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../inject/config.js';
import { DEFAULT_CONFIG, parseConfig } from '../inject/config.js';
import { KEYS } from '../inject/keys.js';
import type { ClusterFacts, NamespaceFacts } from '../inject/types.js';
import { UsageError } from './io.js';

export async function loadConfig(file: string | undefined): Promise<Config> {
  if (file === undefined) return DEFAULT_CONFIG;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--config: cannot read ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new UsageError(`--config: ${file} is not valid YAML: ${(e as Error).message}`);
  }
  return parseConfig(doc);
}

/** `k=v,k2=v2`; without the flag, the namespace counts as labeled splice.dev/inject=enabled. */
export function parseNamespaceLabels(value: string | undefined): Record<string, string> {
  if (value === undefined) return { [KEYS.inject]: 'enabled' };
  const labels: Record<string, string> = {};
  for (const item of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--namespace-labels: ${JSON.stringify(item)} is not key=value`);
    labels[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return labels;
}

export function parseKubeVersion(value: string | undefined): ClusterFacts {
  if (value === undefined) return {};
  const m = /^v?(\d+)\.(\d+)(?:\.\d+)?$/.exec(value.trim());
  if (!m) throw new UsageError(`--kube-version: ${JSON.stringify(value)} is not a version such as 1.33`);
  return { version: { major: Number(m[1]), minor: Number(m[2]) } };
}

export function namespaceFacts(name: string, labels: Record<string, string>): NamespaceFacts {
  return { name, labels, annotations: {} };
}
