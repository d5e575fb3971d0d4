/**
 * The operator's Prometheus metrics. Names follow the Prometheus naming guide: a `palyra_`
 * namespace, the subsystem next, base units (seconds, bytes), `_total` on counters, and labels
 * whose values come from small fixed sets (never a user-supplied string without a bound).
 * The README's "Metrics" table says what each one means.
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface OperatorMetrics {
  registry: Registry;
  skillReconciles: Counter<"result">;
  skillReconcileDuration: Histogram;
  policyReconciles: Counter<"result">;
  policyReconcileDuration: Histogram;
  queueDepth: Gauge<"queue">;
  queueRetries: Counter<"queue">;
  informerRestarts: Counter<"informer">;
  informerRelists: Counter<"informer">;
  artifactFetches: Counter<"source" | "result">;
  artifactFetchBytes: Counter<"source">;
  artifactFetchDuration: Histogram<"source">;
  artifactFetchErrors: Counter<"source" | "code">;
  artifactCacheLookups: Counter<"result">;
  artifactCacheEntries: Gauge;
  artifactCacheBytes: Gauge;
  artifactInflightBytes: Gauge;
  artifactFetchesRunning: Gauge;
  deliveryVerifiedBytes: Gauge;
  deliveryPods: Gauge;
  deliveryStalePods: Gauge<"namespace">;
  deliveryEvictions: Counter<"result">;
  skillVerifications: Counter<"result">;
  statusWrites: Counter<"kind">;
  statusRestores: Counter;
  admissionShed: Counter<"reason">;
  tofuPins: Counter<"result">;
  tofuMismatches: Counter;
  reportWrites: Counter<"result">;
  skills: Gauge<"state" | "namespace">;
  admissionReviews: Counter<"webhook" | "operation" | "kind" | "result">;
  admissionDuration: Histogram<"operation" | "kind" | "allowed">;
  apiRequests: Counter<"verb" | "code">;
  apiRequestDuration: Histogram<"verb">;
  leading: Gauge;
  leaderTransitions: Counter;
}

export function createMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "palyra_operator_" });
  const registers = [registry];
  const reconcileBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];
  return {
    registry,
    skillReconciles: new Counter({
      name: "palyra_skill_reconciles_total",
      help: "Skill reconciles by result (success, requeue, conflict, error, not_leader).",
      labelNames: ["result"],
      registers,
    }),
    skillReconcileDuration: new Histogram({
      name: "palyra_skill_reconcile_duration_seconds",
      help: "Time spent in one Skill reconcile, artifact fetch and verification included.",
      buckets: reconcileBuckets,
      registers,
    }),
    policyReconciles: new Counter({
      name: "palyra_trustpolicy_reconciles_total",
      help: "SkillTrustPolicy reconciles by result (success, requeue, conflict, error, not_leader).",
      labelNames: ["result"],
      registers,
    }),
    policyReconcileDuration: new Histogram({
      name: "palyra_trustpolicy_reconcile_duration_seconds",
      help: "Time spent in one SkillTrustPolicy reconcile.",
      buckets: reconcileBuckets,
      registers,
    }),
    queueDepth: new Gauge({
      name: "palyra_workqueue_depth",
      help: "Keys waiting in a work queue (skills, skilltrustpolicies).",
      labelNames: ["queue"],
      registers,
    }),
    queueRetries: new Counter({
      name: "palyra_workqueue_retries_total",
      help: "Keys requeued with backoff after an error.",
      labelNames: ["queue"],
      registers,
    }),
    informerRestarts: new Counter({
      name: "palyra_informer_restarts_total",
      help: "List/watch restarts with backoff after an error (API server down, timeout, 5xx).",
      labelNames: ["informer"],
      registers,
    }),
    informerRelists: new Counter({
      name: "palyra_informer_relists_total",
      help: "Full relists after a watch expired (410 Gone).",
      labelNames: ["informer"],
      registers,
    }),
    artifactFetches: new Counter({
      name: "palyra_artifact_fetches_total",
      help: "Artifact downloads and ConfigMap/Secret reads, by source kind and result.",
      labelNames: ["source", "result"],
      registers,
    }),
    artifactFetchBytes: new Counter({
      name: "palyra_artifact_fetch_bytes_total",
      help: "Artifact bytes received by successful fetches, by source kind.",
      labelNames: ["source"],
      registers,
    }),
    artifactFetchDuration: new Histogram({
      name: "palyra_artifact_fetch_duration_seconds",
      help: "Time to fetch one artifact (success or failure), by source kind.",
      labelNames: ["source"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
      registers,
    }),
    artifactFetchErrors: new Counter({
      name: "palyra_artifact_fetch_errors_total",
      help: "Failed artifact fetches, by source kind and error code (e.g. SOURCE_HTTP_STATUS).",
      labelNames: ["source", "code"],
      registers,
    }),
    artifactCacheLookups: new Counter({
      name: "palyra_artifact_cache_lookups_total",
      help: "Artifact loads answered from the content-addressed cache (hit) or by a fetch (miss).",
      labelNames: ["result"],
      registers,
    }),
    artifactCacheEntries: new Gauge({
      name: "palyra_artifact_cache_entries",
      help: "Verified or rejected artifacts held in the content-addressed cache.",
      registers,
    }),
    artifactCacheBytes: new Gauge({
      name: "palyra_artifact_cache_bytes",
      help: "Unpacked bytes held by the content-addressed artifact cache.",
      registers,
    }),
    artifactInflightBytes: new Gauge({
      name: "palyra_artifact_inflight_bytes",
      help: "Downloaded artifact bytes held until verified (bounded by --artifact-inflight-mib).",
      registers,
    }),
    deliveryVerifiedBytes: new Gauge({
      name: "palyra_delivery_verified_bytes",
      help: "Verified artifact bytes kept to serve pods (bounded by --verified-store-mib).",
      registers,
    }),
    deliveryPods: new Gauge({
      name: "palyra_delivery_pods",
      help: "Running pods bound to skill payloads by pod delivery (the operator's pod cache).",
      registers,
    }),
    deliveryStalePods: new Gauge({
      name: "palyra_delivery_stale_pods",
      help: "Running pods installed with a skill payload no Skill in their namespace enables now.",
      labelNames: ["namespace"],
      registers,
    }),
    deliveryEvictions: new Counter({
      name: "palyra_delivery_pod_evictions_total",
      help: "Evictions of pods running a disabled skill payload, by result (evicted, blocked by a disruption budget, gone, error).",
      labelNames: ["result"],
      registers,
    }),
    artifactFetchesRunning: new Gauge({
      name: "palyra_artifact_fetches_running",
      help: "Artifact downloads running now (bounded in all and per namespace).",
      registers,
    }),
    skillVerifications: new Counter({
      name: "palyra_skill_verifications_total",
      help: "Artifacts verified (signature, integrity, contents), by result (verified, rejected).",
      labelNames: ["result"],
      registers,
    }),
    statusWrites: new Counter({
      name: "palyra_status_writes_total",
      help: "Status subresource writes, by kind (a reconcile that changes nothing writes nothing).",
      labelNames: ["kind"],
      registers,
    }),
    statusRestores: new Counter({
      name: "palyra_skill_status_restores_total",
      help: "Skill statuses found written by someone other than the operator and put back at once.",
      registers,
    }),
    admissionShed: new Counter({
      name: "palyra_admission_shed_total",
      help: "Admission reviews answered 429 without being read, by reason (concurrency, bytes in flight).",
      labelNames: ["reason"],
      registers,
    }),
    tofuPins: new Counter({
      name: "palyra_trust_tofu_pins_total",
      help: "Trust-On-First-Use pin attempts, by result (pinned, conflict).",
      labelNames: ["result"],
      registers,
    }),
    tofuMismatches: new Counter({
      name: "palyra_trust_tofu_mismatches_total",
      help: "Skills found signed by another key than their publisher's TOFU pin (each Skill and artifact counted once).",
      registers,
    }),
    reportWrites: new Counter({
      name: "palyra_report_writes_total",
      help: "OpenReports Report writes, by result (created, updated, deleted, error).",
      labelNames: ["result"],
      registers,
    }),
    skills: new Gauge({
      name: "palyra_skills",
      help: "Skills by state (as last written to status) and namespace.",
      labelNames: ["state", "namespace"],
      registers,
    }),
    admissionReviews: new Counter({
      name: "palyra_admission_reviews_total",
      help: "AdmissionReviews answered, by webhook, operation, kind and result (allowed, denied, warned, error).",
      labelNames: ["webhook", "operation", "kind", "result"],
      registers,
    }),
    admissionDuration: new Histogram({
      name: "palyra_admission_review_duration_seconds",
      help: "Time to answer one AdmissionReview inside the webhook.",
      labelNames: ["operation", "kind", "allowed"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers,
    }),
    apiRequests: new Counter({
      name: "palyra_kube_api_requests_total",
      help: "Requests to the Kubernetes API, by verb (WATCH for watches) and HTTP code (0: no answer).",
      labelNames: ["verb", "code"],
      registers,
    }),
    apiRequestDuration: new Histogram({
      name: "palyra_kube_api_request_duration_seconds",
      help: "Kubernetes API request latency by verb (watches: time to the response headers).",
      labelNames: ["verb"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    }),
    leading: new Gauge({
      name: "palyra_leader_election_leading",
      help: "1 while this replica holds the controller's Lease (or runs without leader election), else 0.",
      registers,
    }),
    leaderTransitions: new Counter({
      name: "palyra_leader_election_transitions_total",
      help: "Times this replica started or stopped leading.",
      registers,
    }),
  };
}

/** A label value from a fixed set, so a hostile request cannot create unbounded series. */
export function boundedLabel(value: string | undefined, allowed: ReadonlySet<string>): string {
  return value !== undefined && allowed.has(value) ? value : "other";
}
