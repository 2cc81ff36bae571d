// What the Features views share: token chips coloured by activation (the one heat-map scale) and
// the links every feature carries — its page and the Monitor records where it fires.

import { colorScale, css, darkTextOn } from "../../heatmap/colorscale";
import { h } from "../../lib/dom";
import { num, tokenText } from "../../lib/format";

/** The address of a feature's page. */
export function featureHref(dictionary: string, latent: number): string {
  return `#features/${encodeURIComponent(dictionary)}/${latent}`;
}

/** The Monitor records view filtered by a feature (records whose stored features include it). */
export function recordsHref(dictionary: string, latent: number): string {
  return `#monitor/records?feature=${encodeURIComponent(`${dictionary}:${latent}`)}`;
}

export function featureLink(dictionary: string, latent: number, text = `#${latent}`): HTMLAnchorElement {
  return h("a", { href: featureHref(dictionary, latent), class: "feature-link", "data-latent": latent }, text);
}

/** Tokens as chips whose background is the activation on the shared sequential scale (``peak`` outlined). */
export function activationTokens(
  tokens: string[],
  activations: number[],
  opts: { peak?: number; max?: number; onClick?: (i: number) => void; cls?: string } = {},
): HTMLElement {
  const scale = colorScale([0, opts.max ?? Math.max(0, ...activations)], false);
  return h(
    "div",
    { class: `feature-tokens ${opts.cls ?? ""}` },
    tokens.map((t, i) => {
      const a = activations[i] ?? 0;
      const rgb = a > 0 ? scale.rgb(a) : null;
      const style = rgb ? { background: css(rgb), color: darkTextOn(rgb) ? "#111" : "#fff" } : {};
      return h(
        opts.onClick ? "button" : "span",
        {
          type: opts.onClick ? "button" : undefined,
          class: `ftok${a > 0 ? " on" : ""}${i === opts.peak ? " peak" : ""}`,
          style,
          title: `${JSON.stringify(t)}: ${num(a)}`,
          "data-index": i,
          "data-activation": a,
          onclick: opts.onClick ? () => opts.onClick!(i) : undefined,
        },
        tokenText(t),
      );
    }),
  );
}
