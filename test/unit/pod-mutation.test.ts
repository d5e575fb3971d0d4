/** The pure pod mutation of delivery: resolution annotation, init container, read-only mounts. */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DELIVERED_LABEL,
  type DeliveryConfig,
  formatResolution,
  INIT_CONTAINER,
  installArgs,
  type PatchOp,
  parseResolution,
  podPatch,
  RESOLVED_ANNOTATION,
  type ResolvedSkill,
  resolvedFrom,
  VOLUME,
} from "../../src/delivery/pod-mutation.ts";
import { checkPodDelivery, mutatePod } from "../../src/delivery/pod-webhook.ts";

const A: ResolvedSkill = {
  skillId: "acme.echo_http",
  version: "1.0.0",
  payloadSha256: "a".repeat(64),
  artifactSha256: "b".repeat(64),
  publicKeyHex: "c".repeat(64),
};
const B: ResolvedSkill = {
  ...A,
  skillId: "acme.notes",
  version: "2.1.0",
  payloadSha256: "d".repeat(64),
};
const CFG: DeliveryConfig = {
  image: `registry.example/palyra/palyra-skills-operator@sha256:${"e".repeat(64)}`,
  operatorUrl: "https://palyra-webhook.palyra-system.svc",
  caPem: "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n",
  mountPath: "/var/run/palyra/skills",
};

/** An Enabled Skill whose status resolves to A. */
function enabledSkill() {
  return {
    apiVersion: "skills.palyra.dev/v1alpha1" as const,
    kind: "Skill" as const,
    metadata: { name: "echo", namespace: "ns", generation: 1 },
    spec: { skillId: A.skillId, publisher: "acme", source: { url: "https://x" } },
    status: {
      observedGeneration: 1,
      state: "Enabled" as const,
      manifest: { version: A.version },
      payloadSha256: A.payloadSha256,
      artifactSha256: A.artifactSha256,
      publicKey: A.publicKeyHex,
    },
  };
}

/** A minimal RFC 6902 applier for add/replace (enough to check what the API server would do). */
function apply(doc: unknown, ops: PatchOp[]): unknown {
  const out = structuredClone(doc) as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path
      .split("/")
      .slice(1)
      .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = parts.pop() as string;
    let node: unknown = out;
    for (const p of parts) node = (node as Record<string, unknown>)[p];
    if (Array.isArray(node)) {
      if (last === "-") node.push(op.value);
      else node.splice(Number(last), op.op === "replace" ? 1 : 0, op.value);
    } else {
      assert.ok(node && typeof node === "object", `${op.path}: parent exists`);
      if (op.op === "replace") assert.ok(last in (node as object), `${op.path}: replace needs it`);
      (node as Record<string, unknown>)[last] = op.value;
    }
  }
  return out;
}

type Pod = {
  metadata: { annotations: Record<string, string> };
  spec: {
    volumes: { name: string }[];
    initContainers: {
      name: string;
      args?: string[];
      volumeMounts: { name: string; readOnly?: boolean; mountPath: string }[];
      securityContext?: Record<string, unknown>;
    }[];
    containers: {
      name: string;
      volumeMounts: { name: string; readOnly?: boolean; mountPath: string }[];
    }[];
  };
};

test("the resolution annotation names each skill's version and signed payload, sorted", () => {
  assert.equal(
    formatResolution([B, A]),
    `acme.echo_http@1.0.0=sha256:${"a".repeat(64)},acme.notes@2.1.0=sha256:${"d".repeat(64)}`,
  );
});

test("a bare pod gets the annotation, the volumes, the init container first and a read-only mount in every container", () => {
  const pod = {
    metadata: {
      name: "agent",
      annotations: { "skills.palyra.dev/skills": "acme.echo_http, acme.notes" },
    },
    spec: {
      containers: [
        { name: "agent", image: "x" },
        { name: "sidecar", image: "y", volumeMounts: [{ name: "data", mountPath: "/data" }] },
      ],
      initContainers: [{ name: "setup", image: "z" }],
      volumes: [{ name: "data", emptyDir: {} }],
    },
  };
  const out = apply(pod, podPatch(pod, [A, B], CFG)) as Pod;
  assert.equal(out.metadata.annotations[RESOLVED_ANNOTATION], formatResolution([A, B]));
  assert.equal(out.metadata.annotations["skills.palyra.dev/skills"], "acme.echo_http, acme.notes");
  assert.deepEqual(
    out.spec.volumes.map((v) => v.name),
    ["data", VOLUME, "palyra-skills-token"],
  );
  assert.deepEqual(
    out.spec.initContainers.map((c) => c.name),
    [INIT_CONTAINER, "setup"],
  );
  const init = out.spec.initContainers[0];
  assert.deepEqual(init?.args, installArgs([A, B], CFG));
  assert.ok(
    init?.args?.includes(`acme.echo_http,${"b".repeat(64)},${"a".repeat(64)},${"c".repeat(64)}`),
  );
  assert.equal(init?.securityContext?.readOnlyRootFilesystem, true);
  assert.equal(
    init?.volumeMounts.find((m) => m.name === VOLUME)?.readOnly,
    undefined,
    "the installer writes",
  );
  for (const c of [...out.spec.containers, out.spec.initContainers[1]]) {
    const mount = c?.volumeMounts.find((m) => m.name === VOLUME);
    assert.deepEqual(mount, { name: VOLUME, mountPath: CFG.mountPath, readOnly: true }, c?.name);
  }
  assert.deepEqual(out.spec.containers[1]?.volumeMounts[0], { name: "data", mountPath: "/data" });
});

