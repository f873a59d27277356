// The benchmark's output: the machine it ran on, one table of every figure next to its
// target, and the same as JSON in bench/results/ (git-ignored) for comparing runs.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './figure.js';
import { RESULTS_DIR, ROOT } from './paths.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  date: string;
  commit?: string;
}

function cpuModel(): string {
  try {
    const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
    if (model) return model.trim();
  } catch {
    // not Linux: fall through
  }
  return cpus()[0]?.model ?? 'unknown';
}

function commit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty === '' ? head : `${head} (src/ modified)`;
  } catch {
    return undefined;
  }
}

export function machine(now: Date): Machine {
  const m: Machine = {
    cpu: cpuModel(),
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    date: now.toISOString(),
  };
  const c = commit();
  if (c !== undefined) m.commit = c;
  return m;
}

export function formatValue(f: Figure): string {
  const digits = Number.isInteger(f.value) ? 0 : Math.abs(f.value) >= 100 ? 0 : Math.abs(f.value) >= 10 ? 1 : Math.abs(f.value) >= 1 ? 2 : 3;
  const n = Number.isFinite(f.value) ? f.value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : String(f.value);
  return f.unit === '×' ? `${n}×` : `${n} ${f.unit}`;
}

const width = (s: string) => [...s].length;
const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - width(s)));
const padLeft = (s: string, n: number) => ' '.repeat(Math.max(0, n - width(s))) + s;

export function table(figures: readonly Figure[], errors: ReadonlyArray<{ section: string; error: string }>): string {
  const rows = figures.map((f) => [f.section, f.name, formatValue(f), f.target ?? '', f.met === undefined ? '' : f.met ? '✓' : '✗']);
  const head = ['section', 'figure', 'value', 'target', 'met'];
  const widths = head.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) => cells.map((c, i) => (i === 2 ? padLeft(c, widths[i] ?? 0) : pad(c, widths[i] ?? 0))).join('  ').trimEnd();
  const out = [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)];
  for (const e of errors) out.push(`${pad(e.section, widths[0] ?? 0)}  FAILED: ${e.error}`);
  const details = figures.filter((f) => f.detail).map((f) => `  ${f.section} / ${f.name}: ${f.detail}`);
  if (details.length > 0) out.push('', 'How each figure was measured:', ...details);
  return out.join('\n');
}

export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}; ${m.date}${m.commit ? `; splice ${m.commit}` : ''}`;
}

/** Writes the run to bench/results/<date>.json; returns the path. */
export function writeResults(report: object, now: Date): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  // The ISO date with ':' replaced, which some file systems and tools refuse in names.
  const file = join(RESULTS_DIR, `${now.toISOString().replace(/:/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
