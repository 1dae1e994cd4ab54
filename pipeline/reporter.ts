/** Where the engine's lines go: a terminal (progress bars overwrite themselves) or a log. */

export interface Reporter {
  /** A permanent line. */
  line(text: string): void;
  /** A line that the next line may overwrite (a progress bar on a terminal). */
  transient(text: string): void;
}

export const consoleReporter: Reporter = (() => {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let pending = false;
  return {
    line(text: string) {
      Deno.stderr.writeSync(enc.encode((pending ? "\r\x1b[2K" : "") + text + "\n"));
      pending = false;
    },
    transient(text: string) {
      if (!tty) return void Deno.stderr.writeSync(enc.encode(text + "\n"));
      Deno.stderr.writeSync(enc.encode("\r\x1b[2K" + text));
      pending = true;
    },
  };
})();
