"""Explain a logged record: the logged prompt re-run on the logged model, the logged response as target."""

from __future__ import annotations

import numpy as np
import pytest

import pellucid
from pellucid.errors import InvalidInputError, ModelNotFoundError
from pellucid.monitor import Store
from pellucid.service import ModelPool
from pellucid.service.records import explain_record, logged_messages

MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}]


@pytest.fixture()
def pool(tiny_lm, settings) -> ModelPool:
    models = ModelPool(settings)
    models.add(tiny_lm, name="tiny")
    return models


def test_explanation_targets_the_logged_response(store: Store, make, pool: ModelPool, tiny_lm) -> None:
    record = make(prompt=MESSAGES, response=" The capital is Paris.", model="tiny", model_version="v3")
    store.repo.insert_records([record])
    ex = explain_record(pool, store, record.id, method="occlusion")
    target_ids = tiny_lm.encode_target(" The capital is Paris.")
    assert ex.meta["target_token_ids"] == target_ids
    assert ex.labels["target"][: len(target_ids)] == tiny_lm.decode_tokens(target_ids)
    assert ex.meta["record_id"] == record.id and ex.meta["record_model_version"] == "v3"
    assert not ex.meta["generated"]
    # the same as explaining the logged chat by hand
    direct = pellucid.explain(tiny_lm, logged_messages(MESSAGES), " The capital is Paris.", "occlusion")
    np.testing.assert_allclose(ex.scores, direct.scores, equal_nan=True)
    assert "What" in "".join(ex.labels["input"])


def test_records_that_cannot_be_explained(store: Store, make, pool: ModelPool) -> None:
    failed = make(prompt="Hi", response=None, error="timeout", model="tiny")
    other = make(prompt="Hi", response="Hello", model="no-such-model")
    store.repo.insert_records([failed, other])
    with pytest.raises(InvalidInputError, match="the call failed"):
        explain_record(pool, store, failed.id)
    with pytest.raises(ModelNotFoundError, match="Pass model="):
        explain_record(pool, store, other.id)
    assert (
        explain_record(pool, store, other.id, model="tiny", method="saliency").meta["record_model"] == "no-such-model"
    )
