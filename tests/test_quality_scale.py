"""quality_scale.yaml answers every rule of Home Assistant's Integration Quality Scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

INTEGRATION = Path(__file__).resolve().parent.parent / "custom_components" / "fish_audio_live"

# ALL_RULES of script/hassfest/quality_scale.py in Home Assistant core (not in the wheel).
RULES = {
    "bronze": [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}


def _rules() -> dict[str, Any]:
    data = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())
    rules: dict[str, Any] = data["rules"]
    return rules


def _status(value: Any) -> str:
    return str(value["status"] if isinstance(value, dict) else value)


def test_every_rule_is_done_or_exempt_with_a_reason() -> None:
    rules = _rules()
    expected = {rule for tier in RULES.values() for rule in tier}
    assert len(expected) == 54
    assert set(rules) == expected
    for name, value in rules.items():
        assert _status(value) in {"done", "exempt"}, name
        if _status(value) == "exempt":
            assert isinstance(value, dict), name
            assert str(value.get("comment", "")).strip(), name


def test_has_entity_name_records_the_deliberate_false() -> None:
    """The rule's entry explains the naming the entity really uses."""
    assert "    _attr_has_entity_name = False\n" in (INTEGRATION / "tts.py").read_text()
    rule = _rules()["has-entity-name"]
    assert rule["status"] == "done"
    assert "_attr_has_entity_name = False" in rule["comment"]
    assert "openai_conversation" in rule["comment"]


def test_removal_and_limitations_are_documented() -> None:
    readme = (INTEGRATION.parent.parent / "README.md").read_text()
    assert "\n## Removing the integration\n" in readme
    assert "\n## Known limitations\n" in readme
