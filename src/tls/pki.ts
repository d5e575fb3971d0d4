/**
 * A minimal X.509 issuer on node:crypto: a self-signed CA and ECDSA P-256 serving certificates
 * signed by it. It serves the local HTTPS artifact server and the webhook's certificate
 * bootstrap; hand-written DER keeps a decorator-based X.509 stack out of the operator.
 */

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from "node:crypto";
import { isIP } from "node:net";
import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  sequence,
  sequenceElements,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from "./der.ts";

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

const ECDSA_WITH_SHA256 = sequence(oid("1.2.840.10045.4.3.2"));
const DAY_MS = 24 * 60 * 60 * 1000;

function name(commonName: string): Buffer {
  if (commonName.trim() === "") throw new Error("certificate commonName must not be empty");
  return sequence(set(sequence(oid("2.5.4.3"), utf8String(commonName))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value));
}

function keyIdentifier(spki: Buffer): Buffer {
  return createHash("sha1").update(spki).digest();
}

function serial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 1) & 0x7f) | 0x01; // positive and minimal
  return bytes;
}

function ipBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split(".").map(Number));
  if (family === 6 && !ip.includes("%")) {
    // An IPv4 tail (::ffff:1.2.3.4) is two groups.
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip)?.[1];
    const text = v4
      ? ip.slice(0, -v4.length) +
        ((b) => `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`)(
          v4.split(".").map(Number) as [number, number, number, number],
        )
      : ip;
    const [head = "", tail = ""] = text.split("::");
    const part = (s: string) => (s ? s.split(":") : []);
    const h = part(head);
    const t = text.includes("::") ? part(tail) : [];
    const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
    return Buffer.from(
      groups.flatMap((g) => [(parseInt(g, 16) >> 8) & 0xff, parseInt(g, 16) & 0xff]),
    );
  }
  throw new Error(`not an IP address (without a zone): ${JSON.stringify(ip)}`);
}

function pem(label: string, der: Buffer): string {
  const b64 = der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function certificate(opts: {
  subject: Buffer;
  issuer: Buffer;
  spki: Buffer;
  signer: KeyObject;
  notBefore: Date;
  notAfter: Date;
  extensions: Buffer[];
}): string {
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(serial()),
    ECDSA_WITH_SHA256,
    opts.issuer,
    sequence(time(opts.notBefore), time(opts.notAfter)),
    opts.subject,
    opts.spki,
    explicit(3, sequence(...opts.extensions)),
  );
  const signature = sign("sha256", tbs, opts.signer);
  return pem("CERTIFICATE", sequence(tbs, ECDSA_WITH_SHA256, bitString(signature)));
}

function validity(
  now: Date | undefined,
  days: number | undefined,
): { notBefore: Date; notAfter: Date } {
  const start = (now ?? new Date()).getTime();
  const d = days ?? 365;
  if (!(d > 0)) throw new Error("validityDays must be positive");
  // A little backdating tolerates clock skew between the issuer and the verifier.
  return { notBefore: new Date(start - 5 * 60 * 1000), notAfter: new Date(start + d * DAY_MS) };
}

export function createCertificateAuthority(opts: {
  commonName: string;
  validityDays?: number;
  now?: Date;
}): CertificateAuthority {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const subject = name(opts.commonName);
  const certPem = certificate({
    subject,
    issuer: subject,
    spki,
    signer: privateKey,
    ...validity(opts.now, opts.validityDays ?? 3650),
    extensions: [
      extension("2.5.29.19", true, sequence(boolean(true))),
      extension("2.5.29.15", true, bitString(Buffer.from([0x06]), 1)), // keyCertSign, cRLSign
      extension("2.5.29.14", false, octetString(keyIdentifier(spki))),
    ],
  });
  return { certPem, keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}

export function issueServingCertificate(
  ca: CertificateAuthority,
  opts: {
    commonName: string;
    dnsNames?: string[];
    ipAddresses?: string[];
    validityDays?: number;
    now?: Date;
  },
): IssuedCertificate {
  const caKey = createPrivateKey(ca.keyPem);
  const caSpki = createPublicKey(caKey).export({ type: "spki", format: "der" });
  // The issuer must be the CA's subject byte for byte: take it from the CA certificate itself.
  const tbs = sequenceElements(new X509Certificate(ca.certPem).raw)[0];
  const issuer = tbs ? sequenceElements(tbs)[5] : undefined;
  if (!issuer) throw new Error("the CA certificate could not be read");
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const altNames = [
    ...(opts.dnsNames ?? []).map((d) => {
      if (d.trim() === "") throw new Error("dnsNames must not contain an empty name");
      return implicitPrimitive(2, Buffer.from(d, "ascii"));
    }),
    ...(opts.ipAddresses ?? []).map((ip) => implicitPrimitive(7, ipBytes(ip))),
  ];
  const extensions = [
    extension("2.5.29.19", true, sequence()),
    extension("2.5.29.15", true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
    extension("2.5.29.37", false, sequence(oid("1.3.6.1.5.5.7.3.1"))), // serverAuth
    extension("2.5.29.14", false, octetString(keyIdentifier(spki))),
    extension("2.5.29.35", false, sequence(implicitPrimitive(0, keyIdentifier(caSpki)))),
  ];
  if (altNames.length > 0) extensions.push(extension("2.5.29.17", false, sequence(...altNames)));
  const certPem = certificate({
    subject: name(opts.commonName),
    issuer,
    spki,
    signer: caKey,
    ...validity(opts.now, opts.validityDays),
    extensions,
  });
  return { certPem, keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}
