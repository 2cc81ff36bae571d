// JSON over fetch, with the server's own error message and cancellation by AbortSignal.

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly kind = "",
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** The message of an error body: ``{"error": {"message"}}`` (Pellucid) or ``{"detail"}`` (FastAPI). */
export function errorMessage(body: unknown, fallback: string): { message: string; kind: string } {
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    const err = b.error as Record<string, unknown> | undefined;
    if (err && typeof err.message === "string") return { message: err.message, kind: String(err.type ?? "") };
    if (typeof b.detail === "string") return { message: b.detail, kind: "" };
    if (Array.isArray(b.detail)) {
      const parts = b.detail.map((d: Record<string, unknown>) => {
        const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return `${loc ? loc + ": " : ""}${String(d.msg ?? "invalid")}`;
      });
      return { message: `Invalid request: ${parts.join("; ")}`, kind: "ValidationError" };
    }
  }
  return { message: fallback, kind: "" };
}

const TOKEN_KEY = "pellucid-api-token";

/** The API token of a server started with one (``Authorization: Bearer``), kept in this tab. */
export function apiToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setApiToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The answer's body as text (a report, a model card), with the same token and errors as ``api``. */
export async function apiText(path: string, opts: RequestOptions = {}): Promise<string> {
  const res = await send(path, opts);
  const text = await res.text();
  if (!res.ok) throw failure(res, text);
  return text;
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(path, opts);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (!res.ok) throw failure(res, text);
  try {
    return (text ? JSON.parse(text) : undefined) as T;
  } catch {
    return undefined as T;
  }
}

function failure(res: Response, text: string): ApiError {
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const { message, kind } = errorMessage(body, `${res.status} ${res.statusText}: ${text.slice(0, 300)}`);
  return new ApiError(message, res.status, kind);
}

async function send(path: string, opts: RequestOptions): Promise<Response> {
  const init: RequestInit = { method: opts.method ?? (opts.body === undefined ? "GET" : "POST"), signal: opts.signal };
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    headers["content-type"] = "application/json";
  }
  const token = apiToken();
  if (token) headers.authorization = `Bearer ${token}`;
  init.headers = headers;
  try {
    return await fetch(withQuery(path, opts.query), init);
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(`The server did not answer (${String(e)}). Is pellucid serve still running?`, 0);
  }
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

/** The answer's body as a file (an export), with the same token and errors as ``api``. */
export async function apiBlob(path: string, opts: RequestOptions = {}): Promise<Blob> {
  const res = await send(path, opts);
  if (!res.ok) throw failure(res, await res.text());
  return res.blob();
}
