"""``service.run_inspect``: every inspect call is validated by the verb's spec before the method runs."""

from __future__ import annotations

import pytest

from pellucid.errors import InvalidInputError, UnknownNameError
from pellucid.service import run_inspect


class _NoModel:
    """Stands in for the model: any use of it fails, so these errors come from validation alone."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"the model was used ({name}) although the parameters were invalid")


@pytest.mark.parametrize(
    ("verb", "inputs", "params", "message"),
    [
        ("nope", ("x",), {}, "Unknown inspect verb: 'nope'. Available: ablate, activations"),
        ("patch", ("clean",), {"target": " Paris"}, "takes 2 input(s) (clean, corrupted), got 1"),
        ("trace", ("p",), {"target": " Paris", "subject": "E", "noise": "nan"}, "noise=nan must be a finite number"),
        ("trace", ("p",), {"target": " Paris"}, "needs the parameter subject"),
        ("probe", ("data",), {"cv": 1}, "cv=1 is below its minimum 2"),
        ("probe", ("data",), {"control": "maybe"}, "control='maybe' must be of type bool"),
        ("logit_lens", ("p",), {"layer": 3}, "has no parameter 'layer'; its parameters: target, layers, score"),
        ("activations", ("p",), {"site": "nope"}, "Unknown site 'nope' for inspect verb 'activations'"),
        ("attention", ("p",), {"layers": "1-x"}, "'1-x' is not a number or a range like '0-11'"),
    ],
)
def test_bad_calls_are_refused_before_the_model_is_touched(verb, inputs, params, message):
    with pytest.raises(InvalidInputError) as err:
        run_inspect(verb, _NoModel(), *inputs, **params)
    assert message in str(err.value)
    assert verb != "nope" or isinstance(err.value, UnknownNameError)
