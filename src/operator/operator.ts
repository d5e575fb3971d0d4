/**
 * Wiring: clients, informers, queues, reconcilers and the metrics/health server, with a start
 * that waits for caches and a stop that drains in-flight work before it returns.
 */

import { createServer, type Server } from "node:http";
import { type AddressInfo, isIP } from "node:net";
import { hostname } from "node:os";
import type { Skill, SkillTrustPolicy } from "../api/v1alpha1/types.generated.ts";
import { StalePodReconciler } from "../controller/delivery/stale-pod-reconciler.ts";
import { PolicyReconciler } from "../controller/policy/reconciler.ts";
import { TrustStoreCache, trustStoreRefOf } from "../controller/policy/trust-store.ts";
import { SkillReconciler } from "../controller/skill/reconciler.ts";
import { type ArtifactEndpointDeps, TokenReviewer } from "../delivery/artifact-endpoint.ts";
import { DELIVERED_LABEL, RESOLVED_ANNOTATION } from "../delivery/pod-mutation.ts";
import {
  DeliveredPodIndex,
  deliveredPod,
  podList,
  skillIdVerdict,
  stalePods,
} from "../delivery/stale-pods.ts";
import { VerifiedStore } from "../delivery/verified-store.ts";
import { gateWrites, KubeClient, type KubeRequester, NotLeaderError } from "../kube/client.ts";
import { EventRecorder } from "../kube/events.ts";
import {
  dropManagedFields,
  Informer,
  type InformerEventType,
  type KubeObject,
  keyFields,
  objectKey,
} from "../kube/informer.ts";
import { StringPool } from "../kube/intern.ts";
import type { KubeConfig } from "../kube/kubeconfig.ts";
import { LeaderElector } from "../kube/leader.ts";
import { clusterRoleOwner, type OwnerReference } from "../kube/owner.ts";
import { deepEqual } from "../kube/patch.ts";
import { WorkQueue } from "../kube/workqueue.ts";
import { ReportWriter } from "../reports/report-writer.ts";
import { AddressPolicy } from "../sources/address-policy.ts";
import { ArtifactLoader, sourceRefOf } from "../sources/artifact-loader.ts";
import { fetchHttps } from "../sources/https-source.ts";
import { KubeObjectSource } from "../sources/object-source.ts";
import { createOciFetcher, PullSecretCache } from "../sources/oci/fetcher.ts";
import { type AdmissionSnapshot, guardedNamespaceLabels } from "../webhook/handlers.ts";
import { Webhook, type WebhookConfig } from "../webhook/webhook.ts";
import type { Logger } from "./log.ts";
import { createMetrics, type OperatorMetrics } from "./metrics.ts";

export interface OperatorConfig {
  kubeConfig: KubeConfig;
  /** The namespace the operator runs in (events about cluster-scoped objects go to "default"). */
  namespace: string;
  /** host:port for /metrics, /healthz and /readyz; port 0 picks a free one. */
  metricsAddress: { host: string; port: number };
  log: Logger;
  concurrency?: number;
  resyncMs?: number;
  urlRefreshMs?: number;
  /** Let Skills use Secrets as sources (needs list/watch on Secrets). */
  secretSources?: boolean;
  /** Write OpenReports Reports (when the CRD is installed); default true. */
  reports?: boolean;
  /**
   * A ClusterRole (the chart's) that owns what the operator creates itself — its webhook
   * configuration and Secret, its Reports — so they go when the chart is uninstalled.
   */
  ownerClusterRole?: string;
  /** Resolved from ownerClusterRole by create(). */
  owner?: OwnerReference;
  identity?: string;
  /** Event writes per second and burst (events are throttled so they never crowd out status). */
  eventQps?: number;
  eventBurst?: number;
  /** Serve the validating admission webhook (and, if configured, register it). */
  webhook?: WebhookConfig;
  /** Artifact downloads: idle-read and overall limits (defaults 30 s and 120 s). */
  artifactTimeouts?: { readMs: number; totalMs: number };
  /** Where URL sources may connect, and how much fetching is done at once (see ArtifactLoader). */
  sources?: {
    allowedCidrs?: string[];
    blockedCidrs?: string[];
    maxInflightBytes?: number;
    maxCacheBytes?: number;
    maxFetches?: number;
    maxFetchesPerNamespace?: number;
  };
  /**
   * Evict running pods installed with a payload no Skill enables now (pod delivery only; needs
   * create on pods/eviction). Off: they are reported (status, Events, metric), not evicted.
   */
  evictStalePods?: boolean;
  /** Verified artifact bytes kept to serve pods (delivery), in bytes (default 64 MiB). */
  verifiedStoreBytes?: number;
  /** A Kubernetes API request with no answer this long fails (default 30 s). */
  apiTimeoutMs?: number;
  /** Reconcile only while holding this Lease (in `namespace`); off: always reconcile. */
  leaderElection?: {
    leaseName: string;
    leaseDurationMs?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
  };
}

