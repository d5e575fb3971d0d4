/** AddressPolicy: the built-in non-public ranges, embedded IPv4, precedence, entry parsing. */

import assert from "node:assert/strict";
import { BlockList } from "node:net";
import { describe, test } from "node:test";
import fc from "fast-check";
import { AddressPolicy, DEFAULT_DENIED_RANGES } from "../../src/sources/address-policy.ts";
import { PROPERTY_TIMEOUT, runs } from "../support/fuzz.ts";

const defaults = new AddressPolicy();

function refusedBy(policy: AddressPolicy, address: string): string | undefined {
  const verdict = policy.check(address);
  return verdict.allowed ? undefined : verdict.range;
}

describe("AddressPolicy defaults", () => {
  test("the built-in list is the documented one", () => {
    assert.deepEqual(
      [...DEFAULT_DENIED_RANGES],
      [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
      ],
    );
    assert.ok(Object.isFrozen(DEFAULT_DENIED_RANGES));
  });

  test("non-public IPv4 addresses are refused, naming the range", () => {
    for (const [address, range] of [
      ["0.0.0.0", "0.0.0.0/8"],
      ["0.255.255.255", "0.0.0.0/8"],
      ["10.0.0.1", "10.0.0.0/8"],
      ["10.255.255.255", "10.0.0.0/8"],
      ["100.64.0.0", "100.64.0.0/10"],
      ["100.127.255.255", "100.64.0.0/10"],
      ["127.0.0.1", "127.0.0.0/8"],
      ["127.255.255.254", "127.0.0.0/8"],
      ["169.254.169.254", "169.254.0.0/16"],
      ["172.16.0.0", "172.16.0.0/12"],
      ["172.31.255.255", "172.16.0.0/12"],
      ["192.0.0.8", "192.0.0.0/24"],
      ["192.0.2.1", "192.0.2.0/24"],
      ["192.88.99.1", "192.88.99.0/24"],
      ["192.168.1.1", "192.168.0.0/16"],
      ["198.18.0.1", "198.18.0.0/15"],
      ["198.19.255.255", "198.18.0.0/15"],
      ["198.51.100.7", "198.51.100.0/24"],
      ["203.0.113.9", "203.0.113.0/24"],
      ["224.0.0.1", "224.0.0.0/4"],
      ["239.255.255.255", "224.0.0.0/4"],
      ["240.0.0.1", "240.0.0.0/4"],
      ["255.255.255.255", "240.0.0.0/4"],
    ] as const) {
      assert.deepEqual(
        defaults.check(address),
        { allowed: false, range, overridable: true },
        address,
      );
      assert.equal(defaults.isInternal(address), true, address);
    }
  });

  test("public IPv4 addresses, including the neighbours of refused ranges, are allowed", () => {
    for (const address of [
      "1.1.1.1",
      "8.8.8.8",
      "1.0.0.0",
      "9.255.255.255",
      "11.0.0.0",
      "100.63.255.255",
      "100.128.0.0",
      "126.255.255.255",
      "128.0.0.0",
      "169.253.255.255",
      "169.255.0.0",
      "172.15.255.255",
      "172.32.0.0",
      "192.0.1.0",
      "192.0.3.0",
      "192.88.98.255",
      "192.167.255.255",
      "192.169.0.0",
      "198.17.255.255",
      "198.20.0.0",
      "198.51.99.255",
      "203.0.112.255",
      "223.255.255.255",
    ]) {
      assert.deepEqual(defaults.check(address), { allowed: true }, address);
      assert.equal(defaults.isInternal(address), false, address);
    }
  });

  test("non-public IPv6 addresses are refused, naming the range", () => {
    for (const [address, range] of [
      ["::", "::/128"],
      ["::1", "::1/128"],
      ["0:0:0:0:0:0:0:1", "::1/128"],
      ["64:ff9b:1::1", "64:ff9b:1::/48"],
      ["100::1", "100::/64"],
      ["2001::1", "2001::/23"], // Teredo
      ["2001:1ff:ffff::1", "2001::/23"],
      ["2001:db8::1", "2001:db8::/32"],
      ["2002:a00:1::1", "2002::/16"],
      ["fc00::1", "fc00::/7"],
      ["fd00:ec2::254", "fc00::/7"], // a cloud metadata service
      ["fe80::1", "fe80::/10"],
      ["febf:ffff::1", "fe80::/10"],
      ["fec0::1", "fec0::/10"],
      ["ff02::1", "ff00::/8"],
      ["FF02::1", "ff00::/8"],
    ] as const) {
      assert.deepEqual(
        defaults.check(address),
        { allowed: false, range, overridable: true },
        address,
      );
      assert.equal(defaults.isInternal(address), true, address);
    }
  });

  test("public IPv6 addresses are allowed", () => {
    for (const address of [
      "2606:4700:4700::1111",
      "2a00:1450:4001:80b::200e",
      "2001:200::1", // just past 2001::/23
      "2001:db9::1",
      "2003::1",
      "fbff::1",
      "100:0:0:1::1", // just past 100::/64
      "64:ff9b:2::1",
    ]) {
      assert.deepEqual(defaults.check(address), { allowed: true }, address);
      assert.equal(defaults.isInternal(address), false, address);
    }
  });

  test("an IPv6 address carrying an IPv4 address is judged by it", () => {
    for (const [address, range] of [
      ["::ffff:127.0.0.1", "127.0.0.0/8"],
      ["::ffff:7f00:1", "127.0.0.0/8"],
      ["::FFFF:7F00:0001", "127.0.0.0/8"],
      ["0:0:0:0:0:ffff:a00:1", "10.0.0.0/8"],
      ["::ffff:169.254.169.254", "169.254.0.0/16"],
      ["::ffff:0.0.0.0", "0.0.0.0/8"],
      ["::10.0.0.1", "10.0.0.0/8"], // IPv4-compatible
      ["::a00:1", "10.0.0.0/8"],
      ["64:ff9b::10.0.0.1", "10.0.0.0/8"], // NAT64
      ["64:ff9b::a9fe:a9fe", "169.254.0.0/16"],
      ["64:ff9b::c0a8:101", "192.168.0.0/16"],
    ] as const) {
      assert.deepEqual(
        defaults.check(address),
        { allowed: false, range, overridable: true },
        address,
      );
      assert.equal(defaults.isInternal(address), true, address);
    }
    for (const address of ["::ffff:8.8.8.8", "::ffff:808:808", "64:ff9b::8.8.8.8", "::8.8.8.8"]) {
      assert.deepEqual(defaults.check(address), { allowed: true }, address);
    }
  });

  test("brackets and IPv6 zone indexes are accepted in checked addresses", () => {
    assert.equal(refusedBy(defaults, "[::1]"), "::1/128");
    assert.equal(refusedBy(defaults, "fe80::1%eth0"), "fe80::/10");
    assert.equal(refusedBy(defaults, "[fe80::1%25eth0]"), "fe80::/10");
    assert.equal(refusedBy(defaults, " 10.0.0.1 "), "10.0.0.0/8");
  });

  test("checking something that is not an IP address throws", () => {
    for (const bad of [
      "",
      "localhost",
      "example.com",
      "10.0.0",
      "10.0.0.256",
      "1::2::3",
      "010.0.0.1",
    ]) {
      assert.throws(() => defaults.check(bad), /not an IP address/, bad);
      assert.throws(() => defaults.isInternal(bad), /not an IP address/, bad);
    }
  });
});

