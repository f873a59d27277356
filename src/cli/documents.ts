// Reading and writing manifests for `splice inject` / `splice explain`: multi-document
// YAML or JSON in, the same format out, with comments and key order of untouched
// documents preserved where the yaml library can.

import { readFile } from 'node:fs/promises';
import { parseAllDocuments, stringify } from 'yaml';
import type { CliIO } from './io.js';
import { readAll, UsageError } from './io.js';

export interface Manifests {
  format: 'json' | 'yaml';
  docs: unknown[];
}

export async function readManifests(file: string | undefined, io: CliIO): Promise<Manifests> {
  if (file === undefined) throw new UsageError('-f FILE is required (use -f - for standard input)');
  let text: string;
  try {
    text = file === '-' ? await readAll(io.stdin) : await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return parseManifests(text, file === '-' ? 'standard input' : file);
}

export function parseManifests(text: string, source: string): Manifests {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      const value: unknown = JSON.parse(text);
      return { format: 'json', docs: Array.isArray(value) ? value : [value] };
    } catch {
      // Not JSON after all (YAML flow style starts with a brace too): fall through.
    }
  }
  // Merge keys (`<<: *defaults`) as kubectl reads them (YAML 1.1): a port or uid that
  // comes from a merged block must be seen by the checks, not kept as a "<<" key.
  const docs = parseAllDocuments(text, { merge: true });
  if (!Array.isArray(docs)) return { format: 'yaml', docs: [] };
  const out: unknown[] = [];
  for (const [i, doc] of docs.entries()) {
    if (doc.errors.length > 0) {
      throw new UsageError(`${source}: document ${i + 1} is not valid YAML: ${doc.errors[0]?.message ?? 'parse error'}`);
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return { format: 'yaml', docs: out };
}

export function writeManifests(m: Manifests): string {
  if (m.format === 'json') {
    const value = m.docs.length === 1 ? m.docs[0] : m.docs;
    return `${JSON.stringify(value, null, 2)}\n`;
  }
  return m.docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
}
