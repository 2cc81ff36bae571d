"""One colour scale: the workbench's compiled scale module and ``pellucid.render.colors`` agree.

The TypeScript module (``frontend/src/heatmap/colorscale.ts``, which imports the shared
``render/assets/colors.json`` as the Vite build does) is bundled with the front end's own
bundler (rolldown, installed with Vite) and run in Node on the same scores as Python; every
cell's colour and text colour must be identical, and so must the scale's ends.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pellucid.render.colors import make_scale, palette, text_on

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
ROLLDOWN = FRONTEND / "node_modules" / ".bin" / "rolldown"

NAN = float("nan")
#: (scores, signed): signed and unsigned, positive, negative, straddling 0, NaN, flat, rounding ties.
CASES: list[tuple[list[float], bool]] = [
    ([0.5, -1.25, 2.0, 0.0, NAN, -2.0, 0.37], True),
    ([0.0, 0.1, 0.25, 0.9, 1.0, NAN], False),  # attention weights: [0, max]
    ([-12.5, -3.0, -0.1, -0.0, NAN], False),  # log-probabilities: [min, 0]
    ([-0.2, 0.4, 1.1, 0.0], False),  # unsigned on both sides of 0: diverging
    ([0.91, 0.93, 0.95], False),  # probe accuracies stay similar reds
    ([0.0, 0.0, NAN], False),
    ([NAN, NAN], True),
    ([3.0], True),
    ([1.0, 0.5, 0.25, 0.125], False),  # 255 + (198 - 255) * 0.5 = 226.5: rounds half up
    ([1e-300, 5e-301, 2.5e-301], False),
    ([-7.0, 7.0, 3.5, -3.5], True),
]

_NODE_SCRIPT = """
import * as cs from "./colorscale.mjs";
const cases = JSON.parse(await new Promise((ok) => {
  let text = ""; process.stdin.on("data", (d) => (text += d)); process.stdin.on("end", () => ok(text));
}));
const out = cases.map(([values, signed]) => {
  const scale = cs.colorScale(values, signed);
  return {
    diverging: scale.diverging, lo: scale.lo, hi: scale.hi,
    colors: values.map((v) => scale.rgb(v)),
    dark: values.map((v) => { const c = scale.rgb(v); return c === null ? null : cs.darkTextOn(c); }),
  };
});
process.stdout.write(JSON.stringify(out));
"""


def _json_safe(values: list[float]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values]


@pytest.fixture(scope="module")
def typescript_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    if shutil.which("node") is None or not ROLLDOWN.exists():
        message = "needs Node.js and the front end's packages (cd frontend && npm ci; scripts/setup.sh --dev does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI sets the front end up: the parity test must run there
        pytest.skip(message)
    out = tmp_path_factory.mktemp("colorscale")
    subprocess.run(
        [str(ROLLDOWN), "src/heatmap/colorscale.ts", "--format", "esm", "--file", str(out / "colorscale.mjs")],
        cwd=FRONTEND,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (out / "run.mjs").write_text(_NODE_SCRIPT, encoding="utf-8")
    cases = json.dumps([[_json_safe(values), signed] for values, signed in CASES])
    done = subprocess.run(
        ["node", "run.mjs"], cwd=out, input=cases, check=True, capture_output=True, text=True, timeout=60
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_python_and_the_workbench_colour_every_cell_alike(typescript_results: list[dict], index: int) -> None:
    values, signed = CASES[index]
    ts = typescript_results[index]
    scale = make_scale(np.array(values), signed)
    assert ts["diverging"] == scale.diverging
    assert math.isclose(ts["lo"], scale.lo, rel_tol=1e-12, abs_tol=0.0) or ts["lo"] == scale.lo == 0
    assert math.isclose(ts["hi"], scale.hi, rel_tol=1e-12)
    python_colors = [scale.rgb(v) for v in values]
    assert [None if c is None else tuple(c) for c in ts["colors"]] == python_colors
    python_dark = [None if c is None else text_on(c) == "black" for c in python_colors]
    assert ts["dark"] == python_dark


def test_the_rule_in_numbers() -> None:
    high, low, zero = (tuple(palette()[k]) for k in ("high", "low", "zero"))
    signed = make_scale(np.array([2.0, -1.0, NAN]), signed=True)
    assert signed.rgb(2.0) == high and signed.rgb(-2.0) == low and signed.rgb(0.0) == zero
    assert signed.rgb(NAN) is None and signed.rgb(None) is None
    logprobs = make_scale(np.array([-10.0, -1.0]), signed=False)
    assert (logprobs.lo, logprobs.hi) == (-10.0, 0.0)
    assert logprobs.rgb(-10.0) == zero and logprobs.t(-1.0) == pytest.approx(0.9)
    weights = make_scale(np.array([0.2, 0.4]), signed=False)
    assert weights.t(0.2) == pytest.approx(0.5) and weights.rgb(0.4) == high
    straddling = make_scale(np.array([-0.5, 1.0]), signed=False)
    assert straddling.diverging and straddling.rgb(-1.0) == low
    half = make_scale(np.array([1.0]), signed=False).rgb(0.5)
    assert half == (227, 148, 148)  # 226.5, 147.5, 147.5 rounded half up, as JavaScript does
    assert text_on(high) == "white" and text_on(zero) == "black"
