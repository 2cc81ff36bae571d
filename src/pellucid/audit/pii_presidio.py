"""Presidio as a second PII detector, offline: pattern recognizers on a blank spaCy pipeline.

Microsoft Presidio's ``AnalyzerEngine()`` wants a trained spaCy model and downloads one when it
is missing; none is on PyPI, and Pellucid never downloads models. Presidio's *pattern*
recognizers (e-mail, phone numbers via ``phonenumbers``, credit cards with Luhn, IBAN with its
checksum, IP addresses, US SSN, UK NHS numbers...) need no model, only a tokenizer, so:

1. a blank English pipeline (``spacy.blank("en")``, no weights) is built locally and saved once
   to ``<pellucid home>/spacy/blank-en``, and that folder is passed to Presidio as the model —
   it exists, so nothing is downloaded;
2. Presidio's e-mail recognizer validates domains with ``tldextract``, whose default fetches the
   public-suffix list over the network; it is replaced by a subclass whose extractor uses the
   snapshot bundled in the ``tldextract`` wheel (``suffix_list_urls=()``, no cache dir);
3. person names need named-entity recognition: pass ``spacy_model=`` a folder with a trained
   spaCy pipeline that has an ``ner`` component, and ``PERSON`` is reported; without it, names
   are not covered (:attr:`PresidioDetector.limits` says so).

Presidio's entity names are mapped onto Pellucid's kinds (``EMAIL_ADDRESS`` -> ``EMAIL``...).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pellucid.audit.pii import Match
from pellucid.errors import ModelLoadError

#: Presidio entity -> Pellucid kind (``IP_ADDRESS`` is split into IPV4/IPV6 by its text).
ENTITY_MAP = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP",
    "US_SSN": "US_SSN",
    "UK_NHS": "UK_NHS",
    "CRYPTO": "CRYPTO",
    "PERSON": "PERSON",
}


def available() -> bool:
    """Whether presidio-analyzer and spaCy are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("presidio_analyzer", "spacy", "tldextract"))


def blank_pipeline(home: Path) -> Path:
    """The folder of a blank English spaCy pipeline under ``home`` (built locally once, never downloaded)."""
    folder = Path(home) / "spacy" / "blank-en"
    if (folder / "config.cfg").is_file():
        return folder
    import spacy

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".blank-en-"))
    spacy.blank("en").to_disk(tmp)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


class PresidioDetector:
    """Presidio's analyzer with Pellucid kinds; build once (setup takes seconds), call :meth:`find` often."""

    def __init__(self, home: Path, spacy_model: str | None = None, score_threshold: float = 0.4) -> None:
        if not available():
            raise ModelLoadError(
                "Presidio is not installed: pip install 'pellucid[audit]' (presidio-analyzer and spaCy). "
                "Pellucid's own regex and checksum detector is used without it."
            )
        self.score_threshold = score_threshold
        model_path = Path(spacy_model) if spacy_model else blank_pipeline(home)
        if spacy_model and not (model_path / "config.cfg").is_file():
            raise ModelLoadError(
                f"spaCy pipeline folder {spacy_model!r} has no config.cfg. Pellucid never downloads spaCy models: "
                "save a trained pipeline with nlp.to_disk(FOLDER) on a machine that has it, copy FOLDER here "
                "and pass it."
            )
        self.engine = _engine(str(model_path))
        nlp = self.engine.nlp_engine.nlp["en"]
        self.has_ner = "ner" in nlp.pipe_names
        self.entities = [e for e in ENTITY_MAP if e != "PERSON" or self.has_ner]

    @property
    def limits(self) -> list[str]:
        if self.has_ner:
            return []
        return ["Person names are not detected: no NER model (pass a spaCy pipeline folder with an 'ner' component)."]

    def find(self, text: str) -> list[Match]:
        results = self.engine.analyze(text, language="en", entities=self.entities, score_threshold=self.score_threshold)
        out = []
        for r in results:
            kind = ENTITY_MAP.get(r.entity_type)
            if kind is None:
                continue
            value = text[r.start : r.end]
            if kind == "IP":
                kind = "IPV6" if ":" in value else "IPV4"
            out.append(Match(kind, r.start, r.end, value))
        return sorted(out, key=lambda m: (m.start, -m.end))


def _engine(model_path: str) -> Any:
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # the bundled snapshot, no network

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recognizer with a domain check that never fetches the suffix list."""

        def validate_result(self, pattern_text: str) -> bool:
            return extractor(pattern_text).fqdn != ""

    config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model_path}]}
    log = logging.getLogger("presidio-analyzer")
    level = log.level
    log.setLevel(logging.ERROR)  # one warning per recognizer of another language: noise here
    try:
        nlp_engine = NlpEngineProvider(nlp_configuration=config).create_engine()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
        registry.remove_recognizer("EmailRecognizer")
        registry.add_recognizer(OfflineEmailRecognizer())
        return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
    finally:
        log.setLevel(level)
