"""Static checks of the repository's metadata: manifest, hacs.json, brand images, translations."""

from collections.abc import Iterator
import importlib
import importlib.metadata
import json
from pathlib import Path
import re
import struct
from typing import Any
import zlib

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
import pytest

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION = ROOT / "custom_components" / "fish_audio_live"

MANIFEST_KEYS = {
    "domain",
    "name",
    "codeowners",
    "config_flow",
    "dependencies",
    "documentation",
    "integration_type",
    "iot_class",
    "issue_tracker",
    "requirements",
    "version",
}
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
    "render_readme",
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(name="manifest")
def manifest_fixture() -> dict[str, Any]:
    manifest = _load_json(INTEGRATION / "manifest.json")
    assert isinstance(manifest, dict)
    return manifest


def test_manifest_has_required_keys(manifest: dict[str, Any]) -> None:
    assert not MANIFEST_KEYS - manifest.keys(), MANIFEST_KEYS - manifest.keys()
    assert manifest["domain"] == "fish_audio_live"
    assert manifest["name"] == "Fish Audio Live"
    assert manifest["config_flow"] is True


def test_manifest_key_order(manifest: dict[str, Any]) -> None:
    """Hassfest's order: domain, name, then the rest alphabetically."""
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])


def test_manifest_classification(manifest: dict[str, Any]) -> None:
    assert manifest["integration_type"] == "service"
    assert manifest["iot_class"] == "cloud_push"


def test_manifest_version_parses(manifest: dict[str, Any]) -> None:
    version = AwesomeVersion(manifest["version"])
    assert version.strategy in {
        AwesomeVersionStrategy.CALVER,
        AwesomeVersionStrategy.SEMVER,
        AwesomeVersionStrategy.SIMPLEVER,
        AwesomeVersionStrategy.BUILDVER,
        AwesomeVersionStrategy.PEP440,
    }


def test_manifest_requirements_do_not_pin_core_packages(manifest: dict[str, Any]) -> None:
    """An `==` pin of a package Home Assistant ships would fight its own pin."""
    core = {
        canonicalize_name(Requirement(line).name)
        for line in importlib.metadata.requires("homeassistant") or []
    }
    assert core, "could not read Home Assistant's requirements"
    for line in manifest["requirements"]:
        requirement = Requirement(line)
        pinned = any(spec.operator in {"==", "==="} for spec in requirement.specifier)
        assert not (pinned and canonicalize_name(requirement.name) in core), line


def test_manifest_requires_msgpack_within_bounds(manifest: dict[str, Any]) -> None:
    """A lower and an upper bound (a 2.x may break the API), and nothing Home Assistant fights."""
    requirements = [Requirement(line) for line in manifest["requirements"]]
    msgpack = [r for r in requirements if canonicalize_name(r.name) == "msgpack"]
    assert len(msgpack) == 1
    specifier = msgpack[0].specifier
    assert sorted(spec.operator for spec in specifier) == ["<", ">="]
    assert importlib.metadata.version("msgpack") in specifier
    # The tests install exactly what users get.
    lines = (ROOT / "requirements_test.txt").read_text().splitlines()
    assert [line for line in lines if line.startswith("msgpack")] == manifest["requirements"]
    # Home Assistant installs integrations' requirements under its package_constraints.txt.
    constraints = Path(importlib.import_module("homeassistant").__file__ or "").parent
    for line in (constraints / "package_constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pinned = Requirement(line)
            if canonicalize_name(pinned.name) == "msgpack":
                assert any(specifier.filter(_pinned_versions(pinned))), line


def _pinned_versions(requirement: Requirement) -> list[str]:
    """The versions an `==` constraint names (others: none to check)."""
    return [spec.version for spec in requirement.specifier if spec.operator == "=="]


def test_hacs_json() -> None:
    hacs = _load_json(ROOT / "hacs.json")
    assert isinstance(hacs, dict)
    assert set(hacs) <= HACS_KEYS, set(hacs) - HACS_KEYS
    assert hacs["name"]
    installed = AwesomeVersion(importlib.metadata.version("homeassistant"))
    assert AwesomeVersion(hacs["homeassistant"]) <= installed


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    offset = len(PNG_SIGNATURE)
    while offset < len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack_from(">I", data, offset + 8 + length)
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        yield kind, body
        offset += 12 + length


@pytest.mark.parametrize(("name", "size"), [("icon.png", 256), ("icon@2x.png", 512)])
def test_brand_icon(name: str, size: int) -> None:
    data = (INTEGRATION / "brand" / name).read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    chunks = list(_png_chunks(data))
    kind, header = chunks[0]
    assert kind == b"IHDR"
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert (width, height) == (size, size)
    assert (depth, colour_type) == (8, 6), "expected 8-bit RGBA"
    assert chunks[-1][0] == b"IEND"
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(pixels) == height * (1 + 4 * width)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_english_translations() -> None:
    """Custom integrations cannot use `[%key:` references; URLs belong in placeholders."""
    translations = _load_json(INTEGRATION / "translations" / "en.json")
    assert isinstance(translations, dict)
    assert translations
    strings = list(_strings(translations))
    assert [s for s in strings if "[%key:" in s] == []
    assert [s for s in strings if re.search(r"https?://", s)] == []
