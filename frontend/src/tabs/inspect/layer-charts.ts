// Per-layer results as line charts above their heat map: a probe's accuracy (and control and
// selectivity) per layer, and the logit lens's rank of the target per layer at the last position
// (1 = the lens's top prediction), so where a property or a prediction appears reads at a glance.

import { xyChart } from "../../charts/xy";
import { h } from "../../lib/dom";
import type { Explanation } from "../../lib/types";

type Grid = (number | null)[][];

/** A probe over (layer, metric): one line per metric. */
function probeChart(ex: Explanation): SVGSVGElement {
  const grid = ex.scores as Grid;
  const metrics = ex.labels.metric ?? [];
  const series = metrics.map((name, j) => ({ name, values: grid.map((row) => row[j]) }));
  const lo = Math.min(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null)));
  return xyChart("Probe accuracy per layer", ex.labels.layer ?? [], series, { xTitle: "layer", yTitle: "accuracy (held out)", yRange: [lo, 1] });
}

/** A logit lens run with score=rank over (layer, position): the last position's rank per layer. */
export function lensRankChart(ex: Explanation): SVGSVGElement {
  const grid = ex.scores as Grid;
  const positions = ex.labels.position ?? [];
  const last = positions.length - 1;
  const target = (ex.meta?.target as { text?: string } | undefined)?.text ?? String(ex.params?.target ?? "the predicted token");
  const values = grid.map((row) => row[last]);
  return xyChart(`Rank of ${JSON.stringify(target)} per layer (at ${positions[last] ?? "the last position"})`, ex.labels.layer ?? [], [{ name: "rank", values }], {
    xTitle: "layer",
    yTitle: "rank (1 = top)",
    invert: true,
    yRange: [1, Math.max(2, ...values.filter((v): v is number => v !== null))],
  });
}

/** The chart card for a result that has one, else null. ``rank`` is fetched for a lens not run with score=rank. */
export function layerChart(ex: Explanation, rank: () => Promise<Explanation | undefined>): HTMLElement | null {
  if (ex.kind === "probe" && ex.axes.join(",") === "layer,metric") return h("div", { class: "card layer-chart", id: "layer-chart" }, probeChart(ex));
  if (ex.kind !== "logit_lens" || ex.axes.join(",") !== "layer,position") return null;
  const card = h("div", { class: "card layer-chart", id: "layer-chart" });
  if (ex.params?.score === "rank") card.append(lensRankChart(ex));
  else void rank().then((r) => r && card.append(lensRankChart(r)));
  return card;
}
