import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { KubeConfig } from "../../src/kube/kubeconfig.ts";

type Options = Parameters<KubeConfig["applyToHTTPSOptions"]>[0];

const dir = mkdtempSync(join(tmpdir(), "palyra-kubeconfig-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test("a kubeconfig file: current context, CA file relative to the file, token file re-read on every call", async () => {
  write("ca.crt", "CA PEM");
  write("token", "first\n");
  const path = write(
    "config",
    `apiVersion: v1
kind: Config
current-context: b
clusters:
- name: one
  cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: ${Buffer.from("OTHER").toString("base64")}}
- name: two
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: ca.crt, tls-server-name: api.test}
users:
- name: u
  user: {tokenFile: token}
contexts:
- name: a
  context: {cluster: one, user: u}
- name: b
  context: {cluster: two, user: u, namespace: team}
`,
  );
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  assert.equal(kc.getCurrentCluster()?.server, "https://127.0.0.1:6443");
  assert.equal(kc.getCurrentContext()?.namespace, "team");
  const opts: Options = {};
  await kc.applyToHTTPSOptions(opts);
  assert.equal(String(opts.ca), "CA PEM");
  assert.equal(opts.servername, "api.test");
  assert.equal(opts.headers?.Authorization, "Bearer first");
  write("token", "rotated\n");
  const again: Options = {};
  await kc.applyToHTTPSOptions(again);
  assert.equal(again.headers?.Authorization, "Bearer rotated");
});

test("client certificates from data, basic auth, insecure-skip-tls-verify", async () => {
  const kc = new KubeConfig();
  kc.loadFromString(`current-context: c
clusters: [{name: k, cluster: {server: "https://x", insecure-skip-tls-verify: true}}]
users:
- {name: cert, user: {client-certificate-data: ${Buffer.from("CERT").toString("base64")}, client-key-data: ${Buffer.from("KEY").toString("base64")}}}
- {name: basic, user: {username: admin, password: pw}}
contexts: [{name: c, context: {cluster: k, user: cert}}, {name: d, context: {cluster: k, user: basic}}]
`);
  const opts: Options = {};
  await kc.applyToHTTPSOptions(opts);
  assert.equal(String(opts.cert), "CERT");
  assert.equal(String(opts.key), "KEY");
  assert.equal(opts.rejectUnauthorized, false);
  assert.equal(opts.headers?.Authorization, undefined);
  kc.currentContext = "d";
  const basic: Options = {};
  await kc.applyToHTTPSOptions(basic);
  assert.equal(basic.auth, "admin:pw");
});

test("an exec plugin's ExecCredential token is used and cached until shortly before it expires", async () => {
  const counter = join(dir, "exec-count");
  writeFileSync(counter, "");
  const plugin = write(
    "plugin.sh",
    `#!/bin/sh
echo x >> "${counter}"
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec-'"$PLUGIN_ARG"'","expirationTimestamp":"2999-01-01T00:00:00Z"}}'
`,
  );
  chmodSync(plugin, 0o755);
  const kc = new KubeConfig();
  kc.loadFromString(`current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
users: [{name: e, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: "${plugin}", env: [{name: PLUGIN_ARG, value: "42"}]}}}]
contexts: [{name: c, context: {cluster: k, user: e}}]
`);
  for (let i = 0; i < 3; i++) {
    const opts: Options = {};
    await kc.applyToHTTPSOptions(opts);
    assert.equal(opts.headers?.Authorization, "Bearer from-exec-42");
  }
  const { readFileSync } = await import("node:fs");
  assert.equal(readFileSync(counter, "utf8").trim().split("\n").length, 1, "ran once, then cached");
});

test("what it cannot do fails with a clear error", async () => {
  const kc = new KubeConfig();
  kc.loadFromString(`current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
users: [{name: g, user: {auth-provider: {name: gcp}}}]
contexts: [{name: c, context: {cluster: k, user: g}}]
`);
  await assert.rejects(kc.applyToHTTPSOptions({}), /auth-provider plugins are not supported/);
  assert.throws(
    () => new KubeConfig().loadFromFile(join(dir, "missing")),
    /cannot read kubeconfig/,
  );
  const nowhere = new KubeConfig();
  nowhere.loadFromString("current-context: nope\n");
  assert.equal(nowhere.getCurrentCluster(), undefined);
});

test("in-cluster: the API server from the environment, the service account's token and CA", () => {
  const saved = {
    host: process.env.KUBERNETES_SERVICE_HOST,
    port: process.env.KUBERNETES_SERVICE_PORT,
  };
  process.env.KUBERNETES_SERVICE_HOST = "fd00::1";
  process.env.KUBERNETES_SERVICE_PORT = "6443";
  try {
    const kc = new KubeConfig();
    kc.loadFromCluster();
    assert.equal(kc.getCurrentCluster()?.server, "https://[fd00::1]:6443");
    assert.equal(
      kc.getCurrentUser()?.tokenFile,
      "/var/run/secrets/kubernetes.io/serviceaccount/token",
    );
  } finally {
    if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
    else process.env.KUBERNETES_SERVICE_HOST = saved.host;
    if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
    else process.env.KUBERNETES_SERVICE_PORT = saved.port;
  }
});

test("impersonation: as, as-groups and as-uid become Impersonate-* headers; groups without a user are refused", async () => {
  const kc = new KubeConfig();
  kc.loadFromString(`current-context: sa
clusters: [{name: k, cluster: {server: "https://x"}}]
users:
- {name: admin-as-sa, user: {token: t, as: "system:serviceaccount:palyra-system:op", as-groups: ["system:serviceaccounts", "system:authenticated"], as-uid: "42"}}
- {name: groups-only, user: {token: t, as-groups: [g]}}
contexts: [{name: sa, context: {cluster: k, user: admin-as-sa}}, {name: bad, context: {cluster: k, user: groups-only}}]
`);
  const opts: Options = {};
  await kc.applyToHTTPSOptions(opts);
  assert.equal(opts.headers?.Authorization, "Bearer t");
  assert.equal(opts.headers?.["Impersonate-User"], "system:serviceaccount:palyra-system:op");
  assert.deepEqual(opts.headers?.["Impersonate-Group"], [
    "system:serviceaccounts",
    "system:authenticated",
  ]);
  assert.equal(opts.headers?.["Impersonate-Uid"], "42");
  kc.currentContext = "bad";
  await assert.rejects(kc.applyToHTTPSOptions({}), /as-groups and as-uid need as/);
});
