/** Word counting helpers for the example pipeline. */
export function countWords(text: string, minLength: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const w of text.toLowerCase().match(/[a-z][a-z'-]*/g) ?? []) {
    if (w.length >= minLength) counts[w] = (counts[w] ?? 0) + 1;
  }
  return counts;
}

/** The n most frequent words, ties broken alphabetically so the output is deterministic. */
export function topWords(counts: Record<string, number>, n: number): [string, number][] {
  return Object.entries(counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
}
