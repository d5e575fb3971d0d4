/** The work queue's contract: dedupe, one worker per key, bounded concurrency, backoff, conflicts. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyedBackoff } from "../../src/kube/backoff.ts";
import { WorkQueue } from "../../src/kube/workqueue.ts";

const fast = () => new KeyedBackoff({ initialMs: 1, maxMs: 50 });
const tick = (ms = 1) => new Promise<void>((r) => setTimeout(r, ms));

async function until(check: () => boolean, what = "condition", ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick();
  }
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

/** Records every delay the queue asks for, per key. */
class RecordingBackoff extends KeyedBackoff {
  readonly delays: number[] = [];
  override next(key: string): number {
    const d = super.next(key);
    this.delays.push(d);
    return d;
  }
}

test("keys waiting in the queue are de-duplicated", async () => {
  const q = new WorkQueue({ name: "t", backoff: fast() });
  const seen: string[] = [];
  q.add("a");
  q.add("b");
  q.add("a");
  q.add("b");
  q.add("a");
  assert.equal(q.length, 2);
  assert.ok(q.has("a") && q.has("b") && !q.has("c"));
  q.start(async (k) => {
    seen.push(k);
  }, 1);
  await q.idle();
  assert.deepEqual(seen, ["a", "b"]);
  assert.equal(q.length, 0);
  assert.equal(q.has("a"), false);
});

test("a key added while it is processed runs again exactly once afterwards, never concurrently", async () => {
  const q = new WorkQueue({ name: "t", backoff: fast() });
  const first = gate();
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  q.start(async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    runs++;
    if (runs === 1) await first.promise;
    else await tick(2);
    running--;
  }, 4);
  q.add("k");
  await until(() => runs === 1, "first run");
  q.add("k");
  q.add("k");
  q.add("k");
  // While it is processed the key is only marked dirty: not queued, not started again.
  assert.equal(q.length, 0);
  assert.equal(q.processing, 1);
  assert.equal(q.has("k"), true);
  await tick(10);
  assert.equal(runs, 1);
  first.open();
  await until(() => runs === 2, "second run");
  await q.idle();
  await tick(20);
  assert.equal(runs, 2);
  assert.equal(maxRunning, 1);
});

test("concurrency is bounded and every key is handled once", async () => {
  const q = new WorkQueue({ name: "t", backoff: fast() });
  let running = 0;
  let max = 0;
  const done: string[] = [];
  q.start(async (k) => {
    running++;
    max = Math.max(max, running);
    assert.ok(q.processing <= 3, `processing ${q.processing}`);
    await tick(2);
    running--;
    done.push(k);
  }, 3);
  for (let i = 0; i < 20; i++) q.add(`k${i}`);
  await until(() => done.length === 20, "20 keys");
  await q.idle();
  assert.equal(max, 3);
  assert.equal(new Set(done).size, 20);
});

test("a thrown error calls onError and retries with growing backoff; success resets retries", async () => {
  const backoff = new RecordingBackoff({ initialMs: 1, maxMs: 1000 });
  const errors: { key: string; error: unknown; retries: number }[] = [];
  const q = new WorkQueue({
    name: "t",
    backoff,
    onError: (key, error, retries) => errors.push({ key, error, retries }),
  });
  const boom = new Error("boom");
  const retriesSeen: number[] = [];
  let calls = 0;
  q.start(async (k) => {
    calls++;
    retriesSeen.push(q.retries(k));
    if (calls <= 3) throw boom;
  }, 1);
  q.add("k");
  await until(() => calls === 4, "4 calls");
  await q.idle();
  assert.deepEqual(
    errors.map((e) => [e.key, e.retries]),
    [
      ["k", 1],
      ["k", 2],
      ["k", 3],
    ],
  );
  assert.ok(errors.every((e) => e.error === boom));
  assert.deepEqual(backoff.delays, [1, 2, 4]);
  assert.deepEqual(retriesSeen, [0, 1, 2, 3]);
  assert.equal(q.retries("k"), 0);
});

test("a returned {error} is handled like a thrown one", async () => {
  const errors: unknown[] = [];
  const q = new WorkQueue({ name: "t", backoff: fast(), onError: (_k, e) => errors.push(e) });
  let calls = 0;
  q.start(async () => {
    calls++;
    return calls === 1 ? { error: "bad" } : undefined;
  }, 1);
  q.add("k");
  await until(() => calls === 2, "retry");
  await q.idle();
  assert.deepEqual(errors, ["bad"]);
  assert.equal(q.retries("k"), 0);
});

