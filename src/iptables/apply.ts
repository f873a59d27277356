// Installs rendered rules with iptables-restore / ip6tables-restore in the current
// network namespace (splice-init runs in the pod's). Spawned without a shell: the rule
// text goes on stdin, nothing is interpolated into a command line.
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RenderedRules } from './rules.js';

/** A restore that could not run or was refused; the message names the command and its stderr. */
export class ApplyError extends Error {
  override name = 'ApplyError';
}

// Another process holding the xtables lock (kubelet, a CNI plugin in the same netns)
// makes a restore fail at once unless it is told to wait.
const WAIT = '--wait=10';
// A restore is milliseconds of work; past this something is stuck and the init
// container should fail visibly rather than hold the pod forever.
const TIMEOUT_MS = 60_000;

interface RunResult {
  code: number | null;
  stderr: string;
}

function run(command: string, args: string[], input: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    // The child may exit before reading all of stdin (bad option); its exit status
    // and stderr say why, so a broken pipe here is not the error to report.
    child.stdin.on('error', () => {});
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ENOENT' ? `not found on PATH (${process.env.PATH ?? ''}); install iptables` : err.message;
      reject(new ApplyError(`${[command, ...args].join(' ')}: ${why}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const why = timedOut ? `still running after ${TIMEOUT_MS / 1000}s, killed` : `killed by ${signal ?? ''}`;
      if (signal !== null) stderr += `${stderr === '' ? '' : '\n'}${why}`;
      resolve({ code, stderr: stderr.trim() });
    });
    child.stdin.end(input);
  });
}

/** Runs one restore with the rule text on stdin; throws ApplyError naming the command and its stderr. */
export async function restore(command: string, input: string): Promise<void> {
  let args = [WAIT];
  let result = await run(command, args, input);
  // iptables before 1.6.2 has no --wait for restore; those builds still restore fine.
  if (result.code !== 0 && /unrecognized option '--wait/.test(result.stderr)) {
    args = [];
    result = await run(command, args, input);
  }
  if (result.code !== 0) {
    const cmd = [command, ...args].join(' ');
    throw new ApplyError(`${cmd} failed (exit ${result.code ?? 'none'}): ${result.stderr || '(no output on stderr)'}`);
  }
}

/**
 * Why this network namespace has no IPv6 to redirect, or undefined when it has.
 * `procSys` is where /proc/sys is mounted.
 */
export async function ipv6Unavailable(procSys = '/proc/sys'): Promise<string | undefined> {
  const dir = join(procSys, 'net/ipv6');
  try {
    await stat(dir);
  } catch {
    return `${dir} does not exist: the kernel has no IPv6`;
  }
  const flag = join(dir, 'conf/all/disable_ipv6');
  let value: string;
  try {
    value = (await readFile(flag, 'utf8')).trim();
  } catch {
    // Unknown state: installing the rules is the safe side (a failure is reported),
    // skipping could leave IPv6 traffic uncaptured without anyone knowing.
    return undefined;
  }
  return value === '1' ? `${flag} is 1: IPv6 is disabled in this network namespace` : undefined;
}

export interface ApplyLog {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const RESTORE = Object.freeze({ ipv4: 'iptables-restore', ipv6: 'ip6tables-restore' });

/**
 * Installs both rule sets; IPv6 is skipped, with the reason on stderr, where the namespace
 * has none or where `rules.ipv6` is undefined (IPv6 is not to be redirected).
 */
export async function applyRules(rules: RenderedRules, log: ApplyLog, procSys = '/proc/sys'): Promise<void> {
  await restore(RESTORE.ipv4, rules.ipv4);
  // The rules go to the log too: `kubectl logs -c splice-init` is where they are looked for.
  log.stdout(`IPv4: nat table installed with ${RESTORE.ipv4}\n${rules.ipv4}`);
  if (rules.ipv6 === undefined) {
    log.stderr(`IPv6: not redirected (--ipv6 false: the proxy does not listen on IPv6), ${RESTORE.ipv6} not run\n`);
    return;
  }
  const why = await ipv6Unavailable(procSys);
  if (why !== undefined) {
    log.stderr(`IPv6: skipped, ${RESTORE.ipv6} not run: ${why}\n`);
    return;
  }
  await restore(RESTORE.ipv6, rules.ipv6);
  log.stdout(`IPv6: nat table installed with ${RESTORE.ipv6}\n${rules.ipv6}`);
}
