// One measured figure of `npm run bench`, next to its target. Every section of the
// benchmark returns a list of these; bench/run.ts prints them as one table and writes
// them to bench/results/<date>.json.
export interface Figure {
  /** Section, e.g. "throughput", "latency", "pod size", "memory", "engine", "burst". */
  section: string;
  /** What was measured, e.g. "p99 at 1,000 req/s". */
  name: string;
  value: number;
  unit: string;
  /** The target, as text ("≤ 5 ms"), or undefined for an informative figure. */
  target?: string;
  /** Whether the target is met; undefined for informative figures. */
  met?: boolean;
  /** How it was measured, or why it is what it is (shown under the table). */
  detail?: string;
}
