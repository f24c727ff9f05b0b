/**
 * A request ready to send, as the fetch prepares it and the attempt sends it.
 */
import { redactUrl } from "./redact.js"

/**
 * A request ready to send. The URL is kept as strings (`href`, `origin`, and
 * `path` for the request line); the `URL` object is made only when needed (a
 * redirect to resolve, a message), see plainUrl.ts.
 */
export class PreparedRequest {
  private display: string | undefined = undefined
  private parsed: URL | undefined
  constructor(
    readonly method: string,
    readonly href: string,
    readonly origin: string,
    readonly path: string,
    readonly headers: Record<string, string>,
    readonly body: string | Uint8Array | null,
    url?: URL
  ) {
    this.parsed = url
  }

  static fromUrl(method: string, url: URL, headers: Record<string, string>, body: string | Uint8Array | null): PreparedRequest {
    return new PreparedRequest(method, url.href, url.origin, url.pathname + url.search, headers, body, url)
  }

  get url(): URL {
    return this.parsed ??= new URL(this.href)
  }

  /** The URL for messages, credentials redacted; computed only when needed. */
  get displayUrl(): string {
    return this.display ??= redactUrl(this.href)
  }
}