test("a pod without annotations, volumes or init containers is patched with whole members", () => {
  const pod = { metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "x" }] } };
  const ops = podPatch(pod, [A], CFG);
  assert.deepEqual(
    ops.filter((o) => !o.path.includes("/containers/")).map((o) => o.path),
    ["/metadata/labels", "/metadata/annotations", "/spec/volumes", "/spec/initContainers"],
  );
  const out = apply(pod, ops) as Pod;
  assert.equal(out.spec.initContainers.length, 1);
  // A resolution already on the pod (a forged one) is replaced, not kept.
  const forged = {
    metadata: { annotations: { [RESOLVED_ANNOTATION]: "acme.echo_http@6.6.6=sha256:00" } },
    spec: { containers: [] },
  };
  const replaced = apply(forged, podPatch(forged, [A], CFG)) as Pod;
  assert.equal(replaced.metadata.annotations[RESOLVED_ANNOTATION], formatResolution([A]));
});

test("a resolution entry comes from an Enabled Skill's status, key included; a status without the key cannot be delivered", () => {
  const skill = enabledSkill();
  assert.deepEqual(resolvedFrom(skill), A);
  const { publicKey: _dropped, ...older } = skill.status;
  assert.equal(resolvedFrom({ ...skill, status: older }), undefined);
});

test("mutatePod binds a pod once (idempotent on reinvocation); checkPodDelivery refuses a resolution or installer changed afterwards", () => {
  const skill = enabledSkill();
  const snap = {
    skillsWithId: (_ns: string, id: string) => (id === A.skillId ? [skill] : []),
    policies: () => [],
    namespaceLabels: () => ({}),
    trustStore: () => undefined,
    signingKeyOf: () => undefined,
  };
  const req = (object: unknown) => ({
    uid: "u",
    kind: { group: "", version: "v1", kind: "Pod" },
    resource: { group: "", version: "v1", resource: "pods" },
    namespace: "ns",
    name: "p",
    operation: "CREATE" as const,
    userInfo: { username: "tina" },
    object: object as Record<string, unknown>,
  });
  const pod = {
    metadata: { name: "p", annotations: { "skills.palyra.dev/skills": A.skillId } },
    spec: { serviceAccountName: "agent", containers: [{ name: "c", image: "x" }] },
  };
  // No ServiceAccount, no token to install with: a clear denial, not the API server's.
  assert.match(
    mutatePod(req({ ...pod, spec: { containers: [] } }), snap, CFG).message ?? "",
    /spec\.serviceAccountName is not set/,
  );
  const first = mutatePod(req(pod), snap, CFG);
  assert.ok(first.allowed && first.patch && first.patch.length > 0);
  const mutated = apply(pod, (first.patch ?? []) as PatchOp[]);
  assert.deepEqual(mutatePod(req(mutated), snap, CFG), { allowed: true }, "reinvoked: no change");
  assert.equal(checkPodDelivery(req(mutated), snap, CFG).allowed, true);
  // A later mutation swaps the installer's expectations: refused at validation.
  const swapped = structuredClone(mutated) as Pod;
  const args = swapped.spec.initContainers[0]?.args ?? [];
  args[args.length - 1] = `${A.skillId},${"f".repeat(64)},${"f".repeat(64)},${"f".repeat(64)}`;
  assert.match(
    checkPodDelivery(req(swapped), snap, CFG).message ?? "",
    /delivery was changed after the operator's: the palyra-skills-install arguments/,
  );
  const relabelled = structuredClone(mutated) as Pod;
  relabelled.metadata.annotations[RESOLVED_ANNOTATION] =
    `${A.skillId}@9.9.9=sha256:${"f".repeat(64)}`;
  assert.match(
    checkPodDelivery(req(relabelled), snap, CFG).message ?? "",
    /not the current resolution/,
  );
  // The delivery label is part of what the operator writes.
  const unlabelled = structuredClone(mutated) as Pod & {
    metadata: { labels: Record<string, string> };
  };
  delete unlabelled.metadata.labels[DELIVERED_LABEL];
  assert.match(
    checkPodDelivery(req(unlabelled), snap, CFG).message ?? "",
    /label skills\.palyra\.dev\/delivered/,
  );
  // A pod that skipped the mutation entirely is refused too.
  assert.equal(checkPodDelivery(req(pod), snap, CFG).allowed, false);
  // A skill that does not resolve is denied by the mutating webhook itself.
  const unknown = {
    ...pod,
    metadata: { name: "p", annotations: { "skills.palyra.dev/skills": "acme.nope" } },
  };
  assert.match(
    mutatePod(req(unknown), snap, CFG).message ?? "",
    /no Skill in namespace ns provides acme\.nope/,
  );
});

