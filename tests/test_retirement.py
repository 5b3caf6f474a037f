"""The model table: retired and re-routed models are not offered for new voices."""

from __future__ import annotations

from custom_components.fish_audio_live.fishaudio.models import (
    CURRENT_MODELS,
    RETIRED_MODELS,
    retirement,
)
from custom_components.fish_audio_live.fishaudio.settings import DEFAULT_MODEL, FREE_MODEL, MODELS


def test_retired_models_are_not_offered() -> None:
    for name in ("s1", "s1-mini", "speech-1.5", "speech-1.6"):
        assert name in RETIRED_MODELS
        assert name not in MODELS
    assert MODELS == CURRENT_MODELS
    assert DEFAULT_MODEL in MODELS
    assert FREE_MODEL in MODELS


def test_s1_retirement_date_and_target() -> None:
    row = retirement("s1")
    assert row is not None
    assert row.retired_on == "2026-12-31"
    assert row.served_as == "s2.1-pro"
    assert retirement("s2.1-pro") is None
    assert retirement("no-such-model") is None
