/** The X.509 issuer, checked by Node's own X509Certificate and by real TLS handshakes. */

import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { createServer, get, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { createCertificateAuthority, issueServingCertificate } from "../../src/tls/pki.ts";

const DAY_MS = 86_400_000;
const SKEW_MS = 5 * 60 * 1000;
const NOW = new Date("2026-11-25T12:00:00Z");

const ca = createCertificateAuthority({ commonName: "palyra test CA" });
const leaf = issueServingCertificate(ca, {
  commonName: "palyra-skills-operator",
  dnsNames: ["localhost", "svc.example.internal"],
  ipAddresses: ["127.0.0.1", "::1"],
});
const caCert = new X509Certificate(ca.certPem);
const leafCert = new X509Certificate(leaf.certPem);

describe("certificate authority", () => {
  test("is a CA, self-signed, and verifies with its own key", () => {
    assert.equal(caCert.ca, true);
    assert.equal(caCert.subject, "CN=palyra test CA");
    assert.equal(caCert.issuer, caCert.subject);
    assert.ok(caCert.checkIssued(caCert));
    assert.ok(caCert.verify(caCert.publicKey));
  });

  test("its key is a P-256 private key matching the certificate", () => {
    const key = createPrivateKey(ca.keyPem);
    assert.equal(key.asymmetricKeyType, "ec");
    assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.deepEqual(
      createPublicKey(key).export({ type: "spki", format: "der" }),
      caCert.publicKey.export({ type: "spki", format: "der" }),
    );
    assert.match(
      ca.certPem,
      /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/,
    );
  });

  test("validity is backdated by 5 minutes from now and lasts validityDays (10 years by default)", () => {
    const dated = new X509Certificate(
      createCertificateAuthority({ commonName: "c", now: NOW, validityDays: 30 }).certPem,
    );
    assert.equal(new Date(dated.validFrom).getTime(), NOW.getTime() - SKEW_MS);
    assert.equal(new Date(dated.validTo).getTime(), NOW.getTime() + 30 * DAY_MS);
    const dflt = new X509Certificate(
      createCertificateAuthority({ commonName: "c", now: NOW }).certPem,
    );
    assert.equal(new Date(dflt.validTo).getTime(), NOW.getTime() + 3650 * DAY_MS);
  });

  test("rejects an empty or blank common name and non-positive validity", () => {
    assert.throws(() => createCertificateAuthority({ commonName: "" }), /commonName/);
    assert.throws(() => createCertificateAuthority({ commonName: "  " }), /commonName/);
    assert.throws(
      () => createCertificateAuthority({ commonName: "c", validityDays: 0 }),
      /validityDays/,
    );
    assert.throws(
      () => createCertificateAuthority({ commonName: "c", validityDays: -1 }),
      /validityDays/,
    );
  });

  test("each CA gets a fresh key and serial", () => {
    const other = new X509Certificate(createCertificateAuthority({ commonName: "c" }).certPem);
    const again = new X509Certificate(createCertificateAuthority({ commonName: "c" }).certPem);
    assert.notEqual(other.serialNumber, again.serialNumber);
    assert.notEqual(other.fingerprint256, again.fingerprint256);
  });
});

describe("serving certificate", () => {
  test("is issued and signed by the CA, and is not itself a CA", () => {
    assert.equal(leafCert.ca, false);
    assert.equal(leafCert.subject, "CN=palyra-skills-operator");
    assert.equal(leafCert.issuer, caCert.subject);
    assert.ok(leafCert.checkIssued(caCert));
    assert.ok(leafCert.verify(caCert.publicKey));
    assert.equal(leafCert.verify(leafCert.publicKey), false);
  });

  test("does not verify against an unrelated CA", () => {
    const other = new X509Certificate(createCertificateAuthority({ commonName: "other" }).certPem);
    assert.equal(leafCert.checkIssued(other), false);
    assert.equal(leafCert.verify(other.publicKey), false);
  });

  test("carries the requested DNS names and IP addresses", () => {
    const san = leafCert.subjectAltName ?? "";
    assert.match(san, /DNS:localhost/);
    assert.match(san, /DNS:svc\.example\.internal/);
    assert.match(san, /IP Address:127\.0\.0\.1/);
    assert.match(san, /IP Address:0:0:0:0:0:0:0:1/);
    assert.equal(leafCert.checkHost("localhost"), "localhost");
    assert.equal(leafCert.checkIP("127.0.0.1"), "127.0.0.1");
    assert.equal(leafCert.checkHost("elsewhere.example"), undefined);
    assert.equal(leafCert.checkIP("10.0.0.1"), undefined);
  });

  test("is for server authentication and its key matches", () => {
    assert.deepEqual(leafCert.keyUsage, ["1.3.6.1.5.5.7.3.1"]);
    assert.deepEqual(
      createPublicKey(leaf.keyPem).export({ type: "spki", format: "der" }),
      leafCert.publicKey.export({ type: "spki", format: "der" }),
    );
  });

  test("without names has no subjectAltName", () => {
    const bare = new X509Certificate(issueServingCertificate(ca, { commonName: "bare" }).certPem);
    assert.equal(bare.subjectAltName, undefined);
    assert.ok(bare.checkIssued(caCert));
  });

  test("validity window surrounds the now option (365 days by default)", () => {
    const dated = new X509Certificate(
      issueServingCertificate(ca, { commonName: "x", now: NOW, validityDays: 2 }).certPem,
    );
    assert.equal(new Date(dated.validFrom).getTime(), NOW.getTime() - SKEW_MS);
    assert.equal(new Date(dated.validTo).getTime(), NOW.getTime() + 2 * DAY_MS);
    const dflt = new X509Certificate(
      issueServingCertificate(ca, { commonName: "x", now: NOW }).certPem,
    );
    assert.equal(new Date(dflt.validTo).getTime(), NOW.getTime() + 365 * DAY_MS);
    // Past 2049 the encoder switches to GeneralizedTime; the dates must still round-trip.
    const late = new Date("2060-03-04T05:06:07Z");
    const future = new X509Certificate(
      issueServingCertificate(ca, { commonName: "x", now: late, validityDays: 1 }).certPem,
    );
    assert.equal(new Date(future.validTo).getTime(), late.getTime() + DAY_MS);
  });

  test("invalid inputs throw", () => {
    assert.throws(() => issueServingCertificate(ca, { commonName: "" }), /commonName/);
    assert.throws(() => issueServingCertificate(ca, { commonName: " \t" }), /commonName/);
    for (const ip of ["999.1.1.1", "not-an-ip", "1.2.3", "", "localhost"]) {
      assert.throws(
        () => issueServingCertificate(ca, { commonName: "x", ipAddresses: [ip] }),
        /not an IP/,
        ip,
      );
    }
    assert.throws(
      () => issueServingCertificate(ca, { commonName: "x", dnsNames: ["ok", ""] }),
      /dnsNames/,
    );
    assert.throws(
      () => issueServingCertificate(ca, { commonName: "x", validityDays: 0 }),
      /validityDays/,
    );
  });

  test("a CA whose common name needs RFC 2253 escaping still issues verifiable certificates", () => {
    const odd = createCertificateAuthority({ commonName: "Acme, Inc CA" });
    const l = new X509Certificate(issueServingCertificate(odd, { commonName: "x" }).certPem);
    assert.ok(l.checkIssued(new X509Certificate(odd.certPem)));
  });

  test("an IPv4-mapped IPv6 address is encoded as given", () => {
    const l = new X509Certificate(
      issueServingCertificate(ca, { commonName: "x", ipAddresses: ["::ffff:1.2.3.4"] }).certPem,
    );
    assert.equal(l.checkIP("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
  });
});

describe("a real TLS handshake", () => {
  const expired = issueServingCertificate(ca, {
    commonName: "old",
    ipAddresses: ["127.0.0.1"],
    now: new Date(Date.now() - 10 * DAY_MS),
    validityDays: 1,
  });
  const noIp = issueServingCertificate(ca, { commonName: "named", dnsNames: ["localhost"] });
  const servers: Server[] = [];
  const ports = { leaf: 0, expired: 0, noIp: 0 };

  async function serve(cert: { certPem: string; keyPem: string }): Promise<number> {
    const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) =>
      res.end("hello"),
    );
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return (server.address() as AddressInfo).port;
  }

  before(async () => {
    ports.leaf = await serve(leaf);
    ports.expired = await serve(expired);
    ports.noIp = await serve(noIp);
  });
  after(async () => {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.closeAllConnections();
            s.close(() => r());
          }),
      ),
    );
  });

  function fetchText(url: string, trust: string): Promise<string> {
    return new Promise((resolve, reject) => {
      get(url, { ca: trust, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve(body));
        res.on("error", reject);
      }).on("error", reject);
    });
  }

  test("succeeds with the issuing CA, by IP and by DNS name", async () => {
    assert.equal(await fetchText(`https://127.0.0.1:${ports.leaf}/`, ca.certPem), "hello");
    assert.equal(await fetchText(`https://localhost:${ports.leaf}/`, ca.certPem), "hello");
  });

  test("fails with a certificate error when another CA is trusted", async () => {
    const other = createCertificateAuthority({ commonName: "other CA" });
    await assert.rejects(fetchText(`https://127.0.0.1:${ports.leaf}/`, other.certPem), (e) => {
      const code = (e as NodeJS.ErrnoException).code ?? "";
      assert.match(code, /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
      return true;
    });
  });

  test("fails for an expired certificate", async () => {
    await assert.rejects(fetchText(`https://127.0.0.1:${ports.expired}/`, ca.certPem), {
      code: "CERT_HAS_EXPIRED",
    });
  });

  test("fails when the address is not among the names", async () => {
    await assert.rejects(fetchText(`https://127.0.0.1:${ports.noIp}/`, ca.certPem), {
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
    });
  });
});
