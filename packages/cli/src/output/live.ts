import cliTruncate from "cli-truncate";
import wrapAnsi from "wrap-ansi";

/** What a live view writes to: a terminal (a TTY's `columns` and `rows` are read at every draw). */
export interface LiveStream {
  write(chunk: string): unknown;
  columns?: number;
  rows?: number;
}

/**
 * A block of lines redrawn in place at the bottom of a terminal (`run`'s and `demo`'s timeline, the
 * propagation table), with events printed above it that stay in the scrollback.
 *
 * Exact by construction: no line of the block is wider than the terminal (wider ones are cut with "…",
 * measured by display width, colours kept), so each line takes one row and moving up as many rows as lines
 * drawn lands on the block's first row; each row is erased before it is written and everything below the
 * new block is erased, so a shorter block leaves nothing behind. The block keeps below the terminal's
 * height (a row scrolled into the scrollback cannot be reached again). Events are wrapped at the width
 * instead of cut: they are the record of what happened.
 */
export interface LiveView {
  /** Replaces the block. */
  render(lines: string[]): void;
  /** Prints lines above the block (they scroll away with the terminal's history), then redraws the block. */
  print(lines: string[]): void;
  /** Leaves the block on the screen as last drawn; what is written next goes below it. */
  done(): void;
}

// Terminals that know it paint the erase and the redraw at once (no flicker); the others ignore it.
const SYNC_START = "\x1b[?2026h";
const SYNC_END = "\x1b[?2026l";
const ERASE_LINE = "\x1b[2K";
const ERASE_BELOW = "\x1b[J";
const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"); // colours and styles

export function createLiveView(stream: LiveStream): LiveView {
  let drawn = 0;
  let block: string[] = [];
  const fits = new Map<string, string>();
  const size = () => ({
    cols: Math.max(stream.columns && stream.columns > 0 ? stream.columns : 80, 10),
    rows: Math.max(stream.rows && stream.rows > 0 ? stream.rows : 24, 3),
  });
  // Back to the first row of the block, at its first column.
  const up = () => (drawn > 0 ? `\r\x1b[${drawn}A` : "\r");
  const fit = (cols: number, rows: number): string[] => {
    // Rows - 1: the cursor rests on the row below the block.
    const room = rows - 1;
    const lines =
      block.length > room ? [...block.slice(0, room - 1), `… ${block.length - room + 1} more lines`] : block;
    return lines.map((l) => {
      // Measuring display width is the costly part of a redraw, and most lines repeat from frame to frame.
      const key = `${cols}\0${l}`;
      let fitted = fits.get(key);
      if (fitted !== undefined) return fitted;
      // Printable ASCII (colours aside) is one column a character: short enough lines need no measuring.
      const plain = l.replace(SGR, "");
      if (plain.length <= cols && /^[\x20-\x7e]*$/.test(plain)) return l;
      if (fits.size > 2000) fits.clear();
      fitted = cliTruncate(l.replace(/[\r\n]+/g, " "), cols);
      fits.set(key, fitted);
      return fitted;
    });
  };
  const draw = (above: string[] = []) => {
    const { cols, rows } = size();
    let s = SYNC_START + up();
    for (const l of above)
      for (const row of wrapAnsi(l, cols, { hard: true, trim: false }).split("\n")) s += `${ERASE_LINE}${row}\n`;
    const lines = fit(cols, rows);
    for (const l of lines) s += `${ERASE_LINE}${l}\n`;
    s += ERASE_BELOW + SYNC_END;
    stream.write(s);
    drawn = lines.length;
  };
  return {
    render(lines) {
      block = lines;
      draw();
    },
    print(lines) {
      if (lines.length > 0) draw(lines);
    },
    done() {
      drawn = 0;
      block = [];
    },
  };
}
