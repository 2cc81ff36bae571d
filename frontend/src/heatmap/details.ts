// Per-cell details found generically in ``meta``: any array nested to match the axes' lengths
// (the logit lens keeps its top-k per layer and position this way), and ``meta.label_info``.

import type { Explanation } from "../lib/types";
import { num } from "../lib/format";

const SKIP = new Set(["label_info"]);

export function shape(ex: Explanation): number[] {
  return ex.axes.map((a) => ex.labels[a]?.length ?? 0);
}

/** ``{key: value}`` for every meta entry reachable by indexing with ``idx`` axis by axis. */
export function detailsAt(ex: Explanation, idx: number[], dims: number[] = idx.map((_, d) => d)): Record<string, unknown> {
  const sizes = shape(ex);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(ex.meta ?? {})) {
    if (SKIP.has(key) || !Array.isArray(value)) continue;
    let v: unknown = value;
    let ok = true;
    for (let k = 0; k < idx.length; k++) {
      if (!Array.isArray(v) || v.length !== sizes[dims[k]] || sizes[dims[k]] <= 1) {
        ok = false;
        break;
      }
      v = v[idx[k]];
    }
    if (ok && v !== undefined) out[key] = v;
  }
  return out;
}

/** Per-label information (``meta.label_info[axis][key][i]``), e.g. the segment of an input token. */
export function labelInfo(ex: Explanation, axis: string, i: number): Record<string, unknown> {
  const info = ((ex.meta?.label_info ?? {}) as Record<string, Record<string, unknown[]>>)[axis] ?? {};
  const out: Record<string, unknown> = {};
  for (const [key, values] of Object.entries(info)) {
    if (Array.isArray(values) && i < values.length) out[key] = values[i];
  }
  return out;
}

/** Short readable text for a detail value: top-k lists as "token (p)", numbers rounded. */
export function describe(value: unknown): string {
  if (typeof value === "number") return num(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    return value
      .slice(0, 8)
      .map((v) => {
        if (v && typeof v === "object") {
          const o = v as Record<string, unknown>;
          const text = firstString(o);
          const n = Object.values(o).find((x) => typeof x === "number" && !Number.isInteger(x));
          return text !== null ? `${JSON.stringify(text)}${n !== undefined ? ` (${num(n as number)})` : ""}` : JSON.stringify(o);
        }
        return describe(v);
      })
      .join(", ");
  }
  if (value && typeof value === "object") return JSON.stringify(value).slice(0, 200);
  return String(value);
}

function firstString(o: Record<string, unknown>): string | null {
  const s = Object.values(o).find((x) => typeof x === "string");
  return typeof s === "string" ? s : null;
}

/** A short text for inside a cell: a string, or the first string of a list of objects. */
export function cellText(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.length) {
    const first = value[0];
    if (typeof first === "string") return first;
    if (first && typeof first === "object") return firstString(first as Record<string, unknown>);
  }
  return null;
}

/** Meta keys that hold one text-like detail per cell of a 2-D view (choices for "show in cells"). */
export function textDetailKeys(ex: Explanation, dims: number[], fixed: number[] = []): string[] {
  const keys: string[] = [];
  const probe = [...fixed, 0, 0];
  const d = detailsAt(ex, probe, [...fixed.map((_, k) => k), ...dims]);
  for (const [key, value] of Object.entries(d)) if (cellText(value) !== null) keys.push(key);
  return keys;
}

/** Top-level scalar facts of ``meta`` (seconds, forward passes, residuals...). */
export function facts(ex: Explanation): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(ex.meta ?? {})) {
    if (typeof value === "number" || typeof value === "boolean") out.push([key, typeof value === "number" ? num(value) : String(value)]);
    else if (typeof value === "string" && value.length <= 60) out.push([key, value]);
  }
  return out;
}
