// Network namespaces for dataplane tests: created with unique names, always deleted,
// and every command run with a time limit so a wedged kernel call fails the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const COMMAND_TIMEOUT_MS = 15_000;

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; never throws for a non-zero exit (callers assert). */
export function run(command: string, args: string[]): Result {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (r.error !== undefined) throw new Error(`${command} ${args.join(' ')}: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed. */
export function must(command: string, args: string[]): string {
  const r = run(command, args);
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

let checked: string | undefined;

/**
 * Throws, naming what is missing, unless this is root with iproute2, iptables and
 * setpriv: these tests prove real kernel behaviour and must not pass without it.
 */
export function requireDataplane(): void {
  if (checked === undefined) {
    const missing: string[] = [];
    if (process.getuid?.() !== 0) missing.push('root (run as uid 0)');
    for (const [tool, pkg] of [['ip', 'iproute2'], ['iptables-restore', 'iptables'], ['ip6tables-restore', 'iptables'],
      ['iptables-save', 'iptables'], ['ip6tables-save', 'iptables'], ['setpriv', 'util-linux']] as const) {
      if (spawnSync('sh', ['-c', 'command -v "$0"', tool]).status !== 0) missing.push(`${tool} (apt-get install -y ${pkg})`);
    }
    checked = missing.length === 0 ? '' : `dataplane tests need: ${missing.join(', ')}`;
  }
  if (checked !== '') throw new Error(checked);
}

let counter = 0;

/** A fresh namespace with lo up; the caller deletes it with deleteNetns in a finally. */
export function createNetns(label: string): string {
  const name = `splice-${label}-${process.pid}-${counter++}`;
  must('ip', ['netns', 'add', name]);
  try {
    must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    deleteNetns(name);
    throw err;
  }
  return name;
}

export function deleteNetns(name: string): void {
  run('ip', ['netns', 'del', name]);
}

/** Runs a command inside a namespace. */
export function inNetns(ns: string, command: string, args: string[]): Result {
  return run('ip', ['netns', 'exec', ns, command, ...args]);
}

/**
 * Starts a long-running process inside a namespace and resolves once it prints
 * `ready`; `ip netns exec` execs the command, so killing the child ends it.
 */
export async function startInNetns(ns: string, command: string, args: string[]): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${command} in ${ns} not ready after 10s: ${stderr}`)), 10_000);
      lines.on('line', (line) => {
        if (line === 'ready') {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${command} in ${ns} exited ${code} before ready: ${stderr}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** Ends a process started by startInNetns and waits for it to go. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}
