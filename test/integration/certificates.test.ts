/**
 * The webhook certificate's life in a real Secret: first issue, adoption by a racing replica,
 * leaf renewal under the same CA, and CA renewal that keeps the old CA in the bundle.
 */

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, before, test } from "node:test";
import { KubeClient } from "../../src/kube/client.ts";
import { KubeConfig } from "../../src/kube/kubeconfig.ts";
import { createCertificateAuthority, issueServingCertificate } from "../../src/tls/pki.ts";
import { WebhookCertificates } from "../../src/webhook/certificates.ts";
import { installCrds } from "../support/crds.ts";
import { testCluster } from "../support/kube.ts";
import { startOperator } from "../support/operator.ts";
import { ensureNamespace, unique } from "../support/resources.ts";

let client: KubeClient;
const NS = "palyra-system";
const DAY = 86_400_000;

before(async () => {
  await installCrds();
  await ensureNamespace(NS);
  const kc = new KubeConfig();
  kc.loadFromFile(testCluster().kubeconfig);
  client = await KubeClient.fromKubeConfig(kc);
});
after(() => client.close());

const certs = (secretName: string, now: () => Date) =>
  new WebhookCertificates(client, {
    namespace: NS,
    secretName,
    dnsNames: ["webhook.palyra-system.svc"],
    validitySeconds: 30 * 86_400,
    caValiditySeconds: 90 * 86_400,
    now,
  });

const cas = (bundle: string) =>
  bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];

test("replicas racing to issue agree on one certificate; nothing changes while it is fresh", async () => {
  const secret = unique("tls");
  const t0 = new Date();
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => certs(secret, () => t0).ensure()));
  assert.equal(a?.certPem, b?.certPem);
  assert.equal(b?.certPem, c?.certPem);
  const again = await certs(secret, () => new Date(t0.getTime() + 5 * DAY)).ensure();
  assert.equal(again.certPem, a?.certPem);
  assert.ok(new X509Certificate(a?.certPem ?? "").checkHost("webhook.palyra-system.svc"));
});

test("a leaf with a third of its life left is renewed under the same CA; a CA due for renewal is replaced with both CAs in the bundle", async () => {
  const secret = unique("tls");
  const t0 = new Date();
  const first = await certs(secret, () => t0).ensure();
  const renewed = await certs(secret, () => new Date(t0.getTime() + 21 * DAY)).ensure();
  assert.notEqual(renewed.certPem, first.certPem);
  assert.equal(
    renewed.caBundlePem,
    first.caBundlePem,
    "same CA, same bundle: nothing to re-register",
  );
  const oldCa = new X509Certificate(cas(first.caBundlePem)[0] ?? "");
  assert.ok(new X509Certificate(renewed.certPem).checkIssued(oldCa));

  const rolled = await certs(secret, () => new Date(t0.getTime() + 61 * DAY)).ensure();
  const bundle = cas(rolled.caBundlePem).map((p) => new X509Certificate(p));
  assert.equal(bundle.length, 2, "new CA and old CA");
  assert.ok(
    bundle.some((ca) => ca.fingerprint256 === oldCa.fingerprint256),
    "the old CA is still trusted",
  );
  const leaf = new X509Certificate(rolled.certPem);
  assert.ok(
    !leaf.checkIssued(oldCa) && bundle.some((ca) => leaf.checkIssued(ca)),
    "the new leaf comes from the new CA",
  );
});

/** Writes a Secret the way cert-manager does: kubernetes.io/tls with tls.crt, tls.key, ca.crt. */
async function writeIssuedSecret(
  name: string,
  dnsNames: string[],
  rv?: string,
  ipAddresses: string[] = [],
): Promise<string> {
  const ca = createCertificateAuthority({ commonName: "external issuer" });
  const leaf = issueServingCertificate(ca, {
    commonName: dnsNames[0] ?? "x",
    dnsNames,
    ipAddresses,
  });
  const body = {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: { name, ...(rv ? { resourceVersion: rv } : {}) },
    data: {
      "tls.crt": Buffer.from(leaf.certPem).toString("base64"),
      "tls.key": Buffer.from(leaf.keyPem).toString("base64"),
      "ca.crt": Buffer.from(ca.certPem).toString("base64"),
    },
  };
  const path = `/api/v1/namespaces/${NS}/secrets`;
  const written = rv
    ? await client.request<{ metadata: { resourceVersion: string } }>(`${path}/${name}`, {
        method: "PUT",
        body,
      })
    : await client.request<{ metadata: { resourceVersion: string } }>(path, {
        method: "POST",
        body,
      });
  return written.metadata.resourceVersion;
}

test("with another issuer (cert-manager) the Secret is only read: a clear error until it exists, its renewals picked up, never written", async () => {
  const secret = unique("tls");
  const readOnly = new WebhookCertificates(client, {
    namespace: NS,
    secretName: secret,
    dnsNames: ["webhook.palyra-system.svc"],
    readOnly: true,
  });
  await assert.rejects(readOnly.ensure(), /does not exist yet .*cert-manager/);
  const rv = await writeIssuedSecret(secret, ["webhook.palyra-system.svc"]);
  const first = await readOnly.ensure();
  assert.match(first.caBundlePem, /BEGIN CERTIFICATE/);
  const rv2 = await writeIssuedSecret(secret, ["webhook.palyra-system.svc"], rv);
  const second = await readOnly.ensure();
  assert.notEqual(second.certPem, first.certPem, "the issuer's renewal is picked up");
  const stored = await client.request<{ metadata: { resourceVersion: string } }>(
    `/api/v1/namespaces/${NS}/secrets/${secret}`,
  );
  assert.equal(stored.metadata.resourceVersion, rv2, "the operator never wrote the Secret");

  const wrongName = unique("tls");
  await writeIssuedSecret(wrongName, ["other.example"]);
  await assert.rejects(
    new WebhookCertificates(client, {
      namespace: NS,
      secretName: wrongName,
      dnsNames: ["webhook.palyra-system.svc"],
      readOnly: true,
    }).ensure(),
    /tls\.crt does not name webhook\.palyra-system\.svc/,
  );
});

test("an operator started before its issuer wrote the Secret waits for it, then serves exactly that certificate", async () => {
  const secret = unique("tls");
  const starting = startOperator([
    "--leader-elect=false",
    "--webhook-bind-address",
    "127.0.0.1:0",
    "--webhook-certificates",
    "secret",
    "--webhook-secret",
    secret,
    "--no-webhook-registration",
  ]);
  await new Promise((r) => setTimeout(r, 1500));
  await writeIssuedSecret(secret, ["localhost"], undefined, ["127.0.0.1"]);
  const operator = await starting;
  try {
    assert.ok(
      operator.logs.some((l) => l.msg === "waiting for the webhook certificate from its issuer"),
      "it said it was waiting",
    );
    const stored = await client.request<{ data: Record<string, string> }>(
      `/api/v1/namespaces/${NS}/secrets/${secret}`,
    );
    const expected = new X509Certificate(Buffer.from(stored.data["tls.crt"] ?? "", "base64"));
    const { connect } = await import("node:tls");
    const served = await new Promise<string>((resolve, reject) => {
      const socket = connect(
        { host: "127.0.0.1", port: operator.webhookPort, rejectUnauthorized: false },
        () => {
          resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? "");
          socket.end();
        },
      );
      socket.on("error", reject);
    });
    assert.equal(served, expected.fingerprint256);
  } finally {
    assert.equal(await operator.stop(), 0);
  }
});