test("the resolution annotation reads back exactly as written; anything else is not a resolution", () => {
  assert.deepEqual(parseResolution(formatResolution([A, B])), [
    { skillId: A.skillId, version: A.version, payloadSha256: A.payloadSha256 },
    { skillId: B.skillId, version: B.version, payloadSha256: B.payloadSha256 },
  ]);
  for (const bad of [
    "",
    `${A.skillId}@1.0.0=sha256:${"a".repeat(63)}`,
    `${A.skillId}@1.0.0=sha256:${"A".repeat(64)}`,
    `${A.skillId}=sha256:${"a".repeat(64)}`,
    `${formatResolution([A])},`,
    `${formatResolution([A])} `,
    `x@1=sha256:${"a".repeat(64)},`.repeat(400),
  ]) {
    assert.equal(parseResolution(bad), undefined, JSON.stringify(bad.slice(0, 80)));
  }
});

test("a running pod keeps its resolution and delivery label; a pod naming no skills may carry neither", () => {
  const snap = {
    skillsWithId: () => [],
    policies: () => [],
    namespaceLabels: () => ({}),
    trustStore: () => undefined,
    signingKeyOf: () => undefined,
  };
  const bound = {
    metadata: {
      name: "p",
      labels: { [DELIVERED_LABEL]: "true", app: "a" },
      annotations: {
        "skills.palyra.dev/skills": A.skillId,
        [RESOLVED_ANNOTATION]: formatResolution([A]),
      },
    },
    spec: { containers: [] },
  };
  const update = (object: unknown, operation: "UPDATE" | "CREATE" = "UPDATE") => ({
    uid: "u",
    kind: { group: "", version: "v1", kind: "Pod" },
    resource: { group: "", version: "v1", resource: "pods" },
    namespace: "ns",
    name: "p",
    operation,
    userInfo: { username: "tina" },
    object: object as Record<string, unknown>,
    oldObject: bound as unknown as Record<string, unknown>,
  });
  // Other labels may change.
  const relabelled = structuredClone(bound);
  relabelled.metadata.labels.app = "b";
  assert.equal(checkPodDelivery(update(relabelled), snap, CFG).allowed, true);
  const stripped = structuredClone(bound);
  stripped.metadata.labels = { app: "a" } as typeof bound.metadata.labels;
  assert.match(
    checkPodDelivery(update(stripped), snap, CFG).message ?? "",
    /label skills\.palyra\.dev\/delivered records what the pod was installed with and cannot change/,
  );
  const swapped = structuredClone(bound);
  swapped.metadata.annotations[RESOLVED_ANNOTATION] = formatResolution([
    { ...A, payloadSha256: "f".repeat(64) },
  ]);
  assert.equal(checkPodDelivery(update(swapped), snap, CFG).allowed, false);
  // Created with the operator's marks but naming no skills: refused.
  const forged = {
    metadata: {
      name: "p",
      labels: { [DELIVERED_LABEL]: "true" },
      annotations: { [RESOLVED_ANNOTATION]: formatResolution([A]) },
    },
    spec: { containers: [] },
  };
  assert.match(
    checkPodDelivery(update(forged, "CREATE"), snap, CFG).message ?? "",
    /annotation skills\.palyra\.dev\/resolved and label skills\.palyra\.dev\/delivered are written by the operator/,
  );
  assert.equal(
    checkPodDelivery(update({ metadata: { name: "p" }, spec: {} }, "CREATE"), snap, CFG).allowed,
    true,
  );
});
