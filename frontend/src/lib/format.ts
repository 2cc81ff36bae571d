// Number and time formatting shared by tables, tooltips and charts.

export function num(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return Number(v.toFixed(digits)).toString();
}

export function time(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function shortTime(d: Date): string {
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** Show a token so whitespace is visible but text still reads naturally. */
export function tokenText(t: string): string {
  return t.replace(/\n/g, "↵").replace(/\t/g, "⇥");
}

/** A token drawn alone (a grid cell, a label): whitespace-only tokens get visible symbols
 * (␣ space, ⏎ newline, ⇥ tab), so a cell whose top token is " " is not blank. */
export function visibleToken(t: string): string {
  if (t === "" || t.trim() !== "") return tokenText(t);
  return t.replace(/ /g, "␣").replace(/\r?\n/g, "⏎").replace(/\t/g, "⇥");
}

export function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}
