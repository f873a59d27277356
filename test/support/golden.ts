// Golden cases: test/testdata/golden/<case>.yaml is the input (a pod or workload, or a
// List), <case>.facts.yaml optionally says what the namespace, cluster and config are,
// and the expected results are <case>.decision.yaml (per pod: result, reasons,
// warnings) and, when something is injected, <case>.injected.yaml. UPDATE_GOLDEN=1
// rewrites the expected files from what the engine does now.
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import type { Config } from '../../src/inject/config.js';
import { DEFAULT_CONFIG, parseConfig } from '../../src/inject/config.js';
import type { ClusterFacts, NamespaceFacts } from '../../src/inject/types.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const GOLDEN_DIR = join(REPO, 'test/testdata/golden');
export const UPDATE = process.env.UPDATE_GOLDEN === '1';

export interface GoldenCase {
  name: string;
  input: unknown;
  namespace: NamespaceFacts;
  cluster: ClusterFacts;
  config: Config;
  decisionFile: string;
  injectedFile: string;
}

interface FactsFile {
  namespace?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  kubeVersion?: string;
  config?: unknown;
}

const SUFFIXES = ['.facts.yaml', '.decision.yaml', '.injected.yaml'];

export function goldenFiles(): string[] {
  return readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.yaml')).sort();
}

export function loadCases(): GoldenCase[] {
  const inputs = goldenFiles().filter((f) => !SUFFIXES.some((s) => f.endsWith(s)));
  return inputs.map((file) => {
    const name = file.slice(0, -'.yaml'.length);
    const factsPath = join(GOLDEN_DIR, `${name}.facts.yaml`);
    const facts: FactsFile = existsSync(factsPath) ? (parse(readFileSync(factsPath, 'utf8')) as FactsFile) ?? {} : {};
    const input: unknown = parse(readFileSync(join(GOLDEN_DIR, file), 'utf8'));
    const v = facts.kubeVersion?.split('.').map(Number);
    return {
      name,
      input,
      namespace: {
        name: facts.namespace?.name ?? 'shop',
        labels: facts.namespace?.labels ?? { 'splice.dev/inject': 'enabled' },
        annotations: facts.namespace?.annotations ?? {},
      },
      cluster: v && v.length >= 2 ? { version: { major: v[0] ?? 1, minor: v[1] ?? 0 } } : { version: { major: 1, minor: 33 } },
      config: facts.config === undefined ? DEFAULT_CONFIG : parseConfig(facts.config),
      decisionFile: join(GOLDEN_DIR, `${name}.decision.yaml`),
      injectedFile: join(GOLDEN_DIR, `${name}.injected.yaml`),
    };
  });
}

/** Compares with the expected file, or writes it under UPDATE_GOLDEN=1. Returns the expected value. */
export function expectFile(path: string, actual: unknown): unknown {
  if (UPDATE) {
    writeFileSync(path, stringify(actual, { lineWidth: 0 }));
    return actual;
  }
  if (!existsSync(path)) throw new Error(`missing golden file ${path}; run UPDATE_GOLDEN=1 npm test and review it`);
  return parse(readFileSync(path, 'utf8'));
}
