/** One validation finding: where (an entry name, `plugin.json` key path or file) and what is wrong. */
export interface Problem {
  path: string;
  message: string;
}

/** `["jobs", 0, "schedule"]` → `jobs[0].schedule`; keys that would read ambiguously are quoted. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of segments) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const key = String(seg);
      // A key with a dot, a space or nothing in it would make the path ambiguous.
      out += /^[^.\s[\]"]+$/.test(key) ? (out ? `.${key}` : key) : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/** Closest candidate within a small edit distance, so a typo gets a "did you mean" hint. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const [w, k] = [word.toLowerCase(), c.toLowerCase()];
    // "timeout" for "timeout_ms": a missing suffix is as likely a slip as a swapped letter.
    const d = w.length >= 3 && k.startsWith(w) ? 1 : editDistance(w, k);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** Every problem with its path, one per line, under a heading: for terminals and test output. */
export function describeProblems(heading: string, problems: readonly Problem[]): string {
  return [`${heading}:`, ...problems.map((p) => `  ${p.path}: ${p.message}`)].join("\n");
}
