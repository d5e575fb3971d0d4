/** The operator's Prometheus metrics (names per the Prometheus naming guide: base units, _total). */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<"kind" | "result">;
  reconcileDuration: Histogram<"kind">;
  queueDepth: Gauge<"queue">;
  queueRetries: Counter<"queue">;
  informerRestarts: Counter<"informer">;
  artifactFetches: Counter<"source" | "result">;
  artifactVerifications: Counter<"result">;
  statusWrites: Counter<"kind">;
  tofuPins: Counter<"result">;
  skills: Gauge<"state">;
  webhookReviews: Counter<"webhook" | "result">;
  webhookDuration: Histogram<"webhook">;
}

export function createMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "palyra_operator_" });
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({
      name: "palyra_reconcile_total",
      help: "Reconciles by kind and result (success, requeue, conflict, error).",
      labelNames: ["kind", "result"],
      registers,
    }),
    reconcileDuration: new Histogram({
      name: "palyra_reconcile_duration_seconds",
      help: "Time spent in one reconcile.",
      labelNames: ["kind"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    }),
    queueDepth: new Gauge({
      name: "palyra_workqueue_depth",
      help: "Keys waiting in a work queue.",
      labelNames: ["queue"],
      registers,
    }),
    queueRetries: new Counter({
      name: "palyra_workqueue_retries_total",
      help: "Keys requeued with backoff.",
      labelNames: ["queue"],
      registers,
    }),
    informerRestarts: new Counter({
      name: "palyra_informer_restarts_total",
      help: "List/watch restarts after an error other than 410 Gone.",
      labelNames: ["informer"],
      registers,
    }),
    artifactFetches: new Counter({
      name: "palyra_artifact_fetches_total",
      help: "Artifact downloads and ConfigMap/Secret reads, by source kind and result.",
      labelNames: ["source", "result"],
      registers,
    }),
    artifactVerifications: new Counter({
      name: "palyra_artifact_verifications_total",
      help: "Artifacts verified (signature, integrity, contents), by result.",
      labelNames: ["result"],
      registers,
    }),
    statusWrites: new Counter({
      name: "palyra_status_writes_total",
      help: "Status subresource writes, by kind.",
      labelNames: ["kind"],
      registers,
    }),
    tofuPins: new Counter({
      name: "palyra_tofu_pins_total",
      help: "Trust-On-First-Use pin attempts, by result (pinned, conflict).",
      labelNames: ["result"],
      registers,
    }),
    skills: new Gauge({
      name: "palyra_skills",
      help: "Skills by state, as last written to status.",
      labelNames: ["state"],
      registers,
    }),
    webhookReviews: new Counter({
      name: "palyra_webhook_reviews_total",
      help: "AdmissionReviews answered, by webhook and result (allowed, denied, warned, error).",
      labelNames: ["webhook", "result"],
      registers,
    }),
    webhookDuration: new Histogram({
      name: "palyra_webhook_review_duration_seconds",
      help: "Time to answer one AdmissionReview inside the webhook.",
      labelNames: ["webhook"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers,
    }),
  };
}
