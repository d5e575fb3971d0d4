/** The work queue's contract: dedupe, one worker per key, bounded concurrency, backoff, conflicts. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, KeyedBackoff } from "../../src/kube/backoff.ts";
import { WorkQueue } from "../../src/kube/workqueue.ts";

const fast = () => new KeyedBackoff({ initialMs: 1, maxMs: 20 });
const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await tick();
  }
}

test("keys waiting in the queue are not queued twice", async () => {
  const q = new WorkQueue({ name: "t", backoff: fast() });
  const seen: string[] = [];
  q.add("a");
  q.add("b");
  q.add("a");
  assert.equal(q.length, 2);
  q.start(async (k) => {
    seen.push(k);
  }, 1);
  await q.idle();
  assert.deepEqual(seen, ["a", "b"]);
});

test("a key added while it is processed runs again exactly once afterwards, never concurrently", async () => {
  const q = new WorkQueue({ name: "t", backoff: fast() });
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  q.start(async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    runs++;
    if (runs === 1) {
      q.add("k");
      q.add("k");
      q.add("k");
    }
    await tick(5);
    running--;
  }, 4);
  q.add("k");
  await until(() => runs === 2 && running === 0);
  await tick(20);
  assert.equal(runs, 2);
  assert.equal(maxRunning, 1);
});

test("concurrency is bounded", async () => {
  const q = new WorkQueue({ name: "t", backoff: fast() });
  let running = 0;
  let max = 0;
  let done = 0;
  q.start(async () => {
    running++;
    max = Math.max(max, running);
    await tick(3);
    running--;
    done++;
  }, 3);
  for (let i = 0; i < 20; i++) q.add(`k${i}`);
  await until(() => done === 20);
  assert.equal(max, 3);
});

test("errors retry with growing backoff; success resets the key's retries", async () => {
  const errors: number[] = [];
  const q = new WorkQueue({
    name: "t",
    backoff: fast(),
    onError: (_k, _e, retries) => errors.push(retries),
  });
  let calls = 0;
  q.start(async () => {
    calls++;
    if (calls <= 3) throw new Error("boom");
  }, 1);
  q.add("k");
  await until(() => calls === 4);
  await q.idle();
  assert.deepEqual(errors, [1, 2, 3]);
  assert.equal(q.retries("k"), 0);
});

test("a conflict is a requeue, not an error; requeueAfterMs runs the key again later", async () => {
  const errors: string[] = [];
  const conflicts: string[] = [];
  const q = new WorkQueue({
    name: "t",
    backoff: fast(),
    onError: (k) => errors.push(k),
    onConflict: (k) => conflicts.push(k),
  });
  let calls = 0;
  q.start(async (k) => {
    calls++;
    if (k === "c" && calls === 1) return { conflict: true };
    if (k === "r" && calls <= 3) return { requeueAfterMs: 5 };
    return undefined;
  }, 1);
  q.add("c");
  await until(() => calls === 2);
  assert.deepEqual(conflicts, ["c"]);
  assert.deepEqual(errors, []);
  q.add("r");
  await until(() => calls === 4);
  assert.equal(q.waiting, 0);
});

test("shutDown waits for in-flight work and drops what is queued or delayed", async () => {
  const q = new WorkQueue({ name: "t", backoff: fast() });
  const started: string[] = [];
  let finished = false;
  q.start(async (k) => {
    started.push(k);
    await tick(30);
    finished = true;
  }, 1);
  q.add("a");
  q.add("b");
  q.addAfter("c", 5);
  await until(() => started.length === 1);
  await q.shutDown();
  assert.equal(finished, true);
  await tick(20);
  assert.deepEqual(started, ["a"]);
  q.add("d");
  assert.equal(q.length, 0);
});

test("addAfter keeps the earliest of two delays", async () => {
  const q = new WorkQueue({ name: "t", backoff: fast() });
  const at: number[] = [];
  const t0 = Date.now();
  q.start(async () => {
    at.push(Date.now() - t0);
  }, 1);
  q.addAfter("k", 2000);
  q.addAfter("k", 10);
  q.addAfter("k", 1000);
  await until(() => at.length === 1);
  assert.ok((at[0] ?? 0) < 500);
  assert.equal(q.waiting, 0);
});

test("backoff grows exponentially to its cap, resets, and jitter stays within bounds", () => {
  const b = new Backoff({ initialMs: 10, maxMs: 100 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [10, 20, 40, 80, 100]);
  b.reset();
  assert.equal(b.next(), 10);
  const j = new Backoff({ initialMs: 100, jitter: 0.5, random: () => 1 });
  assert.equal(j.next(), 50);
  const k = new KeyedBackoff({ initialMs: 1 });
  k.next("a");
  k.next("a");
  assert.equal(k.next("b"), 1);
  assert.equal(k.attempts("a"), 2);
  k.forget("a");
  assert.equal(k.attempts("a"), 0);
});