describe("AddressPolicy precedence", () => {
  test("allow admits an address in a built-in range; it stays internal", () => {
    const p = new AddressPolicy({ allow: ["127.0.0.1/32", "10.1.0.0/16", "fd12::/16"] });
    assert.deepEqual(p.check("127.0.0.1"), { allowed: true });
    assert.equal(p.isInternal("127.0.0.1"), true);
    assert.equal(refusedBy(p, "127.0.0.2"), "127.0.0.0/8");
    assert.deepEqual(p.check("10.1.255.255"), { allowed: true });
    assert.equal(refusedBy(p, "10.2.0.0"), "10.0.0.0/8");
    assert.deepEqual(p.check("fd12:3456::1"), { allowed: true });
    assert.equal(refusedBy(p, "fd13::1"), "fc00::/7");
  });

  test("allow also admits the IPv4-mapped and NAT64 forms of an allowed IPv4 address", () => {
    const p = new AddressPolicy({ allow: ["127.0.0.1"] });
    assert.deepEqual(p.check("::ffff:127.0.0.1"), { allowed: true });
    assert.deepEqual(p.check("64:ff9b::7f00:1"), { allowed: true });
    assert.equal(refusedBy(p, "::1"), "::1/128");
  });

  test("deny refuses public addresses; allow beats deny", () => {
    const p = new AddressPolicy({ deny: ["8.8.0.0/16", "2606:4700::/32"], allow: ["8.8.8.8"] });
    assert.equal(refusedBy(p, "8.8.4.4"), "8.8.0.0/16");
    assert.equal(refusedBy(p, "::ffff:8.8.4.4"), "8.8.0.0/16");
    assert.equal(refusedBy(p, "64:ff9b::8.8.4.4"), "8.8.0.0/16");
    assert.deepEqual(p.check("8.8.8.8"), { allowed: true });
    assert.equal(refusedBy(p, "2606:4700:4700::1111"), "2606:4700::/32");
    assert.equal(p.isInternal("8.8.4.4"), true);
    assert.equal(p.isInternal("8.8.8.8"), true, "allowed, but still in deny");
    assert.equal(p.isInternal("1.1.1.1"), false);
  });

  test("a deny entry narrower than a built-in range names itself first", () => {
    const p = new AddressPolicy({ deny: ["10.96.0.0/12"] });
    assert.equal(refusedBy(p, "10.96.0.1"), "10.96.0.0/12");
    assert.equal(refusedBy(p, "10.0.0.1"), "10.0.0.0/8");
  });

  test("alwaysDeny beats allow, in every form of the address, and is not overridable", () => {
    const p = new AddressPolicy({
      allow: ["10.0.0.0/8", "0.0.0.0/0", "::/0"],
      alwaysDeny: ["10.96.0.1", "fd00::1"],
    });
    for (const address of ["10.96.0.1", "::ffff:10.96.0.1", "::ffff:a60:1", "64:ff9b::a60:1"]) {
      assert.deepEqual(
        p.check(address),
        { allowed: false, range: "10.96.0.1/32", overridable: false },
        address,
      );
    }
    assert.deepEqual(p.check("fd00::1"), {
      allowed: false,
      range: "fd00::1/128",
      overridable: false,
    });
    assert.deepEqual(p.check("10.96.0.2"), { allowed: true });
    assert.deepEqual(p.check("fd00::2"), { allowed: true });
  });

  test("alwaysDeny refuses public addresses too; isInternal counts only defaults and deny", () => {
    const p = new AddressPolicy({ alwaysDeny: ["203.0.114.0/24"] });
    assert.equal(refusedBy(p, "203.0.114.5"), "203.0.114.0/24");
    assert.equal(p.isInternal("203.0.114.5"), false);
  });

  test("/0 entries cover one family only", () => {
    const v4 = new AddressPolicy({ deny: ["0.0.0.0/0"] });
    assert.equal(refusedBy(v4, "8.8.8.8"), "0.0.0.0/0");
    assert.equal(refusedBy(v4, "::ffff:8.8.8.8"), "0.0.0.0/0");
    assert.deepEqual(v4.check("2606:4700::1"), { allowed: true });
    const v6 = new AddressPolicy({ deny: ["::/0"] });
    assert.equal(refusedBy(v6, "2606:4700::1"), "::/0");
    assert.deepEqual(v6.check("8.8.8.8"), { allowed: true });
  });

  test("an entry inside ::ffff:0:0/96 denotes IPv4 addresses", () => {
    const p = new AddressPolicy({ deny: ["::ffff:8.8.0.0/112"], allow: ["::ffff:127.0.0.1"] });
    assert.equal(refusedBy(p, "8.8.4.4"), "::ffff:8.8.0.0/112");
    assert.equal(refusedBy(p, "::ffff:8.8.4.4"), "::ffff:8.8.0.0/112");
    assert.deepEqual(p.check("127.0.0.1"), { allowed: true });
    assert.deepEqual(p.check("8.9.0.0"), { allowed: true });
  });

  test("ranges are reported as configured; bare addresses get /32 or /128", () => {
    const p = new AddressPolicy({
      deny: ["8.8.8.8", "2606:4700::1111", " 1.2.3.0/24 ", "9.9.9.9/8"],
    });
    assert.equal(refusedBy(p, "8.8.8.8"), "8.8.8.8/32");
    assert.equal(refusedBy(p, "2606:4700:0:0:0:0:0:1111"), "2606:4700::1111/128");
    assert.equal(refusedBy(p, "1.2.3.4"), "1.2.3.0/24");
    // Host bits beyond the prefix are ignored.
    assert.equal(refusedBy(p, "9.0.0.1"), "9.9.9.9/8");
  });

  test("prefixes that end mid-byte", () => {
    const p = new AddressPolicy({ deny: ["44.128.0.0/9", "2600:1e00::/23"] });
    assert.equal(refusedBy(p, "44.128.0.0"), "44.128.0.0/9");
    assert.equal(refusedBy(p, "44.255.255.255"), "44.128.0.0/9");
    assert.deepEqual(p.check("44.127.255.255"), { allowed: true });
    assert.equal(refusedBy(p, "2600:1e00::1"), "2600:1e00::/23");
    assert.equal(refusedBy(p, "2600:1fff::1"), "2600:1e00::/23");
    assert.equal(refusedBy(p, "2600:1dff::1"), undefined);
    assert.equal(refusedBy(p, "2600:2000::1"), undefined);
  });
});

