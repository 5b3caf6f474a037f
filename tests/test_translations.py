"""Every error a user can meet has an English sentence in translations/en.json."""

from __future__ import annotations

import json
from pathlib import Path
import re

from custom_components.fish_audio_live.fishaudio import errors

PACKAGE = Path(__file__).resolve().parent.parent / "custom_components" / "fish_audio_live"
STRINGS = json.loads((PACKAGE / "translations" / "en.json").read_text(encoding="utf-8"))


def _error_kinds() -> set[str]:
    return {
        value.kind
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.FishAudioError)
    }


def test_every_client_error_kind_is_translated() -> None:
    missing = _error_kinds() - set(STRINGS["exceptions"])
    assert not missing


def test_every_translation_key_in_the_code_exists() -> None:
    used: set[str] = set()
    for path in PACKAGE.glob("*.py"):
        used.update(re.findall(r'translation_key="([a-z_]+)"', path.read_text(encoding="utf-8")))
    issues = {"no_credit"}  # raised as a repair issue, also an exception key
    assert used - issues <= set(STRINGS["exceptions"]) | set(STRINGS["issues"])
    assert issues <= set(STRINGS["issues"])


def test_placeholders_match_across_the_exception_strings() -> None:
    for key, entry in STRINGS["exceptions"].items():
        for name in re.findall(r"{(\w+)}", entry["message"]):
            assert name in {"message", "error", "voice", "option", "allowed", "retry_after"}, key
