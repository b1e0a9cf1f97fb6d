/**
 * Splits a byte stream into UTF-8 lines, within bounds: a line longer than `maxLineBytes` or a
 * stream longer than `maxTotalBytes` is reported instead of buffered. Bytes are split on `\n`
 * before decoding, so a multi-byte character cut between two chunks is never broken.
 */
export type LineResult = { lines: string[]; tooLarge: null } | { lines: string[]; tooLarge: string };

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private total = 0;
  private over = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly maxTotalBytes: number,
  ) {}

  get bytes(): number {
    return this.total;
  }

  /** The complete lines in `chunk` (and before it), or why the stream is too large. */
  push(chunk: Buffer): LineResult {
    if (this.over) return { lines: [], tooLarge: 'already over its bounds' };
    this.total += chunk.length;
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      if (newline < 0) break;
      const piece = chunk.subarray(start, newline);
      if (this.pendingBytes + piece.length > this.maxLineBytes) return this.tooLarge(lines, 'line');
      lines.push(this.take(piece));
      start = newline + 1;
    }
    const rest = chunk.subarray(start);
    if (this.pendingBytes + rest.length > this.maxLineBytes) return this.tooLarge(lines, 'line');
    if (rest.length > 0) {
      this.pending.push(Buffer.from(rest));
      this.pendingBytes += rest.length;
    }
    if (this.total > this.maxTotalBytes) return this.tooLarge(lines, 'total');
    return { lines, tooLarge: null };
  }

  /** The last line when the stream ended without a newline. */
  end(): string | null {
    if (this.over || this.pendingBytes === 0) return null;
    return this.take(Buffer.alloc(0));
  }

  private take(piece: Buffer): string {
    const line =
      this.pending.length === 0
        ? piece
        : Buffer.concat([...this.pending, piece], this.pendingBytes + piece.length);
    this.pending = [];
    this.pendingBytes = 0;
    return line.toString('utf8').replace(/\r$/, '');
  }

  private tooLarge(lines: string[], what: 'line' | 'total'): LineResult {
    this.over = true;
    this.pending = [];
    this.pendingBytes = 0;
    return {
      lines,
      tooLarge:
        what === 'line'
          ? `a stdout line is longer than ${this.maxLineBytes} bytes`
          : `stdout holds more than ${this.maxTotalBytes} bytes in all`,
    };
  }
}
