"""``pellucid.spec``: one resolve for CLI strings and JSON values, with errors that say how to fix them."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from pellucid.errors import InvalidInputError
from pellucid.spec import Param, Spec, parse_int_list

SPEC = Spec(
    "demo",
    (
        Param("steps", "int", 50, "Points on the path.", min=2, max=2048),
        Param("alpha", "float", 0.05, "Significance level.", min=1e-6, max=0.5),
        Param("rule", "str", "gausslegendre", "Quadrature rule.", choices=("gausslegendre", "trapezoid")),
        Param("control", "bool", True, "Fit a control task."),
        Param("limit", "int", None, "Use the first N.", min=1),
        Param("layers", "int_list", None, "Layers."),
        Param("coefficients", "float_list", (0.0, 4.0), "Coefficients."),
        Param("target", "str", help="Next token.", required=True, example=" Paris"),
    ),
    owner="Method 'demo'",
)


def test_defaults_are_filled_and_strings_from_the_cli_are_typed():
    got = SPEC.resolve({"target": " Rome", "steps": "32", "alpha": "0.01", "control": "no", "layers": "0,3-5,-1"})
    assert got == {
        "steps": 32,
        "alpha": 0.01,
        "rule": "gausslegendre",
        "control": False,
        "limit": None,
        "layers": [0, 3, 4, 5, -1],
        "coefficients": (0.0, 4.0),
        "target": " Rome",
    }
    assert isinstance(got["steps"], int) and isinstance(got["alpha"], float)


def test_json_values_from_the_api_are_accepted_as_they_are():
    got = SPEC.resolve({"target": "x", "steps": 8, "alpha": 1e-3, "control": True, "layers": [1, 2], "limit": None})
    assert (got["steps"], got["alpha"], got["control"], got["layers"], got["limit"]) == (8, 1e-3, True, [1, 2], None)
    assert SPEC.resolve({"target": "x", "coefficients": [1, "2.5"]})["coefficients"] == [1.0, 2.5]
    assert SPEC.resolve({"target": "x", "steps": 8.0})["steps"] == 8  # a JSON number with an integral value


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", math.nan, math.inf, -math.inf])
def test_nan_and_infinite_floats_are_refused_naming_value_range_and_fix(value):
    with pytest.raises(InvalidInputError) as err:
        SPEC.resolve({"target": "x", "alpha": value})
    message = str(err.value)
    assert "alpha=" in message and "must be a finite number from 1e-06 to 0.5" in message
    assert "give e.g. alpha=0.05" in message and message.startswith("Method 'demo'")
    with pytest.raises(InvalidInputError, match="coefficients=nan must be a finite number"):
        SPEC.resolve({"target": "x", "coefficients": "0,nan"})


@pytest.mark.parametrize("value", ["maybe", "2", 2, "", None, [True]])
def test_booleans_refuse_garbage_instead_of_reading_it_as_false(value):
    with pytest.raises(InvalidInputError, match="control=.* must be of type bool"):
        SPEC.resolve({"target": "x", "control": value})


@pytest.mark.parametrize(("value", "expected"), [("yes", True), ("ON", True), ("1", True), (1, True), ("off", False)])
def test_booleans_accept_the_usual_spellings(value, expected):
    assert SPEC.resolve({"target": "x", "control": value})["control"] is expected


def test_unknown_names_are_refused_with_the_valid_list():
    with pytest.raises(InvalidInputError) as err:
        SPEC.resolve({"target": "x", "stepz": 3})
    assert str(err.value) == (
        "Method 'demo' has no parameter 'stepz'; its parameters: "
        "steps, alpha, rule, control, limit, layers, coefficients, target."
    )
    with pytest.raises(InvalidInputError, match="'x' has no option 'b'; its options: none. Hint."):
        Spec("x", noun="option", hint="Hint.").resolve({"b": 1})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"steps": "1"}, "steps=1 is below its minimum 2; give a value from 2 to 2048"),
        ({"steps": 4096}, "steps=4096 is above its maximum 2048"),
        ({"steps": "3.5"}, "steps='3.5' must be of type int; give e.g. steps=50"),
        ({"steps": 2.5}, "steps=2.5 must be of type int"),
        ({"steps": True}, "steps=True must be of type int"),
        ({"rule": "simpson"}, "Unknown rule 'simpson' for method 'demo'; choose one of gausslegendre, trapezoid"),
        ({"limit": 0}, "limit=0 is below its minimum 1"),
        ({"layers": "1-x"}, "'1-x' is not a number or a range like '0-11'"),
    ],
)
def test_ranges_choices_and_types_are_checked(given, message):
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SPEC.resolve({"target": "x", **given})


def test_required_parameters_must_be_given_and_not_empty():
    with pytest.raises(InvalidInputError, match="needs the parameter target; give e.g. target=' Paris'"):
        SPEC.resolve({})
    with pytest.raises(InvalidInputError, match="parameter target is empty"):
        SPEC.resolve({"target": ""})


def test_optional_values_can_be_cleared():
    for empty in (None, "", "none", "null"):
        assert SPEC.resolve({"target": "x", "limit": empty})["limit"] is None
    assert SPEC.resolve({"target": "x", "layers": "all"})["layers"] is None


def test_to_dict_keeps_the_keys_the_web_forms_read():
    described = SPEC["coefficients"].to_dict()
    assert described == {
        "name": "coefficients",
        "type": "float_list",
        "default": [0.0, 4.0],
        "help": "Coefficients.",
        "choices": None,
        "min": None,
        "max": None,
        "required": False,
        "widget": None,
    }
    assert SPEC["rule"].to_dict()["choices"] == ["gausslegendre", "trapezoid"]


def test_declarations_are_checked_when_written():
    with pytest.raises(ValueError, match="type 'integer'"):
        Param("n", "integer", 1)
    with pytest.raises(ValueError, match="required, so it has no default"):
        Param("n", "int", 1, required=True)
    with pytest.raises(ValueError, match="declares a parameter twice"):
        Spec("x", (Param("n", "int", 1), Param("n", "int", 2)))


def test_parse_int_list():
    assert parse_int_list("0,3-5,-1") == [0, 3, 4, 5, -1]
    assert parse_int_list(" all ") is None and parse_int_list("") is None
    with pytest.raises(InvalidInputError, match="'5-3' is not a number or a range"):
        parse_int_list("5-3")


@pytest.mark.parametrize(
    "module", ["pellucid.spec", "pellucid.audit.options", "pellucid.inspect_specs", "pellucid.cli.main"]
)
def test_declaring_parameters_never_loads_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