const API = "/apis/skills.palyra.dev/v1alpha1";
const STATES = new Set(["Pending", "Enabled", "Quarantined", "Failed"]);

export class Operator {
  readonly metrics: OperatorMetrics;
  readonly log: Logger;
  #cfg: OperatorConfig;
  #client: KubeClient;
  #informers: Informer<KubeObject>[] = [];
  #skills: Informer<Skill>;
  #policies: Informer<SkillTrustPolicy>;
  #namespaces: Informer<KubeObject>;
  #configMaps: Informer<KubeObject>;
  #secrets: Informer<KubeObject> | undefined;
  #skillQueue: WorkQueue;
  #policyQueue: WorkQueue;
  #events: EventRecorder;
  #loader: ArtifactLoader;
  #server: Server | undefined;
  #sourceIndex = new Map<string, Set<string>>();
  #skillSources = new Map<string, string>();
  #ready = false;
  #stopping = false;
  #webhook: Webhook | undefined;
  #elector: LeaderElector | undefined;
  #reports: ReportWriter | undefined;
  #skillReconciler: SkillReconciler;
  #trustStores: TrustStoreCache;
  #verified: VerifiedStore;
  #purgeTimer: NodeJS.Timeout | undefined;
  // Pod delivery: delivered pods (metadata only) and what reaches them when a Skill is disabled.
  #pods: Informer<KubeObject> | undefined;
  #podIndex = new DeliveredPodIndex();
  #stalePodQueue: WorkQueue | undefined;
  #stalePodReconciler: StalePodReconciler | undefined;
  // Skills by namespace and skill id: what the workload webhook looks up on every review.
  #skillIndex = new Map<string, Map<string, Map<string, Skill>>>();

