/**
 * Throwaway certificates for local TLS: a private CA and the certificates it
 * issues, made at run time with `node:crypto` (ECDSA P-256, SHA-256) and a
 * small DER writer. Nothing here is meant to protect anything: the demo
 * server (`gather serve --tls`), the tests and the bench use it to talk TLS
 * on 127.0.0.1 without committed keys, `openssl` or a dependency.
 *
 * An X.509 v3 certificate is a short fixed structure (RFC 5280 §4.1); the
 * only parts a TLS client checks here are the names, the validity, the CA
 * flag, the key usage and the signature, so those are what is written.
 */
import * as crypto from "node:crypto"
import * as net from "node:net"

// DER ------------------------------------------------------------------------

const encode = (tag: number, content: Buffer): Buffer => {
  const n = content.length
  if (n < 0x80) return Buffer.concat([Buffer.from([tag, n]), content])
  const length: Array<number> = []
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) length.unshift(rest & 0xff)
  return Buffer.concat([Buffer.from([tag, 0x80 | length.length, ...length]), content])
}

const sequence = (...parts: ReadonlyArray<Buffer>): Buffer => encode(0x30, Buffer.concat(parts))
const set = (...parts: ReadonlyArray<Buffer>): Buffer => encode(0x31, Buffer.concat(parts))
const explicit = (n: number, content: Buffer): Buffer => encode(0xa0 + n, content)
const octets = (content: Buffer): Buffer => encode(0x04, content)
const utf8 = (text: string): Buffer => encode(0x0c, Buffer.from(text, "utf8"))
const bits = (content: Buffer, unused = 0): Buffer => encode(0x03, Buffer.concat([Buffer.from([unused]), content]))
const boolTrue = Buffer.from([0x01, 0x01, 0xff])

const integer = (bytes: Buffer): Buffer => {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const trimmed = bytes.subarray(start)
  // a leading 1 bit would make it negative
  return encode(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed)
}

const oid = (dotted: string): Buffer => {
  const [first, second, ...rest] = dotted.split(".").map(Number)
  const out: Array<number> = [first! * 40 + second!]
  for (const arc of rest) {
    const chunk: Array<number> = [arc & 0x7f]
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f))
    for (const byte of chunk) out.push(byte)
  }
  return encode(0x06, Buffer.from(out))
}

const time = (date: Date): Buffer => {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z" // YYYYMMDDHHMMSSZ
  const year = date.getUTCFullYear()
  // RFC 5280: UTCTime through 2049, GeneralizedTime after
  return year >= 1950 && year < 2050 ? encode(0x17, Buffer.from(iso.slice(2))) : encode(0x18, Buffer.from(iso))
}

const name = (commonName: string): Buffer => sequence(set(sequence(oid("2.5.4.3"), utf8(commonName))))

const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  critical ? sequence(oid(id), boolTrue, octets(value)) : sequence(oid(id), octets(value))

const altNames = (hosts: ReadonlyArray<string>): Buffer =>
  sequence(...hosts.map((host) => {
    const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host
    const family = net.isIP(bare)
    if (family === 4) return encode(0x87, Buffer.from(bare.split(".").map(Number)))
    if (family === 6) return encode(0x87, ipv6Bytes(bare))
    return encode(0x82, Buffer.from(bare, "ascii"))
  }))

const ipv6Bytes = (address: string): Buffer => {
  const [head = "", tail] = address.split("::")
  const groups = (s: string | undefined) => (s === undefined || s === "" ? [] : s.split(":"))
  const left = groups(head)
  const right = groups(tail)
  const all = tail === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill("0"), ...right]
  const out = Buffer.alloc(16)
  all.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2))
  return out
}

const ecdsaWithSha256 = sequence(oid("1.2.840.10045.4.3.2"))

// certificates ---------------------------------------------------------------

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  readonly cert: string
  readonly key: string
}

/** A private certificate authority that can issue certificates. */
export interface Authority extends KeyPair {
  readonly issue: (spec: CertificateSpec) => KeyPair
}

export interface CertificateSpec {
  readonly commonName: string
  /** DNS names and IP addresses the certificate is valid for. Default none. */
  readonly hosts?: ReadonlyArray<string> | undefined
  /** Default: one hour ago. */
  readonly notBefore?: Date | undefined
  /** Default: 24 hours from now. */
  readonly notAfter?: Date | undefined
}

interface Signer {
  readonly subject: Buffer
  readonly key: crypto.KeyObject
  readonly keyId: Buffer
}

const pem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${der.toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`

const build = (spec: CertificateSpec, isCa: boolean, issuer: Signer | undefined): KeyPair & { readonly signer: Signer } => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" })
  const spki = publicKey.export({ type: "spki", format: "der" })
  const keyId = crypto.createHash("sha1").update(spki).digest()
  const subject = name(spec.commonName)
  const signer = issuer ?? { subject, key: privateKey, keyId }
  const now = Date.now()
  const notBefore = spec.notBefore ?? new Date(now - 60 * 60 * 1000)
  const notAfter = spec.notAfter ?? new Date(now + 24 * 60 * 60 * 1000)
  const extensions = [
    extension("2.5.29.19", true, isCa ? sequence(boolTrue) : sequence()),
    // digitalSignature (+ keyCertSign, cRLSign for a CA)
    extension("2.5.29.15", true, isCa ? bits(Buffer.from([0x86]), 1) : bits(Buffer.from([0x80]), 7)),
    extension("2.5.29.14", false, octets(keyId)),
    extension("2.5.29.35", false, sequence(encode(0x80, signer.keyId)))
  ]
  if (spec.hosts !== undefined && spec.hosts.length > 0) {
    extensions.push(extension("2.5.29.17", false, altNames(spec.hosts)))
  }
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(Buffer.concat([Buffer.from([0x01]), crypto.randomBytes(15)])),
    ecdsaWithSha256,
    signer.subject,
    sequence(time(notBefore), time(notAfter)),
    subject,
    spki,
    explicit(3, sequence(...extensions))
  )
  const signature = crypto.sign("sha256", tbs, signer.key)
  const der = sequence(tbs, ecdsaWithSha256, bits(signature))
  return {
    cert: pem("CERTIFICATE", der),
    key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    signer: { subject, key: privateKey, keyId }
  }
}

/** A new private CA (valid from an hour ago for `days`, default 1). */
export const makeAuthority = (commonName = "effect-gather throwaway CA", days = 1): Authority => {
  const now = Date.now()
  const ca = build(
    { commonName, notBefore: new Date(now - 60 * 60 * 1000), notAfter: new Date(now + days * 24 * 60 * 60 * 1000) },
    true,
    undefined
  )
  return {
    cert: ca.cert,
    key: ca.key,
    issue: (spec) => {
      const { cert, key } = build(spec, false, ca.signer)
      return { cert, key }
    }
  }
}

/** The names a local server answers on. */
export const localHosts: ReadonlyArray<string> = ["localhost", "127.0.0.1", "::1"]

/** A throwaway CA and a server certificate for `localHosts` (plus `hosts`). */
export const localCertificates = (hosts: ReadonlyArray<string> = []): KeyPair & { readonly ca: string } => {
  const authority = makeAuthority()
  const leaf = authority.issue({ commonName: "localhost", hosts: [...localHosts, ...hosts] })
  return { ca: authority.cert, cert: leaf.cert, key: leaf.key }
}
