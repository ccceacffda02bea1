/**
 * Everything the CLI prints goes through here: plain lines, JSON for scripts, aligned tables,
 * colour (only on a terminal, never with NO_COLOR) and a spinner (only on a terminal; plain lines
 * when piped, so logs and CI output stay readable).
 */
import stringWidth from 'string-width';

/** Where output goes: `process.stdout` in the binary, a string collector in tests. */
export interface OutStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export type Env = Readonly<Record<string, string | undefined>>;

// ANSI SGR codes: the few styles the CLI uses.
const STYLES = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, grey: 90 } as const;
export type Style = keyof typeof STYLES;

// Built from a string: a control character in a regex literal reads like a mistake (and lint says so).
const ESC = String.fromCharCode(27);
const ANSI = new RegExp(`${ESC}\\[[0-9;]*[A-Za-z]`, 'g');

/** `text` without ANSI escapes (for measuring what a terminal shows). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/**
 * Colour on `stream`? FORCE_COLOR (not "0") forces it on; NO_COLOR (any non-empty value,
 * no-color.org) or TERM=dumb turns it off; otherwise only when the stream is a terminal.
 */
export function colourEnabled(stream: OutStream, env: Env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  if (env.NO_COLOR) return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/** Writes to one stream: lines, JSON, tables, with colour when the stream supports it. */
export class Output {
  readonly colour: boolean;

  constructor(
    readonly stream: OutStream,
    env: Env,
  ) {
    this.colour = colourEnabled(stream, env);
  }

  get isTTY(): boolean {
    return this.stream.isTTY === true;
  }

  line(text = ''): void {
    this.stream.write(`${text}\n`);
  }

  /** Pretty JSON, the shape of @drover/schemas objects, for scripts (`--json`). */
  json(value: unknown): void {
    this.line(JSON.stringify(value, null, 2));
  }

  paint(style: Style, text: string): string {
    return this.colour ? `\x1b[${STYLES[style]}m${text}\x1b[0m` : text;
  }

  /**
   * Columns aligned by what the terminal shows (colour codes don't count, wide characters count
   * twice), headers in bold, the last column not padded. An empty table prints `empty` instead
   * (e.g. "No deployments.").
   */
  table(headers: readonly string[], rows: readonly (readonly string[])[], empty?: string): void {
    if (rows.length === 0 && empty !== undefined) {
      this.line(empty);
      return;
    }
    // Terminal columns, not UTF-16 units: CJK and most emoji take two columns, combining marks none.
    const widths = headers.map((h, i) => Math.max(stringWidth(h), ...rows.map((row) => stringWidth(row[i] ?? ''))));
    const render = (cells: readonly string[], header: boolean) =>
      cells
        .map((cell, i) => {
          const shown = header ? this.paint('bold', cell) : cell;
          return i === cells.length - 1 ? shown : shown + ' '.repeat((widths[i] ?? 0) - stringWidth(cell));
        })
        .join('  ')
        .trimEnd();
    this.line(render(headers, true));
    for (const row of rows) this.line(render(row, false));
  }

  /** `key  value` lines with the keys aligned, for `inspect`. */
  fields(entries: readonly (readonly [string, string])[]): void {
    const width = Math.max(...entries.map(([key]) => key.length));
    for (const [key, value] of entries) this.line(`${this.paint('dim', `${key}:`.padEnd(width + 1))}  ${value}`);
  }
}

/** A wait indicator. On a terminal it animates on one line; elsewhere it prints nothing but its first text. */
export interface Spinner {
  /** Changes the text shown next to the spinner. */
  update(text: string): void;
  /** Prints a line above the spinner (to `out`), keeping the spinner below it. */
  print(out: Output, line: string): void;
  /** Removes the spinner. */
  stop(): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A spinner on `err` (stderr): animated on a terminal; when piped, its text is printed once as a
 * plain line and updates are silent (callers print the events that matter as lines).
 */
export function startSpinner(err: Output, text: string): Spinner {
  if (!err.isTTY) {
    err.line(text);
    return { update: () => {}, print: (out, line) => out.line(line), stop: () => {} };
  }
  let current = text;
  let frame = 0;
  const draw = () => {
    err.stream.write(`\r\x1b[K${err.paint('cyan', FRAMES[frame % FRAMES.length] as string)} ${current}`);
    frame++;
  };
  const clear = () => err.stream.write('\r\x1b[K');
  draw();
  const timer = setInterval(draw, 80);
  timer.unref();
  return {
    update: (next) => {
      current = next;
    },
    print: (out, line) => {
      clear();
      out.line(line);
      draw();
    },
    stop: () => {
      clearInterval(timer);
      clear();
    },
  };
}
