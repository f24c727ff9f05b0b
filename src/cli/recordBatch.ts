/**
 * The records of `gather fetch` waiting to be written, as one batch.
 *
 * A write per completed chunk (a few records per turn of the event loop)
 * cost a system call and a buffer each; a batch is written when it is big
 * enough or old enough, whichever comes first. Records are counted (the
 * summary, the progress line) only once their batch has been written, so
 * after a SIGKILL `--resume` loses at most the last unwritten batch (at most
 * `maxAgeMs` of work) and never a record the run had reported.
 */

/** When a batch is written. */
export interface BatchLimits {
  /** Written once its lines hold this many characters. */
  readonly maxChars: number
  /** Written once it holds this many records. */
  readonly maxRecords: number
  /** Written once its first record has waited this long. */
  readonly maxAgeMs: number
}

/** 64 Ki characters, 1,024 records or 100 ms. */
export const defaultLimits: BatchLimits = { maxChars: 64 * 1024, maxRecords: 1024, maxAgeMs: 100 }

/** What one write takes: the record lines, the table rows, and the records to count once written. */
export interface Batch<R> {
  readonly lines: string
  readonly rows: string
  readonly records: ReadonlyArray<R>
}

/** Records waiting to be written (plain data: one batch at a time, taken whole). */
export class RecordBatch<R> {
  private lines = ""
  private rows = ""
  private records: Array<R> = []
  private since = 0

  constructor(private readonly limits: BatchLimits = defaultLimits) {}

  /** Adds a record, its NDJSON line and its table row (`""` when there is no table); `now` in ms. */
  add(record: R, line: string, row: string, now: number): void {
    if (this.records.length === 0) this.since = now
    this.records.push(record)
    this.lines += line
    this.rows += row
  }

  /** Records waiting. */
  get size(): number {
    return this.records.length
  }

  /** Whether the batch should be written now: it is full, or its first record is `maxAgeMs` old. */
  isDue(now: number): boolean {
    const { maxAgeMs, maxChars, maxRecords } = this.limits
    return this.records.length > 0 &&
      (this.records.length >= maxRecords || this.lines.length >= maxChars || this.rows.length >= maxChars || now - this.since >= maxAgeMs)
  }

  /** Takes everything waiting (`undefined` when nothing is), leaving the batch empty. */
  take(): Batch<R> | undefined {
    if (this.records.length === 0) return undefined
    const batch: Batch<R> = { lines: this.lines, rows: this.rows, records: this.records }
    this.lines = ""
    this.rows = ""
    this.records = []
    return batch
  }
}
