"""What the web UI of a development Home Assistant needs (used by scripts/develop).

    python scripts/develop.py requirements   # requirements that are not installed yet
    python scripts/develop.py install        # pip install them, changing nothing installed
    python scripts/develop.py seed-http [CONFIG_DIR [PORT]]  # first start: HTTP on
                                             # 127.0.0.1:8123 (or PORT) only

Home Assistant installs the requirements of the integrations it sets up at
start-up. scripts/develop does that once itself instead and then runs hass
with --skip-pip, so a development start never changes the venv behind the
tests' back (the test pins win where they differ, e.g. mutagen) and works
offline after the first run.

The integrations are the ones `hass -c config` sets up: the configuration's
top-level keys (`default_config:`, ...), Home Assistant's default integrations
(frontend, ...), the ones onboarding adds (google_translate, met, ...), this
checkout's integrations (and config/custom_components), and all of their dependencies;
the requirements are read from their manifest.json files. Only distributions
that are not installed at all are listed; an installed one at another version
is kept and reported on stderr. `install` pins every installed distribution
to its current version (and everything else to Home Assistant's
package_constraints.txt), so pip adds packages without up- or downgrading any
that the tests rely on.

`seed-http`: since 2026.10 Home Assistant keeps its HTTP settings in
`.storage/http`. A YAML `http:` section is migrated once as an unconfirmed
"pending" trial which, unless confirmed in the UI within 5 minutes, is
reverted to the default (all interfaces, port 8123) with a restart. So before
the first start the store is written directly, with HA's own schema: the
server binds 127.0.0.1:8123 only, as the stable config, and there is no YAML to
migrate. An existing store is left alone (it may hold the user's changes).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
import json
from pathlib import Path
import re
import subprocess
import sys
import tempfile

from homeassistant import bootstrap
import homeassistant.components
from homeassistant.components.http import config as http_config
from homeassistant.util import dt as dt_util

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "configuration.yaml"
CUSTOM = ROOT / "custom_components"
CUSTOM_FOLDERS = (CUSTOM, ROOT / "config" / "custom_components")
DEFAULT_PORT = 8123
COMPONENTS = Path(homeassistant.components.__path__[0])
# Finishing onboarding adds these (homeassistant/components/onboarding/views.py,
# CoreConfigOnboardingView): their requirements are installed like the rest, so a
# fresh instance shows no "Failed to set up" that a real installation would not.
ONBOARDING_DOMAINS = ("google_translate", "met", "radio_browser", "shopping_list")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:==\s*([^;\s]+))?")


def manifest(domain: str) -> dict[str, object]:
    """The manifest of a core or custom integration ({} when unknown)."""
    for folder in (*(custom / domain for custom in CUSTOM_FOLDERS), COMPONENTS / domain):
        if (folder / "manifest.json").is_file():
            data: dict[str, object] = json.loads((folder / "manifest.json").read_text())
            return data
    return {}


def configured_domains() -> set[str]:
    """Top-level keys of configuration.yaml (`domain:` or `domain name:`)."""
    keys = re.findall(r"^([a-z_][a-z0-9_]*)(?:\s+[^:]*)?:", CONFIG.read_text(), re.MULTILINE)
    return set(keys)


def custom_domains() -> set[str]:
    """This checkout's integrations, and the development config's own."""
    return {
        path.parent.name for folder in CUSTOM_FOLDERS for path in folder.glob("*/manifest.json")
    }


def closure(domains: Iterable[str]) -> set[str]:
    """The domains and all their dependencies."""
    todo, seen = list(domains), set[str]()
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        deps = manifest(domain).get("dependencies", [])
        todo.extend(deps if isinstance(deps, list) else [])
    return seen


def requirements(domains: Iterable[str]) -> list[str]:
    """Sorted, de-duplicated requirements of the domains' manifests."""
    found: set[str] = set()
    for domain in domains:
        reqs = manifest(domain).get("requirements", [])
        found.update(req for req in (reqs if isinstance(reqs, list) else []))
    return sorted(found, key=str.lower)


