// Child processes of the benchmark: servers and load generators, each pinned to a core
// so that a server and the load it is measured under never share one, and so that
// the ceiling and splice run under the same conditions. Every child is registered and
// killed when the benchmark exits, however it exits.

import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';

/** The core servers run on; load generators run on the other one. */
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of live) child.kill('SIGKILL');
    process.exit(130);
  });
}

let tasksetChecked: boolean | undefined;
function hasTaskset(): boolean {
  tasksetChecked ??= spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return tasksetChecked;
}

/** The command line that runs `command args` on `core` (taskset execs, so the pid stays the command's). */
export function pinned(core: number, command: string, args: string[]): [string, string[]] {
  if (!hasTaskset()) return [command, args];
  return ['taskset', ['-c', String(core), command, ...args]];
}

export function pinningNote(): string {
  return hasTaskset() ? `servers on core ${SERVER_CORE}, load on core ${LOAD_CORE} (taskset)` : 'taskset missing: processes not pinned';
}

export interface Child {
  process: ChildProcess;
  pid: number;
  /** Everything written to stderr so far (kept short). */
  stderr(): string;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

export function start(core: number, command: string, args: string[], stdio: StdioOptions = ['ignore', 'pipe', 'pipe'], pin = true): Child {
  const [cmd, argv] = pin ? pinned(core, command, args) : [command, args];
  const child = spawn(cmd, argv, { stdio });
  live.add(child);
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (err.length < 64 * 1024) err += chunk;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    });
    child.once('error', () => {
      live.delete(child);
      resolve(null);
    });
  });
  if (child.pid === undefined) throw new Error(`cannot start ${command}`);
  return {
    process: child,
    pid: child.pid,
    stderr: () => err,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Runs a child to completion and returns the last JSON line of its stdout. Killed
 * after `timeoutMs`: every load run ends by itself, this is the guard if it does not.
 */
export async function runJson(core: number, command: string, args: string[], timeoutMs: number): Promise<{ value: unknown; cpuSeconds: number }> {
  const child = start(core, command, args);
  let out = '';
  child.process.stdout?.setEncoding('utf8');
  child.process.stdout?.on('data', (chunk: string) => {
    out += chunk;
  });
  const cpu = sampleCpu(child.pid);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  const lines = out.trim().split('\n').filter((l) => l.startsWith('{'));
  const last = lines[lines.length - 1];
  if (code !== 0 || last === undefined) {
    throw new Error(`${command} ${args.join(' ')} exited with ${code ?? 'a signal'}${code === null ? ` (killed after ${timeoutMs} ms?)` : ''}: ${child.stderr().slice(-2000)}`);
  }
  return { value: JSON.parse(last) as unknown, cpuSeconds: cpu.stop() };
}

/**
 * Follows the CPU time of a child that will exit (its /proc entry goes with it): the
 * last sample before it exits stands, at most 250 ms short.
 */
export function sampleCpu(pid: number): { stop(): number } {
  let last = 0;
  const take = () => {
    try {
      last = cpuSeconds(pid);
    } catch {
      // exited between two samples; the last one stands
    }
  };
  const timer = setInterval(take, 250);
  return {
    stop() {
      take();
      clearInterval(timer);
      return last;
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Resident set size of a process, from /proc/<pid>/status (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

// USER_HZ is 100 on every Linux Node supports.
const CLOCK_TICKS = 100;

/** CPU time (user + system) a process has used so far, in seconds, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU time every process on the machine has used so far (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal …
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy / CLOCK_TICKS;
}

/** `foreignLoad`'s result in words, flagged when it is enough to move the figures. */
export function foreignNote(share: number): string {
  const pct = `${Math.round(share * 100)}%`;
  return share > 0.1 ? `other processes used ${pct} of a core meanwhile: DISTURBED, compare with care` : `other processes used ${pct} of a core meanwhile`;
}

/**
 * What else ran on the machine during a measurement: CPU used by every process minus
 * the benchmark's own (this process and the children the caller accounts for), as a
 * share of one core. On a shared two-core machine, a figure taken while this is high
 * is not comparable with one taken while it is near zero.
 */
export function foreignLoad(): { end(childrenCpuSeconds: number): number } {
  const busy = machineBusySeconds();
  const own = process.cpuUsage();
  const started = performance.now();
  return {
    end(childrenCpuSeconds) {
      const ownUsage = process.cpuUsage(own);
      const ownSeconds = (ownUsage.user + ownUsage.system) / 1e6;
      const seconds = (performance.now() - started) / 1000;
      return Math.max(0, machineBusySeconds() - busy - ownSeconds - childrenCpuSeconds) / seconds;
    },
  };
}
