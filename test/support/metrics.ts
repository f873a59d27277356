// Reading one value out of a Prometheus text exposition (splice's /metrics).

/** The value of the first sample of `name` (with or without labels), or undefined. */
export function firstSample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}
