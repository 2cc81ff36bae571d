"""One contract over every parameter spec: the library, the CLI and the API agree on each default.

Specs: the attribution methods, the counterfactual generators, the audit checks' options and
the inspect verbs. For each, the library function's signature defaults equal the spec's; the
CLI (generated options, or ``name=value`` strings through the one parser) and the API (request
models, or the descriptions the web forms read) give the same defaults; NaN and infinity are
refused for every float; unknown names are refused with the valid list.
"""

from __future__ import annotations

import importlib
import inspect
import math
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from pydantic import ValidationError

import pellucid.inspect as pi
from pellucid.attribution import METHODS
from pellucid.audit.options import OPTIONS, option_spec
from pellucid.cli.inspect_cmd import OPTIONS as INSPECT_OPTIONS
from pellucid.cli.inspect_cmd import app as inspect_app
from pellucid.cli.params import parse_params
from pellucid.cli.spec_options import cli_default
from pellucid.counterfactual.registry import GENERATORS
from pellucid.errors import InvalidInputError
from pellucid.features.graph.engine import attribution_graph
from pellucid.features.specs import GRAPH
from pellucid.inspect_specs import VERBS
from pellucid.serve.app import create_app
from pellucid.serve.routers.inspect import VERBS as API_VERBS
from pellucid.service import ModelPool
from pellucid.spec import Param, Spec

AUDIT_FUNCTIONS = {
    "bias": "bias_check:bias",
    "stereotypes": "stereotypes_check:stereotypes",
    "toxicity": "toxicity_check:toxicity",
    "pii": "pii_check:pii_audit",
    "groundedness": "groundedness_check:groundedness",
    "constitution": "constitution_check:constitution",
    "robustness": "wrappers:robustness",
    "injection": "wrappers:injection",
}

#: audit options read by the runner's adapter (``o.pop(name, default)``), not by the check function
ADAPTER_DEFAULTS = {("pii", "backend"): "auto", ("groundedness", "lexical"): False}


def _audit_function(check: str) -> Any:
    module, name = AUDIT_FUNCTIONS[check].split(":")
    return getattr(importlib.import_module(f"pellucid.audit.{module}"), name)


#: (kind, spec, library function) for every spec
SPECS: list[tuple[str, Spec, Any]] = [
    *[(f"method {n}", m.spec, m.fn) for n, m in METHODS.items()],
    *[(f"generator {n}", g.spec, g.fn) for n, g in GENERATORS.items()],
    *[(f"audit {c}", option_spec(c), _audit_function(c)) for c in OPTIONS],
    *[(f"inspect {v}", d.spec, getattr(pi, d.function)) for v, d in VERBS.items()],
    ("inspect graph", GRAPH, attribution_graph),
]
IDS = [kind for kind, _, _ in SPECS]


def _same(a: Any, b: Any) -> bool:
    """Equal defaults, a tuple and a list with the same items counting as equal."""
    return (list(a) if isinstance(a, tuple) else a) == (list(b) if isinstance(b, tuple) else b)


@pytest.mark.parametrize(("kind", "spec", "fn"), SPECS, ids=IDS)
def test_library_signature_defaults_are_the_specs(kind, spec, fn):
    signature = inspect.signature(fn)
    for p in spec:
        if kind.startswith("audit") and (spec.name, p.name) in ADAPTER_DEFAULTS:
            assert p.default == ADAPTER_DEFAULTS[spec.name, p.name], f"{kind}: {p.name}"
            continue
        assert p.name in signature.parameters, f"{kind}: {fn.__name__} takes no {p.name}"
        default = signature.parameters[p.name].default
        if p.required:
            assert default is inspect.Parameter.empty, f"{kind}: {p.name} is required but has a default"
        else:
            assert _same(default, p.default), f"{kind}: {p.name} is {default!r} in the library, {p.default!r} here"


def test_inspect_verbs_take_their_inputs_in_order():
    for verb, declared in VERBS.items():
        names = list(inspect.signature(getattr(pi, declared.function)).parameters)
        assert names[0] == "lm" and all(name in names for name in declared.inputs), verb
        positional = [n for n in names[1:] if n not in declared.spec]
        assert positional[: len(declared.inputs)] == list(declared.inputs), verb


def test_inspect_choices_are_the_librarys():
    from pellucid.inspect import ablation, patching, tracing
    from pellucid.inspect._common import METRICS

    activations = importlib.import_module("pellucid.inspect.activations")  # the package binds the function
    logit_lens = importlib.import_module("pellucid.inspect.logit_lens")

    assert VERBS["activations"].spec["site"].choices == activations.ACTIVATION_SITES
    assert VERBS["activations"].spec["reduce"].choices == activations.REDUCTIONS
    assert VERBS["patch"].spec["site"].choices == patching.PATCH_SITES
    assert VERBS["attribution_patch"].spec["metric"].choices == METRICS
    assert VERBS["trace"].spec["site"].choices == tracing.TRACE_SITES
    assert VERBS["ablate"].spec["what"].choices == ablation.ABLATIONS
    assert VERBS["logit_lens"].spec["score"].choices == logit_lens.LENS_SCORES


@pytest.mark.parametrize(("kind", "spec", "fn"), SPECS, ids=IDS)
def test_nothing_given_resolves_to_the_defaults(kind, spec, fn):
    required = {p.name: p.example for p in spec if p.required}
    assert spec.resolve(required) == {**spec.defaults(), **required}


def _cli_text(p: Param) -> str:
    value = p.default
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


