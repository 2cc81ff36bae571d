from pathlib import Path

import pytest

from pellucid.errors import InvalidInputError
from pellucid.settings import Settings


def test_from_env_reads_variables_and_flags_win():
    env = {"PELLUCID_HOME": "/tmp/x", "PELLUCID_PORT": "9000", "PELLUCID_THREADS": "2", "PELLUCID_OFFLINE": "0"}
    s = Settings.from_env(env)
    assert s.home == Path("/tmp/x") and s.port == 9000 and s.threads == 2 and s.offline is False
    assert s.resolved_database_url == "sqlite:////tmp/x/pellucid.db"
    s2 = Settings.from_env(env, port=1234, home=None)
    assert s2.port == 1234 and s2.home == Path("/tmp/x")


def test_bad_integer_names_variable():
    with pytest.raises(InvalidInputError, match="PELLUCID_PORT='abc'"):
        Settings.from_env({"PELLUCID_PORT": "abc"})


def test_defaults_are_safe():
    s = Settings.from_env({})
    assert s.host == "127.0.0.1" and s.offline is True and s.default_model == "smollm2-135m-instruct"


def test_batching_settings_come_from_the_environment():
    default = Settings.from_env({})
    assert (default.batching, default.max_batch, default.max_queue) == (True, 16, 64)
    s = Settings.from_env({"PELLUCID_BATCHING": "off", "PELLUCID_MAX_BATCH": "4", "PELLUCID_MAX_QUEUE": "0"})
    assert (s.batching, s.max_batch, s.max_queue) == (False, 4, 0)
    with pytest.raises(InvalidInputError, match=r"PELLUCID_BATCHING='maybe' is not a boolean"):
        Settings.from_env({"PELLUCID_BATCHING": "maybe"})
