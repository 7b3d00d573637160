// Prometheus text exposition for /metrics: counters and gauges with labels, and fixed-bucket histograms.
export type Labels = Record<string, string | number>;

const HELP: Record<string, { type: "counter" | "gauge" | "histogram"; help: string }> = {
  records_archived_total: { type: "counter", help: "Records stored as new objects" },
  bytes_archived_total: { type: "counter", help: "Value bytes of records stored as new objects" },
  duplicates_total: { type: "counter", help: "Records received again and recorded as receipts" },
  errors_total: { type: "counter", help: "Operations that failed (retried unless fatal)" },
  consumer_lag: { type: "gauge", help: "Records behind the end of the partition at the last fetch" },
  put_seconds: { type: "histogram", help: "Latency of one object PUT" },
  insert_seconds: { type: "histogram", help: "Latency of one multi-row index claim" },
  http_requests_total: { type: "counter", help: "HTTP requests answered by serve, by route and status" },
  http_bytes_sent_total: { type: "counter", help: "Body bytes sent by serve, by route" },
  http_request_seconds: { type: "histogram", help: "Time from a serve request to its response headers" },
  offloads_total: { type: "counter", help: "Oversized messages posted to serve, by outcome" },
  policy_refresh_total: { type: "counter", help: "Fetches of the topic policy from hopauth, by outcome" },
  policy_age_seconds: {
    type: "gauge",
    help: "Age of the topic policy in force (-1: none fetched yet); grows while hopauth is unreachable",
  },
  policy_stale: {
    type: "gauge",
    help: "1 while the last hopauth refresh failed and an older policy is in force",
  },
  quarantined_total: {
    type: "counter",
    help: "Records archived whose full index row PostgreSQL refused (see verify)",
  },
  resident_memory_bytes: { type: "gauge", help: "Resident set size of the process" },
  memory_collections_total: {
    type: "counter",
    help: "Full collections run to keep RSS under MEMORY_TARGET_MIB",
  },
  memory_collection_seconds_total: { type: "counter", help: "Time spent in those collections" },
};

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${String(v).replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`)}"`
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** What /metrics shows of private topics: their series, summed under this label value. */
export const PRIVATE_TOPIC = "(private)";

export interface MetricsOptions {
  /**
   * Topics whose names /metrics may show (the public ones: --public-topics). Anyone who can reach /metrics reads
   * it, and a private topic's name is not theirs to learn; its counts are summed under topic="(private)". Unset:
   * every name is shown (tests, tools that never serve /metrics).
   */
  showTopic?: (topic: string) => boolean;
}

export function createMetrics(prefix = "housekeeping_", options: MetricsOptions = {}) {
  const series = new Map<string, Map<string, number>>();
  // The labels behind each series key, so that render() can hide private topic names.
  const labelsOf = new Map<string, Labels>();
  const histograms = new Map<string, { counts: number[]; sum: number; count: number }>();
  const keyOf = (labels: Labels) => {
    const k = labelText(labels);
    if (!labelsOf.has(k)) labelsOf.set(k, labels);
    return k;
  };
  // A series as /metrics shows it: private topics' values summed under one label value.
  const shown = (m: Map<string, number>): Map<string, number> => {
    const { showTopic } = options;
    if (showTopic === undefined) return m;
    const out = new Map<string, number>();
    for (const [k, v] of m) {
      const labels = labelsOf.get(k) ?? {};
      const topic = labels.topic;
      const key = topic === undefined || showTopic(String(topic))
        ? k
        : labelText({ ...labels, topic: PRIVATE_TOPIC });
      out.set(key, (out.get(key) ?? 0) + v);
    }
    return out;
  };
  const cell = (name: string) => {
    let m = series.get(name);
    if (!m) series.set(name, m = new Map());
    return m;
  };
  return {
    inc(name: string, labels: Labels = {}, by = 1) {
      const m = cell(name);
      const k = keyOf(labels);
      m.set(k, (m.get(k) ?? 0) + by);
    },
    set(name: string, labels: Labels, value: number) {
      cell(name).set(keyOf(labels), value);
    },
    observe(name: string, value: number) {
      let h = histograms.get(name);
      if (!h) histograms.set(name, h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 });
      BUCKETS.forEach((b, i) => value <= b && h!.counts[i]!++);
      h.sum += value;
      h.count++;
    },
    get(name: string, labels: Labels = {}): number {
      return series.get(name)?.get(labelText(labels)) ?? 0;
    },
    render(): string {
      const out: string[] = [];
      const head = (name: string) => {
        const meta = HELP[name] ?? { type: "gauge", help: name };
        out.push(`# HELP ${prefix}${name} ${meta.help}`, `# TYPE ${prefix}${name} ${meta.type}`);
      };
      for (const [name, m] of series) {
        head(name);
        for (const [k, v] of shown(m)) out.push(`${prefix}${name}${k} ${v}`);
      }
      for (const [name, h] of histograms) {
        head(name);
        BUCKETS.forEach((b, i) => out.push(`${prefix}${name}_bucket{le="${b}"} ${h.counts[i]}`));
        out.push(
          `${prefix}${name}_bucket{le="+Inf"} ${h.count}`,
          `${prefix}${name}_sum ${h.sum}`,
          `${prefix}${name}_count ${h.count}`,
        );
      }
      return out.join("\n") + "\n";
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
