"""Engine fixtures: an fp32 encoder of the tiny model and a fresh library."""

import pytest

from engine.encoder import ClipEncoder, RuntimeConfig
from engine.library import Library


@pytest.fixture
def encoder(tiny_model):
    return ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32"))


@pytest.fixture
def lib(tmp_path):
    with Library.open(tmp_path / "lib") as library:
        yield library
