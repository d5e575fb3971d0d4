/** Exponential backoff: growth, cap, reset, jitter bounds, and per-key independence. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Backoff, KeyedBackoff } from "../../src/kube/backoff.ts";

const take = (b: Backoff, n: number): number[] => Array.from({ length: n }, () => b.next());

describe("Backoff", () => {
  test("doubles from initialMs by default", () => {
    const b = new Backoff({ initialMs: 10, maxMs: 1_000_000 });
    assert.deepEqual(take(b, 6), [10, 20, 40, 80, 160, 320]);
  });

  test("defaults are 5 ms, factor 2, capped at 30 s", () => {
    const b = new Backoff();
    assert.deepEqual(take(b, 4), [5, 10, 20, 40]);
    for (let i = 0; i < 20; i++) b.next();
    assert.equal(b.next(), 30_000);
  });

  test("honours a custom factor", () => {
    const b = new Backoff({ initialMs: 1, factor: 3, maxMs: 1_000 });
    assert.deepEqual(take(b, 5), [1, 3, 9, 27, 81]);
  });

  test("is capped at maxMs and stays there, finite, after very many attempts", () => {
    const b = new Backoff({ initialMs: 10, maxMs: 100 });
    assert.deepEqual(take(b, 6), [10, 20, 40, 80, 100, 100]);
    for (let i = 0; i < 500; i++) b.next();
    assert.equal(b.next(), 100);
    const huge = new Backoff({ initialMs: 1, factor: 1e10, maxMs: 7 });
    for (let i = 0; i < 200; i++) {
      const d = huge.next();
      assert.ok(Number.isFinite(d) && d <= 7, `delay ${d}`);
    }
  });

  test("counts attempts and reset starts over", () => {
    const b = new Backoff({ initialMs: 10, maxMs: 100 });
    assert.equal(b.attempts, 0);
    take(b, 3);
    assert.equal(b.attempts, 3);
    b.reset();
    assert.equal(b.attempts, 0);
    assert.equal(b.next(), 10);
    assert.equal(b.attempts, 1);
  });

  test("jitter removes at most its share of the delay, using the injected random", () => {
    assert.equal(new Backoff({ initialMs: 100, jitter: 0.5, random: () => 0 }).next(), 100);
    assert.equal(new Backoff({ initialMs: 100, jitter: 0.5, random: () => 1 }).next(), 50);
    assert.equal(new Backoff({ initialMs: 100, jitter: 0.5, random: () => 0.5 }).next(), 75);
    assert.equal(new Backoff({ initialMs: 100, jitter: 0.2, random: () => 0.5 }).next(), 90);
    // Jitter applies after the cap.
    const capped = new Backoff({ initialMs: 100, maxMs: 150, jitter: 0.5, random: () => 1 });
    assert.deepEqual(take(capped, 3), [50, 75, 75]);
  });

  test("jitter with the default random stays within [base·(1−jitter), base]", () => {
    const b = new Backoff({ initialMs: 64, maxMs: 64, jitter: 0.25 });
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const d = b.next();
      assert.ok(d >= 48 && d <= 64, `delay ${d} out of bounds`);
      seen.add(d);
    }
    assert.ok(seen.size > 1, "jitter should vary the delay");
  });

  test("no jitter means the random source is never consulted", () => {
    let calls = 0;
    const b = new Backoff({
      initialMs: 4,
      random: () => {
        calls++;
        return 0.5;
      },
    });
    assert.deepEqual(take(b, 3), [4, 8, 16]);
    assert.equal(calls, 0);
  });
});

describe("KeyedBackoff", () => {
  test("each key backs off independently", () => {
    const k = new KeyedBackoff({ initialMs: 1, maxMs: 1000 });
    assert.deepEqual([k.next("a"), k.next("a"), k.next("a")], [1, 2, 4]);
    assert.equal(k.next("b"), 1);
    assert.equal(k.next("a"), 8);
    assert.equal(k.next("b"), 2);
    assert.equal(k.attempts("a"), 4);
    assert.equal(k.attempts("b"), 2);
    assert.equal(k.attempts("never"), 0);
    assert.equal(k.size, 2);
  });

  test("forget resets one key and leaves the others alone", () => {
    const k = new KeyedBackoff({ initialMs: 1 });
    k.next("a");
    k.next("a");
    k.next("b");
    k.forget("a");
    assert.equal(k.attempts("a"), 0);
    assert.equal(k.size, 1);
    assert.equal(k.next("a"), 1);
    assert.equal(k.next("b"), 2);
    k.forget("missing");
    assert.equal(k.size, 2);
  });

  test("caps per key and applies jitter with the injected random", () => {
    const k = new KeyedBackoff({ initialMs: 10, maxMs: 30, jitter: 0.5, random: () => 1 });
    assert.deepEqual([k.next("a"), k.next("a"), k.next("a"), k.next("a")], [5, 10, 15, 15]);
  });
});