def installed_version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def missing(reqs: Iterable[str]) -> list[str]:
    """Requirements whose distribution is not installed; report version mismatches."""
    result = []
    for req in reqs:
        match = _NAME.match(req)
        if not match:
            continue
        name, wanted = match.groups()
        version = installed_version(name)
        if version is None:
            result.append(req)
        elif wanted and version != wanted:
            print(
                f"[develop] keeping {name} {version} (Home Assistant asks {wanted})",
                file=sys.stderr,
            )
    return result


def needed_domains() -> set[str]:
    """Every integration `hass -c config` sets up, dependencies included."""
    return closure(
        configured_domains()
        | set(bootstrap.DEFAULT_INTEGRATIONS)
        | set(bootstrap.CORE_INTEGRATIONS)
        | set(ONBOARDING_DOMAINS)
        | custom_domains()
    )


def constraints() -> list[str]:
    """Installed distributions at their versions; HA's pins for the rest."""
    pinned = {
        dist.metadata["Name"].lower().replace("_", "-"): f"{dist.metadata['Name']}=={dist.version}"
        for dist in metadata.distributions()
    }
    lines = list(pinned.values())
    ha_pins = (COMPONENTS.parent / "package_constraints.txt").read_text().splitlines()
    for line in ha_pins:
        match = _NAME.match(line)
        if match and "==" in line and match.group(1).lower().replace("_", "-") not in pinned:
            lines.append(line.strip())
    return lines


def install(reqs: list[str]) -> int:
    """pip install reqs, constrained so that nothing installed changes."""
    if not reqs:
        print("[develop] web UI requirements: all installed")
        return 0
    print(f"[develop] installing {len(reqs)} requirements: {' '.join(reqs)}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        req_file, con_file = Path(tmp, "requirements.txt"), Path(tmp, "constraints.txt")
        req_file.write_text("\n".join(reqs) + "\n")
        con_file.write_text("\n".join(constraints()) + "\n")
        command = [sys.executable, "-m", "pip", "install", "-q", "-r", str(req_file)]
        return subprocess.call([*command, "-c", str(con_file)])


def seed_http(config_dir: Path, port: int) -> int:
    """Write <config>/.storage/http (stable: 127.0.0.1:<port>) unless it exists."""
    store = config_dir / ".storage" / http_config.STORAGE_KEY
    if store.exists():
        print(f"[develop] keeping {store}")
        return 0
    settings = {"server_host": ["127.0.0.1"], "server_port": port}
    stable = {
        **http_config.HTTP_STORAGE_SCHEMA(settings),
        http_config.HTTP_CONFIG_CREATED_AT: dt_util.utcnow().isoformat(),
        http_config.HTTP_CONFIG_ERROR: None,
        http_config.HTTP_CONFIG_ERROR_MESSAGE: None,
    }
    document = {
        "version": http_config.STORAGE_VERSION,
        "minor_version": http_config.STORAGE_MINOR_VERSION,
        "key": http_config.STORAGE_KEY,
        "data": {
            http_config.KEY_STABLE: stable,
            http_config.KEY_PENDING: None,
            http_config.KEY_YAML_MIGRATION_DONE: True,
        },
    }
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(document, indent=2) + "\n")
    store.chmod(0o600)
    print(f"[develop] wrote {store}: HTTP on 127.0.0.1:{port}")
    return 0


def main(argv: list[str]) -> int:
    """`requirements` lists, `install` installs, `seed-http` writes the HTTP store."""
    if argv[:1] == ["seed-http"] and len(argv) <= 3:
        config_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "config"
        return seed_http(config_dir, int(argv[2]) if len(argv) > 2 else DEFAULT_PORT)
    if argv not in (["requirements"], ["install"]):
        print(__doc__, file=sys.stderr)
        return 2
    reqs = missing(requirements(needed_domains()))
    if argv == ["install"]:
        return install(reqs)
    for req in reqs:
        print(req)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
