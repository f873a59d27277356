// A bounded memo for pure renderings that every pod of a workload shares (the proxy's
// bootstrap input and SDS files, the containers and volumes splice adds, the parsed overrides): they
// depend only on namespace, service account, annotations and config, so a rollout of
// 1,000 replicas renders them once instead of 1,000 times. Bounded so a cluster with
// many service accounts cannot grow it without limit; the least recently used entry
// goes first, so a busy workload stays cached while a burst of one-off pods passes.
export class BoundedMemo<V> {
  private readonly cache = new Map<string, V>();

  constructor(private readonly limit: number) {}

  /** The value for `key`; `compute` runs only on a miss, and must depend on nothing the key does not name. */
  get(key: string, compute: () => V): V {
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      // A Map iterates in insertion order: moving the key to the end marks it recent.
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const value = compute();
    if (this.cache.size >= this.limit) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(key, value);
    return value;
  }
}

/** The value `map` holds for `key`, made and stored first if there is none (an unbounded cache: for keys that are few by nature). */
export function getOrCreate<K, V>(map: { get(key: K): V | undefined; set(key: K, value: V): unknown }, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

/** A memo whose values are computed from the key alone. */
export function boundedMemo<V>(limit: number, compute: (key: string) => V): (key: string) => V {
  const memo = new BoundedMemo<V>(limit);
  return (key) => memo.get(key, () => compute(key));
}
