// What a run of `npm run bench` covers and how long it takes. The default is the full
// benchmark; SPLICE_BENCH_QUICK=1 shrinks every round, duration and count so the
// whole thing runs in about a minute while the benchmark itself is being worked on
// (its numbers are then only a smoke test).

export const QUICK = process.env.SPLICE_BENCH_QUICK === '1';

/**
 * The full run must end within 10 minutes; sections that can choose how much they
 * measure (the burst's second pair of runs) stay within this, counted from the start of
 * the process (`performance.now()`), with a margin for the table and teardown.
 */
export const RUN_BUDGET_MS = 570_000;

/** `full` normally, `quick` under SPLICE_BENCH_QUICK=1. */
export function size<T>(full: T, quick: T): T {
  return QUICK ? quick : full;
}

/** Section ids listed in SPLICE_BENCH_SKIP (comma-separated), e.g. `cluster,memory`. */
export function skippedSections(env: NodeJS.ProcessEnv = process.env): Set<string> {
  return new Set(
    (env.SPLICE_BENCH_SKIP ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );
}
