// A bounded memo for pure renderings that every pod of a workload shares (the Envoy
// bootstrap, the SDS files): they depend only on namespace, service account and config,
// so a rollout of 1,000 replicas renders them once instead of 1,000 times. Bounded so a
// cluster with many service accounts cannot grow it without limit; the oldest entry
// goes first.
export function boundedMemo<V>(limit: number, compute: (key: string) => V): (key: string) => V {
  const cache = new Map<string, V>();
  return (key) => {
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const value = compute(key);
    if (cache.size >= limit) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    cache.set(key, value);
    return value;
  };
}