  private constructor(cfg: OperatorConfig, client: KubeClient, metrics: OperatorMetrics) {
    this.#cfg = cfg;
    this.#client = client;
    this.log = cfg.log;
    this.metrics = metrics;
    const resyncMs = cfg.resyncMs ?? 10 * 60_000;
    const onRestart = (informer: string, reason: "gone" | "error", error: unknown) => {
      if (reason === "gone") {
        this.metrics.informerRelists.inc({ informer });
        this.log.info("watch expired (410 Gone); relisting", { informer });
        return;
      }
      this.metrics.informerRestarts.inc({ informer });
      this.log.warn("watch failed; restarting with backoff", { informer, error });
    };
    // Spec and status of Skills and policies repeat across objects: keep one copy of each string.
    // Metadata (names, uids, versions) is mostly unique and is left alone, labels aside.
    const strings = new StringPool();
    const compact = (object: KubeObject): KubeObject => {
      dropManagedFields(object);
      const o = object as KubeObject & { spec?: unknown; status?: unknown };
      if (o.metadata.namespace) o.metadata.namespace = strings.string(o.metadata.namespace);
      if (o.metadata.labels) strings.deep(o.metadata.labels);
      if (o.metadata.finalizers) strings.deep(o.metadata.finalizers);
      if (o.spec) strings.deep(o.spec);
      if (o.status) strings.deep(o.status);
      return object;
    };
    const informer = <T extends KubeObject>(name: string, path: string, metadataOnly = false) => {
      const i = new Informer<T>(client, {
        name,
        path,
        metadataOnly,
        resyncMs,
        onRestart,
        transform: compact,
      });
      this.#informers.push(i as unknown as Informer<KubeObject>);
      return i;
    };
    this.#skills = informer<Skill>("skills", `${API}/skills`);
    this.#policies = informer<SkillTrustPolicy>("skilltrustpolicies", `${API}/skilltrustpolicies`);
    this.#namespaces = informer("namespaces", "/api/v1/namespaces", true);
    this.#configMaps = informer("configmaps", "/api/v1/configmaps", true);
    if (cfg.secretSources !== false) this.#secrets = informer("secrets", "/api/v1/secrets", true);
    if (cfg.webhook?.podDelivery) {
      // Only delivered pods that may still run (the label the mutating webhook adds), and of
      // each only what staleness needs: this cache is small whatever the cluster's pod count.
      this.#pods = new Informer<KubeObject>(client, {
        name: "pods",
        path: "/api/v1/pods",
        metadataOnly: true,
        labelSelector: `${DELIVERED_LABEL}=true`,
        fieldSelector: "status.phase!=Succeeded,status.phase!=Failed",
        resyncMs,
        onRestart,
        transform: podMetadata,
      });
      this.#informers.push(this.#pods);
    }

    const identity =
      cfg.identity ?? `${hostname()}_${process.pid}_${Math.random().toString(16).slice(2, 8)}`;
    if (cfg.leaderElection) {
      const le = cfg.leaderElection;
      this.#elector = new LeaderElector(client, {
        namespace: cfg.namespace,
        name: le.leaseName,
        identity,
        ...(le.leaseDurationMs ? { leaseDurationMs: le.leaseDurationMs } : {}),
        ...(le.renewDeadlineMs ? { renewDeadlineMs: le.renewDeadlineMs } : {}),
        ...(le.retryPeriodMs ? { retryPeriodMs: le.retryPeriodMs } : {}),
        onStartedLeading: () => {
          this.metrics.leaderTransitions.inc();
          this.log.info("started leading: reconciling", {
            lease: `${cfg.namespace}/${le.leaseName}`,
            identity,
          });
          for (const skill of this.#skills.list()) this.#skillQueue.add(objectKey(skill.metadata));
          for (const p of this.#policies.list()) this.#policyQueue.add(p.metadata.name ?? "");
          for (const { namespace, skillId } of this.#podIndex.keys())
            this.#stalePodQueue?.add(`${namespace}/${skillId}`);
          this.#reports?.markAll();
        },
        onStoppedLeading: () => {
          this.metrics.leaderTransitions.inc();
          this.log.warn("stopped leading: no more writes from this replica", {
            lease: `${cfg.namespace}/${le.leaseName}`,
          });
        },
        onNewLeader: (leader) => {
          if (leader !== identity) this.log.info("standing by", { leader });
        },
        onError: (error) => this.log.warn("leader election", { error }),
      });
    }
    // The controller's writes go through a gate: a replica that does not lead cannot write.
    const writer: KubeRequester = this.#elector
      ? gateWrites(client, () => this.#elector?.leading === true)
      : client;
    this.#events = new EventRecorder(writer, {
      component: "palyra-skills-operator",
      host: identity,
      ...(cfg.eventQps !== undefined ? { qps: cfg.eventQps } : {}),
      ...(cfg.eventBurst !== undefined ? { burst: cfg.eventBurst } : {}),
      onError: (error, event) =>
        this.log.warn("event not recorded", {
          namespace: event.target.metadata.namespace,
          name: event.target.metadata.name,
          kind: event.target.kind,
          reason: event.reason,
          error,
        }),
    });
    if (cfg.reports !== false) {
      this.#reports = new ReportWriter({
        client: writer,
        log: this.log,
        skills: () => this.#skills.list(),
        leads: () => !this.#elector || this.#elector.leading,
        ...(cfg.owner ? { owner: cfg.owner } : {}),
        onWrite: (result) => this.metrics.reportWrites.inc({ result }),
      });
    }
    const trustStores = new TrustStoreCache(writer, this.#configMaps);
    this.#trustStores = trustStores;
    this.#verified = new VerifiedStore(cfg.verifiedStoreBytes ?? 64 * 1024 * 1024);
    const src = cfg.sources ?? {};
    const addressPolicy = new AddressPolicy({
      allow: src.allowedCidrs ?? [],
      deny: src.blockedCidrs ?? [],
      // The API server is never an artifact source, whatever ranges are allowed.
      alwaysDeny: apiServerAddresses(cfg.kubeConfig),
    });
    const objects = new KubeObjectSource(client, {
      configMaps: this.#configMaps,
      ...(this.#secrets ? { secrets: this.#secrets } : {}),
    });
    const timeouts = cfg.artifactTimeouts;
    // Registry credentials are read per namespace and resolution: cache them by the Secret's
    // resourceVersion (the informer knows it), and the default ServiceAccount's list briefly.
    const pullSecrets = new PullSecretCache(objects, (namespace) =>
      client
        .request<{ imagePullSecrets?: { name?: string }[] }>(
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/default`,
          { timeoutMs: 10_000 },
        )
        .then((sa) => (sa.imagePullSecrets ?? []).flatMap((s) => (s.name ? [s.name] : []))),
    );
    this.#loader = new ArtifactLoader({
      ...(src.maxInflightBytes ? { maxInflightBytes: src.maxInflightBytes } : {}),
      ...(src.maxCacheBytes ? { maxCacheBytes: src.maxCacheBytes } : {}),
      ...(src.maxFetches ? { maxFetches: src.maxFetches } : {}),
      ...(src.maxFetchesPerNamespace ? { maxFetchesPerNamespace: src.maxFetchesPerNamespace } : {}),
      onReady: (owner) => this.#skillQueue.add(owner),
      onVerified: (digest, bytes) => this.#verified.put(digest, bytes),
      fetchUrl: (url, opts) =>
        fetchHttps(url, {
          ...opts,
          addressPolicy,
          ...(cfg.artifactTimeouts
            ? {
                readTimeoutMs: cfg.artifactTimeouts.readMs,
                totalTimeoutMs: cfg.artifactTimeouts.totalMs,
              }
            : {}),
        }),
      fetchOci: createOciFetcher({
        addressPolicy,
        ...(timeouts ? { timeouts } : {}),
        // A pull Secret is one more Secret read, in the Skill's namespace, under the same switch.
        readSecret: (namespace, name, key) => pullSecrets.read(namespace, name, key),
        // Like kubelet: the default ServiceAccount's imagePullSecrets (with Secret reads only).
        ...(this.#secrets
          ? {
              defaultPullSecrets: (namespace: string) => pullSecrets.defaults(namespace),
            }
          : {}),
      }),
      objects,
      urlRefreshMs: cfg.urlRefreshMs ?? 10 * 60_000,
      metrics: {
        fetch: (source, outcome) => {
          const m = this.metrics;
          m.artifactFetches.inc({ source, result: outcome.error ? "error" : "success" });
          m.artifactFetchDuration.observe({ source }, outcome.seconds);
          if (outcome.error) {
            m.artifactFetchErrors.inc({ source, code: outcome.error });
            // The log may say what status must not (an internal target's answer).
            if (outcome.error !== "SOURCE_BUSY") {
              this.log.info("artifact fetch failed", {
                source,
                code: outcome.error,
                reason: outcome.message,
                ...(outcome.detail ? { detail: outcome.detail } : {}),
              });
            }
          } else m.artifactFetchBytes.inc({ source }, outcome.bytes);
        },
        cache: (result) => this.metrics.artifactCacheLookups.inc({ result }),
        verification: (result) => this.metrics.skillVerifications.inc({ result }),
      },
    });

    const queue = (name: string) =>
      new WorkQueue({
        name,
        onError: (key, error, retries) =>
          this.log.error("reconcile failed; retrying with backoff", {
            queue: name,
            ...keyFields(key),
            retries,
            error,
          }),
        metrics: {
          depth: (n) => this.metrics.queueDepth.set({ queue: name }, n),
          retries: () => this.metrics.queueRetries.inc({ queue: name }),
        },
      });
    this.#skillQueue = queue("skills");
    this.#policyQueue = queue("skilltrustpolicies");

    const skillReconciler = new SkillReconciler({
      client: writer,
      skills: this.#skills,
      policies: this.#policies,
      namespaces: this.#namespaces,
      trustStores,
      loader: this.#loader,
      events: this.#events,
      log: this.log,
      metrics: this.metrics,
      policyChanged: (name) => this.#policyQueue.add(name),
      ...(this.#pods
        ? {
            stalePods: (skill: Skill) => this.#stalePodsOf(skill),
            evictsStalePods: cfg.evictStalePods === true,
          }
        : {}),
    });
    this.#skillReconciler = skillReconciler;
    if (this.#pods) {
      this.#stalePodQueue = queue("stalepods");
      this.#stalePodReconciler = new StalePodReconciler({
        client: writer,
        pods: this.#podIndex,
        skillsWithId: (namespace, skillId) => [
          ...(this.#skillIndex.get(namespace)?.get(skillId)?.values() ?? []),
        ],
        events: this.#events,
        log: this.log,
        evict: cfg.evictStalePods === true,
        onEviction: (result) => this.metrics.deliveryEvictions.inc({ result }),
      });
    }
    const policyReconciler = new PolicyReconciler({
      client: writer,
      policies: this.#policies,
      skills: this.#skills,
      namespaces: this.#namespaces,
      trustStores,
      metrics: this.metrics,
      events: this.#events,
    });
    // A standby drops work: the leader does it, and a new leader requeues everything.
    const leads = () => !this.#elector || this.#elector.leading;
    this.#reconcilers = {
      skill: (key) =>
        leads()
          ? this.#timed("Skill", () => skillReconciler.reconcile(key))
          : Promise.resolve(undefined),
      policy: (key) =>
        leads()
          ? this.#timed("SkillTrustPolicy", () => policyReconciler.reconcile(key))
          : Promise.resolve(undefined),
      stalePods: (key) =>
        leads() && this.#stalePodReconciler
          ? this.#stalePodReconciler.reconcile(key).catch((error: unknown) => {
              if (error instanceof NotLeaderError) return undefined;
              throw error;
            })
          : Promise.resolve(undefined),
    };
    this.#wireEvents();
    if (cfg.webhook) {
      this.#webhook = new Webhook(cfg.webhook, {
        client,
        ...(cfg.owner ? { owner: cfg.owner } : {}),
        snapshot: this.#snapshot(),
        ready: () => this.#ready,
        log: this.log,
        metrics: this.metrics,
        operatorNamespace: cfg.namespace,
        guardedNamespaceLabels: () => guardedNamespaceLabels(this.#policies.list()),
        artifacts: this.#artifactEndpoint(client),
      });
    }
  }

  /** Serving verified bytes to pods: who may have which digest, from the caches. */
  #artifactEndpoint(client: KubeClient): ArtifactEndpointDeps {
    const enabled = (s: Skill, digest: string) =>
      !s.metadata.deletionTimestamp &&
      s.status?.state === "Enabled" &&
      s.status.observedGeneration === s.metadata.generation &&
      s.status.artifactSha256 === digest;
    return {
      reviewer: new TokenReviewer(client),
      enabledSkillWithDigest: (namespace, digest) => {
        for (const byId of this.#skillIndex.get(namespace)?.values() ?? []) {
          for (const s of byId.values()) if (enabled(s, digest)) return s;
        }
        return undefined;
      },
      enabledAnywhere: (digest) => this.#skills.list().some((s) => enabled(s, digest)),
      store: this.#verified,
      fetchVerified: (skill, digest) => this.#loader.fetchVerifiedBytes(sourceRefOf(skill), digest),
      ready: () => this.#ready,
      log: (msg, fields) => this.log.info(msg, fields),
    };
  }

  #purgeVerified(): void {
    const live = new Set<string>();
    for (const s of this.#skills.list()) {
      if (s.status?.state === "Enabled" && s.status.artifactSha256)
        live.add(s.status.artifactSha256);
    }
    const purged = this.#verified.retain((digest) => live.has(digest));
    if (purged > 0) this.log.info("purged verified bytes no Enabled Skill references", { purged });
  }

  /** The read-only view the webhook answers from: caches only, no I/O. */
  #snapshot(): AdmissionSnapshot {
    return {
      skillsWithId: (namespace, skillId) => [
        ...(this.#skillIndex.get(namespace)?.get(skillId)?.values() ?? []),
      ],
      policies: () => this.#policies.list(),
      namespaceLabels: (namespace) => this.#namespaces.get(namespace)?.metadata.labels ?? {},
      trustStore: (policy) => this.#trustStores.peek(policy),
      signingKeyOf: (digest) => this.#loader.signingKeyOf(digest),
      skillsInNamespace: (namespace) =>
        [...(this.#skillIndex.get(namespace)?.values() ?? [])].flatMap((byKey) => [
          ...byKey.values(),
        ]),
    };
  }

  get leading(): boolean {
    return !this.#elector || this.#elector.leading;
  }

  get webhookPort(): number {
    return this.#webhook?.port ?? 0;
  }

  #reconcilers: {
    skill: (key: string) => ReturnType<SkillReconciler["reconcile"]>;
    policy: (key: string) => ReturnType<PolicyReconciler["reconcile"]>;
    stalePods: (key: string) => ReturnType<StalePodReconciler["reconcile"]>;
  };

  /** A Skill's stale pods as its status will say, given the Skill as it is about to be written. */
  #stalePodsOf(skill: Skill): { count: number; names: string; why: string } | undefined {
    const namespace = skill.metadata.namespace ?? "";
    const skillId = skill.spec.skillId;
    const pods = this.#podIndex.using(namespace, skillId);
    if (pods.length === 0) return undefined;
    const key = objectKey(skill.metadata);
    const twins = [...(this.#skillIndex.get(namespace)?.get(skillId)?.entries() ?? [])]
      .filter(([k]) => k !== key)
      .map(([, s]) => s);
    const verdict = skillIdVerdict(skillId, [...twins, skill]);
    const stale = stalePods(pods, skillId, verdict.enabled);
    return { count: stale.length, names: podList(stale), why: verdict.why };
  }

  /** Pods or twins changed: the Skills whose stale count is now wrong are reconciled again. */
  #staleCountsChanged(namespace: string, skillId: string): void {
    if (this.#podIndex.using(namespace, skillId).length > 0)
      this.#stalePodQueue?.add(`${namespace}/${skillId}`);
    for (const s of this.#skillIndex.get(namespace)?.get(skillId)?.values() ?? []) {
      if (s.metadata.deletionTimestamp) continue;
      const count = this.#stalePodsOf(s)?.count ?? 0;
      if (count !== (s.status?.stalePods ?? 0)) this.#skillQueue.add(objectKey(s.metadata));
    }
  }

  static async create(cfg: OperatorConfig): Promise<Operator> {
    const metrics = createMetrics();
    const client = await KubeClient.fromKubeConfig(cfg.kubeConfig, {
      ...(cfg.apiTimeoutMs ? { requestTimeoutMs: cfg.apiTimeoutMs } : {}),
      onRequest: (verb, status, seconds) => {
        metrics.apiRequests.inc({ verb, code: String(status) });
        metrics.apiRequestDuration.observe({ verb }, seconds);
      },
    });
    let owner: OwnerReference | undefined;
    if (cfg.ownerClusterRole) {
      try {
        owner = await clusterRoleOwner(client, cfg.ownerClusterRole);
      } catch (error) {
        client.close();
        throw new Error(
          `--owner-clusterrole ${cfg.ownerClusterRole}: cannot read it (${(error as Error).message})`,
        );
      }
    }
    return new Operator(owner ? { ...cfg, owner } : cfg, client, metrics);
  }

  get ready(): boolean {
    return this.#ready;
  }

  get artifactFetches(): number {
    return this.#loader.fetches;
  }

  get artifactVerifications(): number {
    return this.#loader.verifications;
  }

  /** The bound metrics/health address (useful when the configured port was 0). */
  get metricsPort(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    this.#server = await this.#serve();
    this.log.info("metrics and health endpoints listening", {
      address: `${this.#cfg.metricsAddress.host}:${this.metricsPort}`,
    });
    for (const i of this.#informers) i.start();
    // The webhook listens at once and denies until the caches below have synced.
    await this.#webhook?.start();
    await Promise.all(this.#informers.map((i) => i.waitForSync()));
    this.log.info("caches synced", {
      skills: this.#skills.size,
      policies: this.#policies.size,
    });
    const concurrency = this.#cfg.concurrency ?? 16;
    this.#skillQueue.start((key) => this.#reconcilers.skill(key), concurrency);
    this.#policyQueue.start((key) => this.#reconcilers.policy(key), 2);
    this.#stalePodQueue?.start((key) => this.#reconcilers.stalePods(key), 2);
    this.#ready = true;
    this.#elector?.start();
    // "Removed": verified bytes no Enabled Skill references any more are not kept to serve.
    this.#purgeTimer = setInterval(() => this.#purgeVerified(), 30_000);
    this.#purgeTimer.unref();
  }

  /** Stop taking work, finish in-flight reconciles, then release everything. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#ready = false;
    if (this.#purgeTimer) clearInterval(this.#purgeTimer);
    await Promise.all([
      this.#skillQueue.shutDown(),
      this.#policyQueue.shutDown(),
      this.#stalePodQueue?.shutDown(),
    ]);
    await this.#events.flush();
    // Pending reports get a last chance, bounded like the events: shutdown must not hang.
    if (this.#reports) {
      await Promise.race([this.#reports.flush(), new Promise((r) => setTimeout(r, 5000).unref())]);
      this.#reports.stop();
    }
    // Release the lease only after the last write, so the next leader starts from it.
    await this.#elector?.stop();
    await this.#webhook?.stop();
    await Promise.all(this.#informers.map((i) => i.stop()));
    await this.#events.flush();
    await new Promise<void>((resolve) =>
      this.#server ? this.#server.close(() => resolve()) : resolve(),
    );
    this.#client.close();
  }

  async #timed<T>(kind: string, work: () => Promise<T>): Promise<T> {
    const skill = kind === "Skill";
    const m = this.metrics;
    const count = skill ? m.skillReconciles : m.policyReconciles;
    const end = (skill ? m.skillReconcileDuration : m.policyReconcileDuration).startTimer();
    try {
      const result = await work();
      const r = result as { conflict?: boolean; requeueAfterMs?: number } | undefined;
      count.inc({
        result: r?.conflict ? "conflict" : r?.requeueAfterMs !== undefined ? "requeue" : "success",
      });
      return result;
    } catch (error) {
      // Leadership lost mid-reconcile: the write was refused and the new leader redoes the work.
      if (error instanceof NotLeaderError) {
        count.inc({ result: "not_leader" });
        return undefined as T;
      }
      count.inc({ result: "error" });
      throw error;
    } finally {
      end();
    }
  }

  #wireEvents(): void {
    const skillQueue = this.#skillQueue;
    const policyQueue = this.#policyQueue;
    const allPolicies = (delayMs = 0) => {
      for (const p of this.#policies.list()) {
        if (delayMs > 0) policyQueue.addAfter(p.metadata.name ?? "", delayMs);
        else policyQueue.add(p.metadata.name ?? "");
      }
    };
    const allSkills = (filter?: (s: Skill) => boolean) => {
      for (const s of this.#skills.list())
        if (!filter || filter(s)) skillQueue.add(objectKey(s.metadata));
    };

    this.#skills.on((type, skill, old) => {
      const key = objectKey(skill.metadata);
      this.#skillReconciler.observed(
        key,
        type === "delete" ? undefined : skill.metadata.resourceVersion,
      );
      this.#indexSource(key, type === "delete" ? undefined : skill);
      this.#indexSkill(key, type === "delete" ? undefined : skill, type === "delete" ? skill : old);
      if (
        this.#pods &&
        skill.metadata.namespace &&
        (type !== "update" ||
          !deepEqual(old?.status, skill.status) ||
          specOrLifecycleChanged(old ?? skill, skill))
      ) {
        this.#staleCountsChanged(skill.metadata.namespace, skill.spec.skillId);
      }
      // A verdict written, an approval given or a Skill gone: its namespace's report follows.
      if (
        this.#reports &&
        skill.metadata.namespace &&
        (type === "delete" ||
          type === "add" ||
          (type === "update" &&
            old &&
            (!deepEqual(old.status, skill.status) ||
              !deepEqual(old.spec.approval, skill.spec.approval))))
      ) {
        this.#reports.markDirty(skill.metadata.namespace);
      }
      if (type === "update" && old && !specOrLifecycleChanged(old, skill)) {
        // A status this replica did not write is put back now, not at the next resync.
        if (
          this.leading &&
          !deepEqual(old.status, skill.status) &&
          this.#skillReconciler.foreignStatus(key, skill.status)
        ) {
          skillQueue.add(key);
        }
        return;
      }
      skillQueue.add(key);
      // governedSkills is a count: refresh it at most about once a second.
      if (type !== "resync") allPolicies(1000);
    });

    this.#policies.on((type, policy, old) => {
      if (type === "resync") return policyQueue.add(policy.metadata.name ?? "");
      if (type === "update" && old && !specOrLifecycleChanged(old, policy)) return;
      policyQueue.add(policy.metadata.name ?? "");
      // Which policy governs which Skill may have changed: re-evaluate them all.
      allSkills();
      // The trust-store webhook covers exactly the namespaces that hold trust stores.
      void this.#webhook?.refresh();
    });

    this.#namespaces.on((type, ns, old) => {
      if (type === "resync") return;
      if (type === "update" && deepEqual(old?.metadata.labels ?? {}, ns.metadata.labels ?? {}))
        return;
      allSkills((s) => s.metadata.namespace === ns.metadata.name);
      allPolicies(1000);
    });

    const onSourceObject =
      (kind: "configMap" | "secret") => (type: InformerEventType, obj: KubeObject) => {
        if (type === "resync") return;
        const id = `${obj.metadata.namespace}/${obj.metadata.name}`;
        if (kind === "configMap") {
          for (const p of this.#policies.list()) {
            const ref = trustStoreRefOf(p);
            if (ref && `${ref.namespace}/${ref.name}` === id) {
              policyQueue.add(p.metadata.name ?? "");
              allSkills(
                (s) => s.spec.policyRef === undefined || s.spec.policyRef.name === p.metadata.name,
              );
            }
          }
        }
        for (const key of this.#sourceIndex.get(`${kind}:${id}`) ?? []) {
          // An OCI Skill's pull Secret changed: resolve again now, with the new credentials.
          const skill = this.#skills.get(key);
          if (skill?.spec.source.oci) this.#loader.invalidate(sourceRefOf(skill));
          skillQueue.add(key);
        }
      };
    this.#pods?.on((type, pod) => {
      const namespace = pod.metadata.namespace ?? "";
      const delivered = type === "delete" ? undefined : deliveredPod(pod, RESOLVED_ANNOTATION);
      if (type === "delete") this.#stalePodReconciler?.forgetPod(pod.metadata.uid ?? "");
      for (const key of this.#podIndex.set(namespace, pod.metadata.name ?? "", delivered)) {
        const slash = key.indexOf("/");
        this.#staleCountsChanged(key.slice(0, slash), key.slice(slash + 1));
      }
    });
    this.#configMaps.on(onSourceObject("configMap"));
    this.#secrets?.on(onSourceObject("secret"));
  }

  #indexSkill(key: string, skill: Skill | undefined, old: Skill | undefined): void {
    for (const s of [old, skill]) {
      if (!s) continue;
      const ns = s.metadata.namespace ?? "";
      const byId = this.#skillIndex.get(ns)?.get(s.spec.skillId);
      byId?.delete(key);
      if (byId?.size === 0) this.#skillIndex.get(ns)?.delete(s.spec.skillId);
    }
    if (!skill) return;
    const ns = skill.metadata.namespace ?? "";
    const byNs = this.#skillIndex.get(ns) ?? new Map<string, Map<string, Skill>>();
    this.#skillIndex.set(ns, byNs);
    const byId = byNs.get(skill.spec.skillId) ?? new Map<string, Skill>();
    byNs.set(skill.spec.skillId, byId);
    byId.set(key, skill);
  }

  /** Which Skills read which ConfigMap/Secret, so a change there re-evaluates exactly them. */
  #indexSource(key: string, skill: Skill | undefined): void {
    const previous = this.#skillSources.get(key);
    let next: string | undefined;
    if (skill) {
      const ref = sourceRefOf(skill);
      if (ref.kind === "configMap" || ref.kind === "secret")
        next = `${ref.kind}:${ref.namespace}/${ref.name}`;
      // Rotated registry credentials: resolve again with the new ones.
      else if (ref.kind === "oci" && ref.pullSecret)
        next = `secret:${ref.namespace}/${ref.pullSecret}`;
    }
    if (previous === next) return;
    if (previous) {
      const set = this.#sourceIndex.get(previous);
      set?.delete(key);
      if (set?.size === 0) this.#sourceIndex.delete(previous);
    }
    if (next) {
      this.#skillSources.set(key, next);
      const set = this.#sourceIndex.get(next) ?? new Set<string>();
      set.add(key);
      this.#sourceIndex.set(next, set);
    } else this.#skillSources.delete(key);
  }

  #serve(): Promise<Server> {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/healthz") {
        res.writeHead(200, { "Content-Type": "text/plain" }).end("ok\n");
      } else if (path === "/readyz") {
        const synced = this.#informers.filter((i) => !i.synced).map((i) => i.name);
        if (this.#ready) {
          const role = !this.#elector
            ? "controller"
            : this.#elector.leading
              ? "leading"
              : `standing by (leader: ${this.#elector.leader || "none"})`;
          res.writeHead(200, { "Content-Type": "text/plain" }).end(`ok: ${role}\n`);
        } else {
          res
            .writeHead(503, { "Content-Type": "text/plain" })
            .end(synced.length ? `caches not synced: ${synced.join(", ")}\n` : "not started\n");
        }
      } else if (path === "/metrics") {
        this.#scrapeGauges();
        this.metrics.registry.metrics().then(
          (text) =>
            res.writeHead(200, { "Content-Type": this.metrics.registry.contentType }).end(text),
          (error: unknown) => res.writeHead(500).end(String(error)),
        );
      } else {
        res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      }
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#cfg.metricsAddress.port, this.#cfg.metricsAddress.host, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  }

  /** Refreshed at scrape time from the cache: a namespace that empties drops out. */
  #scrapeGauges(): void {
    const counts = new Map<string, Record<string, number>>();
    for (const s of this.#skills.list()) {
      const ns = s.metadata.namespace ?? "";
      const byState = counts.get(ns) ?? { Pending: 0, Enabled: 0, Quarantined: 0, Failed: 0 };
      const state = STATES.has(s.status?.state ?? "") ? (s.status?.state as string) : "Pending";
      byState[state] = (byState[state] ?? 0) + 1;
      counts.set(ns, byState);
    }
    this.metrics.skills.reset();
    for (const [namespace, byState] of counts) {
      for (const [state, n] of Object.entries(byState)) {
        this.metrics.skills.set({ state, namespace }, n);
      }
    }
    this.metrics.artifactCacheEntries.set(this.#loader.cachedArtifacts);
    this.metrics.artifactCacheBytes.set(this.#loader.cachedBytes);
    this.metrics.artifactInflightBytes.set(this.#loader.inflightBytes);
    this.metrics.artifactFetchesRunning.set(this.#loader.runningFetches);
    this.metrics.deliveryVerifiedBytes.set(this.#verified.bytes);
    if (this.#pods) {
      this.metrics.deliveryPods.set(this.#podIndex.size);
      const stale = new Map<string, number>();
      for (const { namespace, skillId } of this.#podIndex.keys()) {
        const verdict = skillIdVerdict(skillId, [
          ...(this.#skillIndex.get(namespace)?.get(skillId)?.values() ?? []),
        ]);
        const n = stalePods(this.#podIndex.using(namespace, skillId), skillId, verdict.enabled);
        stale.set(namespace, (stale.get(namespace) ?? 0) + n.length);
      }
      // A pod stale under two skill ids counts once per id: the gauge counts (pod, skill) pairs.
      this.metrics.deliveryStalePods.reset();
      for (const [namespace, n] of stale) this.metrics.deliveryStalePods.set({ namespace }, n);
    }
    this.metrics.leading.set(this.leading ? 1 : 0);
  }
}

/** What the pod cache keeps of a delivered pod: enough to find it, evict it and know its payloads. */
function podMetadata(object: KubeObject): KubeObject {
  const m = object.metadata;
  const resolved = m.annotations?.[RESOLVED_ANNOTATION];
  return {
    metadata: {
      name: m.name ?? "",
      namespace: m.namespace ?? "",
      uid: m.uid ?? "",
      ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
      ...(resolved !== undefined ? { annotations: { [RESOLVED_ANNOTATION]: resolved } } : {}),
    },
  };
}

function specOrLifecycleChanged(old: KubeObject, next: KubeObject): boolean {
  return (
    old.metadata.generation !== next.metadata.generation ||
    Boolean(old.metadata.deletionTimestamp) !== Boolean(next.metadata.deletionTimestamp)
  );
}

/** The API server's own addresses, as far as the operator knows them: never an artifact source. */
function apiServerAddresses(kubeConfig: KubeConfig): string[] {
  const out = new Set<string>();
  const env = process.env.KUBERNETES_SERVICE_HOST;
  if (env && isIP(env)) out.add(env);
  try {
    const host = new URL(kubeConfig.getCurrentCluster()?.server ?? "").hostname.replace(
      /^\[(.*)\]$/,
      "$1",
    );
    if (isIP(host)) out.add(host);
  } catch {
    // No usable server URL: the operator would not have started.
  }
  return [...out];
}
