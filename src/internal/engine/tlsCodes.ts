/**
 * Which error codes are TLS failures: the one list the error mapping, the
 * session's connector and the proxy tunnel read.
 */

/** The certificate checks' codes (node:tls's verify errors) and EPROTO; most have no prefix. */
const certificateCodes: ReadonlySet<string> = new Set([
  "EPROTO",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REVOKED",
  "CERT_SIGNATURE_FAILURE",
  "HOSTNAME_MISMATCH"
])

/**
 * The codes node:tls and OpenSSL give their own failures (`ERR_TLS_*`,
 * `ERR_SSL_*`, the peer's alerts among them): TLS, whatever follows the
 * prefix.
 */
export const isTlsLayerCode = (code: string): boolean => code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_")

/** A TLS failure: a certificate check's code or one of the TLS layer's own. */
export const isTlsCode = (code: string): boolean => certificateCodes.has(code) || isTlsLayerCode(code)
