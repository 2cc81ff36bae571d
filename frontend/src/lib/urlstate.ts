// State in the URL: every view that shows a result keeps what reopens it in the address, after
// the route — #explain?prompt=…&method=…&params={…}, #monitor/records?record=<id>,
// #monitor/drift?report=<id> — so a link (or a reload) brings the same view back. The address is
// updated with history.replaceState, so no new history entry and no re-routing.

/** The route part of the hash: "monitor/records" for "#monitor/records?record=…". */
export function hashRoute(hash = location.hash): string {
  return hash.replace(/^#/, "").split("?")[0];
}

/** The parameters after the route's "?". */
export function hashParams(hash = location.hash): URLSearchParams {
  const i = hash.indexOf("?");
  return new URLSearchParams(i < 0 ? "" : hash.slice(i + 1));
}

/** Put ``params`` (null and "" values left out) in the address after ``route``. */
export function setHashState(route: string, params: Record<string, string | null | undefined>): void {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") qs.set(k, v);
  const text = qs.toString();
  history.replaceState(history.state, "", `${location.pathname}${location.search}#${route}${text ? `?${text}` : ""}`);
}