@pytest.mark.parametrize(("kind", "spec", "fn"), SPECS, ids=IDS)
def test_each_default_written_on_the_command_line_reads_back_as_itself(kind, spec, fn):
    required = {p.name: p.example for p in spec if p.required}
    pairs = [f"{p.name}={_cli_text(p)}" for p in spec if not p.required and p.default is not None]
    resolved = spec.resolve({**parse_params(pairs), **required})
    for p in spec:
        if not p.required:
            assert _same(resolved[p.name], p.default), (kind, p.name, resolved[p.name])


@pytest.mark.parametrize(("kind", "spec", "fn"), SPECS, ids=IDS)
def test_nan_and_infinity_are_refused_for_every_float(kind, spec, fn):
    required = {p.name: p.example for p in spec if p.required}
    for p in spec:
        if p.scalar != "float":
            continue
        for bad in ("nan", math.nan, "inf", -math.inf):
            value = [bad] if p.type.endswith("_list") else bad
            with pytest.raises(InvalidInputError, match=f"{p.name}=.*must be a finite number"):
                spec.resolve({**required, p.name: value})


@pytest.mark.parametrize(("kind", "spec", "fn"), SPECS, ids=IDS)
def test_unknown_names_are_refused_with_the_valid_list(kind, spec, fn):
    with pytest.raises(InvalidInputError) as err:
        spec.resolve({"no_such_parameter": 1})
    assert "no_such_parameter" in str(err.value)
    assert f"its {spec.noun}s: {', '.join(spec.names) or 'none'}." in str(err.value)


@pytest.mark.parametrize(("kind", "spec", "fn"), SPECS, ids=IDS)
def test_booleans_refuse_garbage(kind, spec, fn):
    required = {p.name: p.example for p in spec if p.required}
    for p in spec:
        if p.type == "bool":
            with pytest.raises(InvalidInputError, match=f"{p.name}='maybe' must be of type bool"):
                spec.resolve({**required, p.name: "maybe"})


# -- the generated CLI ---------------------------------------------------------------------
#: required parameters a command may fill in itself: `inspect steer --feature DIR:ID` takes the
#: layer from the dictionary, so `--layer` may be omitted there (the command refuses neither given)
FILLED_BY_COMMAND = {("steer", "layer")}


def test_every_inspect_option_has_the_library_default():
    commands = typer.main.get_command(inspect_app).commands  # type: ignore[attr-defined]
    assert set(INSPECT_OPTIONS) == set(commands)
    for name, params in INSPECT_OPTIONS.items():
        options = {o.name: o for o in commands[name].params}
        for p in params:
            if p.cli is None:  # not generated (the command may declare its own option of that name)
                continue
            option = options[p.name]
            assert option.required is (p.required and (name, p.name) not in FILLED_BY_COMMAND), (name, p.name)
            if not p.required:
                assert _same(option.default, cli_default(p)), (name, p.name, option.default)
                assert _same(cli_default(p), p.default) or p.type == "int_list", (name, p.name)


def test_every_inspect_verb_option_is_offered_by_a_command():
    offered = {(p.name, id(p)) for params in INSPECT_OPTIONS.values() for p in params}
    for verb in ("activations", "attention", "logit_lens", "direct_logit", "patch", "trace", "attribution_patch",
                 "ablate", "probe", "steer"):  # fmt: skip
        for p in VERBS[verb].spec:
            assert p.cli is None or (p.name, id(p)) in offered, (verb, p.name)


# -- the API ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    from pellucid.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("home"))
    return TestClient(create_app(settings, ModelPool(settings)))


def test_inspect_request_models_have_the_library_defaults():
    for verb, (model, _) in API_VERBS.items():
        fields = model.model_fields
        for p in VERBS[verb].spec:
            if not p.api:
                assert p.name not in fields, (verb, p.name)
                continue
            expected = p.example if p.required else p.default
            assert _same(fields[p.name].default, expected), (verb, p.name, fields[p.name].default)
            if p.scalar == "float":
                with pytest.raises(ValidationError):
                    model.model_validate({p.name: math.nan})


def test_the_forms_get_the_library_defaults(api):
    described = {
        "/api/methods": {m["name"]: m["params"] for m in api.get("/api/methods").json()},
        "/api/counterfactuals/generators": {
            g["name"]: g["params"] for g in api.get("/api/counterfactuals/generators").json()
        },
        "/api/audit/checks": {c["name"]: c["params"] for c in api.get("/api/audit/checks").json()["checks"]},
        "/api/inspect": {v["name"]: v["params"] for v in api.get("/api/inspect").json()},
    }
    registries: dict[str, dict[str, Spec]] = {
        "/api/methods": {n: m.spec for n, m in METHODS.items()},
        "/api/counterfactuals/generators": {n: g.spec for n, g in GENERATORS.items()},
        "/api/audit/checks": {c: option_spec(c) for c in OPTIONS},
        "/api/inspect": {v: VERBS[v].spec for v in API_VERBS},
    }
    for route, specs in registries.items():
        assert set(described[route]) == set(specs), route
        for name, spec in specs.items():
            shown = {p["name"]: p for p in described[route][name]}
            for p in spec:
                if p.name in shown:  # the generators' file parameters are not offered
                    expected = p.example if p.required else p.default
                    assert _same(shown[p.name]["default"], expected), (route, name, p.name)
                    high = min(b for b in (p.max, p.api_max, math.inf) if b is not None)
                    assert shown[p.name]["min"] == p.min, (route, name, p.name)
                    assert shown[p.name]["max"] == (None if high == math.inf else high), (route, name, p.name)


def test_server_bounds_apply_to_requests_only():
    trace = VERBS["trace"].spec
    assert trace.resolve({"target": " Paris", "subject": "E", "samples": "200"})["samples"] == 200  # library, CLI
    request = API_VERBS["trace"][0]
    with pytest.raises(ValidationError, match="samples"):
        request.model_validate({"samples": 101})
    assert request.model_validate({"samples": 100}).samples == 100  # type: ignore[attr-defined]
