"""A per-token contrast's row label quotes both tokens, so their spaces show."""

from __future__ import annotations

from pellucid.attribution import explain


def test_contrast_rows_quote_each_token(tiny_lm) -> None:
    # the tiny tokenizer splits " Ye" into ' ', 'Y', 'e' and " No" into ' ', 'N', 'o': one row per token pair
    ex = explain(tiny_lm, "is it good", target=" Ye", foil=" No", method="kernel_shap", chat=False, n_samples=16)
    assert ex.labels["target"] == ['" " vs " "', '"Y" vs "N"', '"e" vs "o"', "<target − foil>"]