describe("AddressPolicy entries", () => {
  test("every entry is a CIDR or an IP address; an invalid one is named", () => {
    for (const bad of [
      "",
      "10.0.0.0/33",
      "::/129",
      "10.0.0",
      "10.0.0.256",
      "01.2.3.4",
      "10.0.0.0/",
      "10.0.0.0/-1",
      "10.0.0.0/8/8",
      "10.0.0.0/ 8",
      "10.0.0.0/0x8",
      "fe80::1%eth0",
      "fe80::/10%eth0",
      "example.com",
      "localhost/8",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "::ffff:1.2.3",
      "[::1]",
    ]) {
      for (const list of ["allow", "deny", "alwaysDeny"] as const) {
        assert.throws(
          () => new AddressPolicy({ [list]: ["10.0.0.0/8", bad] }),
          (error: Error) =>
            error.message.includes(JSON.stringify(bad)) &&
            error.message.startsWith(`${list} entry`),
          `${list}: ${bad}`,
        );
      }
    }
  });

  test("valid spellings are accepted", () => {
    const p = new AddressPolicy({
      allow: ["0.0.0.0/0", "::/0", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4/128", "FE80::/10", "::"],
      deny: [],
      alwaysDeny: undefined,
    });
    assert.deepEqual(p.check("10.0.0.1"), { allowed: true });
    assert.deepEqual(p.check("fe80::1"), { allowed: true });
  });
});

describe("AddressPolicy against net.BlockList", () => {
  const byte = fc.integer({ min: 0, max: 255 });
  const v4 = fc.tuple(byte, byte, byte, byte).map((b) => b.join("."));
  const group = fc.integer({ min: 0, max: 0xffff });
  // Plain IPv6 addresses: none carrying IPv4 (BlockList judges those differently on purpose).
  const v6 = fc
    .tuple(fc.integer({ min: 1, max: 0xffff }), fc.array(group, { minLength: 7, maxLength: 7 }))
    .filter(([first]) => first !== 0x64)
    .chain(([first, rest]) =>
      fc.constantFrom(
        // full, compressed (as URL writes it) and upper-case spellings
        [first, ...rest].map((g) => g.toString(16)).join(":"),
        new URL(`http://[${[first, ...rest].map((g) => g.toString(16)).join(":")}]`).hostname.slice(
          1,
          -1,
        ),
        [first, ...rest]
          .map((g) => g.toString(16).padStart(4, "0"))
          .join(":")
          .toUpperCase(),
      ),
    );

  test("deny and the defaults agree with a BlockList of the same ranges", PROPERTY_TIMEOUT, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(v4, v4, fc.integer({ min: 0, max: 32 })),
          fc.tuple(v6, v6, fc.integer({ min: 0, max: 128 })),
        ),
        fc.boolean(),
        ([address, other, prefix], same) => {
          const network = same ? address : other;
          const family = address.includes(":") ? "ipv6" : "ipv4";
          const reference = new BlockList();
          for (const range of [...DEFAULT_DENIED_RANGES, `${network}/${prefix}`]) {
            const [net, bits] = range.split("/") as [string, string];
            reference.addSubnet(net, Number(bits), net.includes(":") ? "ipv6" : "ipv4");
          }
          const policy = new AddressPolicy({ deny: [`${network}/${prefix}`] });
          assert.equal(policy.check(address).allowed, !reference.check(address, family));
          assert.equal(policy.isInternal(address), reference.check(address, family));
        },
      ),
      { numRuns: runs(3000) },
    );
  });
});