test("{conflict: true} requeues and calls onConflict, not onError", async () => {
  const errors: string[] = [];
  const conflicts: string[] = [];
  const q = new WorkQueue({
    name: "t",
    backoff: fast(),
    onError: (k) => errors.push(k),
    onConflict: (k) => conflicts.push(k),
  });
  let calls = 0;
  q.start(async () => {
    calls++;
    return calls <= 2 ? { conflict: true } : undefined;
  }, 1);
  q.add("c");
  await until(() => calls === 3, "two requeues");
  await q.idle();
  assert.deepEqual(conflicts, ["c", "c"]);
  assert.deepEqual(errors, []);
  assert.equal(q.retries("c"), 0);
});

test("{requeueAfterMs} runs the key again later", async () => {
  const q = new WorkQueue({ name: "t", backoff: fast() });
  const at: number[] = [];
  const t0 = Date.now();
  q.start(async () => {
    at.push(Date.now() - t0);
    return at.length === 1 ? { requeueAfterMs: 40 } : undefined;
  }, 1);
  q.add("r");
  await until(() => at.length === 1, "first run");
  await q.idle();
  assert.equal(q.waiting, 1);
  assert.equal(q.has("r"), true);
  assert.equal(q.retries("r"), 0);
  await until(() => at.length === 2, "requeued run");
  assert.ok((at[1] ?? 0) - (at[0] ?? 0) >= 30, `requeued after ${at[1]} ms`);
  await tick(60);
  assert.equal(at.length, 2);
  assert.equal(q.waiting, 0);
});

test("shutDown waits for in-flight handlers and drops queued and delayed keys", async () => {
  const q = new WorkQueue({ name: "t", backoff: fast() });
  const release = gate();
  const started: string[] = [];
  let finished = false;
  q.start(async (k) => {
    started.push(k);
    await release.promise;
    finished = true;
    return { requeueAfterMs: 1 };
  }, 1);
  q.add("a");
  q.add("b");
  q.addAfter("c", 5);
  await until(() => started.length === 1, "a to start");
  let shut = false;
  const stopping = q.shutDown().then(() => {
    shut = true;
  });
  assert.equal(q.length, 0);
  assert.equal(q.waiting, 0);
  await tick(20);
  assert.equal(shut, false, "shutDown must wait for the in-flight handler");
  release.open();
  await stopping;
  assert.equal(finished, true);
  await tick(20);
  assert.deepEqual(started, ["a"]);
  q.add("d");
  q.addAfter("e", 1);
  assert.equal(q.length, 0);
  assert.equal(q.waiting, 0);
  assert.equal(q.has("a"), false);
});

test("addAfter keeps the earliest of two delays", async () => {
  for (const delays of [
    [150, 10],
    [10, 150],
  ]) {
    const q = new WorkQueue({ name: "t", backoff: fast() });
    const at: number[] = [];
    const t0 = Date.now();
    q.start(async () => {
      at.push(Date.now() - t0);
    }, 1);
    for (const d of delays) q.addAfter("k", d);
    assert.equal(q.waiting, 1);
    await until(() => at.length === 1, "delayed run");
    assert.ok((at[0] ?? 0) < 100, `ran after ${at[0]} ms for ${delays}`);
    // The later delay is gone, not merely still pending.
    assert.equal(q.waiting, 0);
    await tick(20);
    assert.equal(at.length, 1);
    await q.shutDown();
  }
});

test("addAfter with a non-positive delay adds at once; metrics see adds and depth", async () => {
  const depths: number[] = [];
  let adds = 0;
  const q = new WorkQueue({
    name: "t",
    backoff: fast(),
    metrics: { adds: () => adds++, depth: (n) => depths.push(n) },
  });
  q.addAfter("a", 0);
  q.addAfter("b", -5);
  assert.equal(q.length, 2);
  assert.equal(q.waiting, 0);
  assert.equal(adds, 2);
  assert.deepEqual(depths, [1, 2]);
  const seen: string[] = [];
  q.start(async (k) => {
    seen.push(k);
  }, 2);
  await q.idle();
  assert.deepEqual(seen.sort(), ["a", "b"]);
  assert.equal(depths.at(-1), 0);
});
