/**
 * How far a request body has really travelled while it is sent.
 *
 * undici reports each chunk when it hands it to the socket, but the kernel's
 * socket buffers (a few MB on loopback, measured 3-5 MB here) take the first
 * bytes at once and keep the last ones after undici reports the body sent.
 * So the wait for the response headers should start only once those last
 * bytes can have left: this estimates when, from what the first chunks
 * filled (the burst) and the steady rate seen after it.
 */

/** A pause between chunks longer than this ends the burst. */
const burstGapMs = 5

export class UploadProgress {
  private bytes = 0
  private burstBytes = 0
  /** When the burst ended; -1 while it goes on. */
  private steadyAt = -1
  private lastAt: number

  constructor(startedAt: number) {
    this.lastAt = startedAt
  }

  /** A chunk handed to the socket at `now`. */
  chunk(length: number, now: number): void {
    if (this.steadyAt < 0) {
      if (this.bytes > 0 && now - this.lastAt > burstGapMs) this.steadyAt = this.lastAt
      else this.burstBytes += length
    }
    this.bytes += length
    this.lastAt = now
  }

  /**
   * Milliseconds the bytes still buffered should take to leave, at the
   * steady rate; 0 when the whole body went in one burst (no rate known).
   */
  drainMs(now: number): number {
    if (this.steadyAt < 0 || now <= this.steadyAt) return 0
    const rate = (this.bytes - this.burstBytes) / (now - this.steadyAt)
    return rate > 0 ? this.burstBytes / rate : 0
  }
}
