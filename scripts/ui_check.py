"""Drive Home Assistant's real frontend through the Fish Audio Live setup (scripts/ui-check).

    python scripts/ui_check.py HA_URL EMULATOR_URL DEMO_KEY SHOTS_DIR

Expects a fresh instance from scripts/develop (not onboarded yet) with the
emulator beside it. Walks what a new user does: onboarding, Add integration
(a wrong key first, then the demo key, then the first voice), Add voice from
the library and as an instant clone, Configure, Reconfigure with an error, and
"Say" in the media browser. After each screen it checks what the user reads:
voice names rather than ids, our own messages, no raw translation keys. The
screenshots go to SHOTS_DIR (docs/screenshots/ for the README).

Chromium is Debian's (/usr/bin/chromium): Playwright downloads no browser.
"""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import re
import sys
import tempfile
import time
import wave

from playwright.sync_api import Locator, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000
USER = ("Demo User", "demo", "demo-password-1")
FIRST_VOICE = "Calm Narrator (en): Warm, slow storytelling voice."
LIBRARY_VOICE = "Anime Girl (ja, en): Bright bilingual anime voice."
OTHER_VOICE = "Deutscher Sprecher (de): Clear German news voice."
CLONE_NAME = "My Clone"
SPOKEN = "Hello from Fish Audio Live."

# Every text node, through the frontend's shadow roots (scripts and styles skipped).
DEEP_TEXT_JS = """() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.trim();
      if (text) out.push(text);
      return;
    }
    if (node.nodeType === Node.ELEMENT_NODE && ["SCRIPT", "STYLE"].includes(node.tagName)) return;
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return out.join("\\n");
}"""
# What the frontend shows when a translation is missing: the key itself.
RAW_KEY = re.compile(r"\b(?:component|ui|state_attributes)\.[a-z0-9_]+\.[a-z0-9_.]+")
VOICE_ID = re.compile(r"\b[0-9a-f]{32}\b")


class UiCheckError(AssertionError):
    """What a user would have seen wrong."""


class Ui:
    """The browser page, with checks of what it shows."""

    def __init__(self, page: Page, base: str, shots: Path) -> None:
        """Keep the page, HA's URL and where screenshots go."""
        self.page = page
        self.base = base.rstrip("/")
        self.shots = shots
        self.checks = 0

    def goto(self, path: str) -> None:
        """Open a frontend path."""
        self.page.goto(self.base + path)

    def text(self) -> str:
        """All text the page renders, shadow DOM included."""
        text: str = self.page.evaluate(DEEP_TEXT_JS)
        return text

    def wait_text(self, text: str) -> None:
        """Wait until `text` is shown (anywhere, through shadow roots)."""
        expect(self.page.get_by_text(text, exact=False).first).to_be_visible()

    def visible_text(self, text: str) -> Locator:
        """The first visible element showing exactly `text` (tooltips hold copies)."""
        return self.page.get_by_text(text, exact=True).filter(visible=True).first

    def check(self, condition: bool, message: str) -> None:
        """Count a check; fail with what the user would have seen wrong."""
        self.checks += 1
        if not condition:
            raise UiCheckError(message)

    def check_readable(self, *, ids_shown_by_ha: bool = False) -> None:
        """No raw translation key, and no voice id where a name belongs.

        `ids_shown_by_ha`: HA's own text-to-speech panel shows the selected
        voice's id on purpose (for automations), below its name.
        """
        text = self.text()
        raw = RAW_KEY.findall(text)
        self.check(not raw, f"raw translation keys on screen: {raw}")
        if not ids_shown_by_ha:
            ids = VOICE_ID.findall(text)
            self.check(not ids, f"voice ids on screen instead of names: {ids}")

    def shot(self, name: str) -> None:
        """Save a screenshot of the whole window."""
        self.page.screenshot(path=str(self.shots / f"{name}.png"))

    def button(self, name: str) -> Locator:
        """A button by its visible name."""
        return self.page.get_by_role("button", name=name, exact=True)

    def field(self, name: str) -> Locator:
        """A form input by its field name (ha-form names inputs after the schema key)."""
        return self.page.locator(f"input[name='{name}'], textarea[name='{name}']").first

    def submit(self) -> None:
        """Press the dialog's Submit."""
        self.button("Submit").click()

    def pick(self, field_index: int, label: str) -> None:
        """Open the n-th select of the dialog and choose the option shown as `label`."""
        self.page.locator("ha-selector-select").nth(field_index).click()
        self.choose(label)

    def choose(self, label: str) -> None:
        """Choose an option of the open list, then wait until the list has closed."""
        self.page.get_by_text(label, exact=True).last.click()
        # Any other option: once none is visible, the closed field is what the user sees.
        expect(self.page.get_by_text(OTHER_VOICE, exact=True).filter(visible=True)).to_have_count(0)

    def select_value(self, field_index: int) -> str:
        """The value the n-th select holds ("" when none)."""
        value: str = (
            self.page.locator("ha-selector-select ha-select")
            .nth(field_index)
            .evaluate("e => e.value ?? ''")
        )
        return value


def clip(path: Path, seconds: float = 5.0, rate: int = 16000) -> Path:
    """A short mono WAV for the clone form (a quiet tone; only its shape is checked)."""
    frames = bytearray()
    for index in range(int(seconds * rate)):
        frames += (((index // 20) % 2) * 2000 - 1000).to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


def onboarding(ui: Ui) -> None:
    """Create the owner account, then accept the defaults of the remaining steps."""
    ui.goto("/")
    ui.button("Create my smart home").click()
    name, username, password = USER
    for field, value in (
        ("name", name),
        ("username", username),
        ("password", password),
        ("password_confirm", password),
    ):
        ui.field(field).fill(value)
    ui.button("Create account").click()
    home = ui.page.get_by_role("link", name="Overview")  # the sidebar: onboarding is over
    for _ in range(8):  # location, country, analytics, then "All set!" with Finish
        step = ui.page.get_by_role("button", name=re.compile(r"^(Next|Finish)$")).first
        expect(step.or_(home).first).to_be_visible()
        if home.count():
            break
        shown = ui.text()
        step.click()
        # Each step has a Next button: wait for the next step (or the end of onboarding).
        ui.page.wait_for_function(
            "() => !location.pathname.startsWith('/onboarding')"
            f" || ({DEEP_TEXT_JS})() !== {json.dumps(shown)}"
        )
    ui.page.wait_for_url(re.compile(r"/(home|lovelace)"), timeout=TIMEOUT_MS)


def no_failed_integrations(ui: Ui) -> None:
    """After onboarding no integration reports a failed set-up."""
    ui.goto("/config/integrations/dashboard")
    ui.wait_text("Google Translate")
    text = ui.text()
    ui.check("Failed to set up" not in text, "an integration failed to set up after onboarding")


def add_integration(ui: Ui, emulator_url: str, demo_key: str) -> None:
    """Add integration: a wrong key, the demo key, then the first voice."""
    ui.goto("/config/integrations/dashboard")
    ui.button("Add integration").click()
    ui.page.keyboard.type("Fish Audio Live")
    ui.page.get_by_text("Fish Audio Live", exact=True).click()
    ui.wait_text("Connect your Fish Audio account")
    ui.field("api_key").fill("not-the-demo-key")
    ui.field("url").fill(emulator_url)
    ui.submit()
    ui.wait_text("The API key was rejected")
    ui.check_readable()
    ui.shot("01-connect-wrong-key")

    ui.field("api_key").fill(demo_key)
    ui.submit()
    ui.wait_text("Choose the first voice")
    ui.check(ui.select_value(0) == "", "a voice was pre-selected that the user did not choose")
    ui.page.locator("ha-selector-select").first.click()
    ui.wait_text(FIRST_VOICE)
    ui.check_readable()
    ui.shot("02-first-voice-list")
    ui.choose(FIRST_VOICE)
    ui.check_readable()
    ui.shot("03-first-voice-chosen")
    ui.submit()
    # HA's own last step: name the new device (our voice) and give it an area.
    done = ui.page.get_by_role("button", name=re.compile(r"^(Finish|Skip and finish)$"))
    done.first.wait_for()
    expect(ui.page.get_by_role("textbox", name="Device name")).to_have_value("Calm Narrator")
    ui.check_readable()
    ui.shot("04-integration-added")
    done.first.click()


# True once every Fish Audio Live entry is loaded (asked through the frontend's own connection).
ENTRY_LOADED_JS = """async () => {
  const hass = document.querySelector("home-assistant")?.hass;
  if (!hass) return false;
  const entries = await hass.callWS({type: "config_entries/get", domain: "fish_audio_live"});
  return entries.length > 0 && entries.every((entry) => entry.state === "loaded");
}"""


def open_entry(ui: Ui) -> None:
    """The integration's page: the account entry and its voices.

    After a change the entry reloads; the page lists no entry while it does,
    so wait for the reload to finish first, as a user waits for the spinner.
    """
    ui.page.wait_for_function(ENTRY_LOADED_JS, polling=200)
    ui.goto("/config/integrations/integration/fish_audio_live")
    ui.wait_text("Calm Narrator")


def add_library_voice(ui: Ui) -> None:
    """Add voice > library: the picker shows names; the new voice appears."""
    open_entry(ui)
    ui.button("Add voice").click()
    ui.page.get_by_text("Voice from the Fish Audio library", exact=True).click()
    ui.wait_text("Library voice")
    ui.check(ui.select_value(0) == "", "a voice was pre-selected that the user did not choose")
    ui.pick(0, LIBRARY_VOICE)
    ui.check_readable()
    ui.shot("05-add-voice-library")
    ui.submit()
    ui.page.get_by_text("Anime Girl", exact=True).first.wait_for()
    ui.check_readable()
    close_dialog(ui)


def add_clone(ui: Ui, wav: Path) -> None:
    """Add voice > instant clone: upload a clip, its transcript and a name."""
    open_entry(ui)
    ui.button("Add voice").click()
    ui.page.get_by_text("Instant clone from a recording", exact=True).click()
    ui.wait_text("Instant voice clone")
    ui.page.locator("input[type='file']").first.set_input_files(str(wav))
    ui.wait_text(wav.name)
    ui.field("clone_text").fill("This is a short recording of my voice.")
    ui.field("title").fill(CLONE_NAME)
    ui.check_readable()
    ui.shot("06-add-voice-clone")
    ui.submit()
    ui.page.get_by_text(CLONE_NAME, exact=True).first.wait_for()
    close_dialog(ui)


def close_dialog(ui: Ui) -> None:
    """Close a finished flow's dialog, when it shows one."""
    for name in ("Finish", "Close", "OK"):
        button = ui.button(name)
        if button.count():
            button.first.click()
            return


def options(ui: Ui) -> None:
    """Configure: the account options, saved."""
    open_entry(ui)
    ui.button("Configure").first.click()
    ui.wait_text("Fish Audio account options")
    # Every option says what it does (its help text), once the dialog has faded in.
    ui.wait_text("Settings shared by every voice of this account.")
    ui.wait_text("so the reply starts about a third of a second sooner")
    ui.page.wait_for_timeout(400)  # the dialog's fade-in, for the screenshot only
    ui.check_readable()
    ui.shot("08-options")
    ui.submit()
    ui.page.get_by_role("button", name=re.compile("^(Finish|Close)$")).first.click()


def entry_menu(ui: Ui, item: str) -> None:
    """Choose `item` from the account entry's overflow menu."""
    open_entry(ui)
    # The entry's own menu comes before its voices' menus.
    ui.page.locator("ha-config-entry-row").get_by_role("button", name="Menu").first.click()
    ui.page.get_by_role("menuitem", name=item).first.click()


def change_voice(ui: Ui) -> None:
    """Change voice: the form shows the voice by name; saving says so in our words."""
    open_entry(ui)
    row = ui.page.locator("ha-config-sub-entry-row").filter(has_text="Calm Narrator").first
    row.get_by_role("button", name="Change voice").first.click()
    ui.wait_text("Library voice")
    ui.check(ui.select_value(0) != "", "the voice being changed is not selected")
    ui.check_readable()
    ui.submit()
    ui.wait_text("The voice was updated.")
    ui.check_readable()
    ui.shot("07-voice-updated")
    close_dialog(ui)


def reconfigure(ui: Ui, emulator_url: str, demo_key: str) -> None:
    """Reconfigure: an unsafe URL is refused, the typed key stays, then it works."""
    entry_menu(ui, "Reconfigure")
    ui.wait_text("Change the Fish Audio connection")
    ui.check(ui.field("api_key").input_value() == "", "the stored API key was sent to the browser")
    ui.field("api_key").fill(demo_key)
    ui.field("url").fill("http://example.com")
    ui.submit()
    ui.wait_text("Plain http is only allowed for servers on your local network")
    ui.check(
        ui.field("api_key").input_value() == demo_key,
        "the API key typed before the error was dropped",
    )
    ui.check_readable()
    ui.shot("09-reconfigure-error")
    ui.field("url").fill(emulator_url)
    ui.submit()
    ui.wait_text("The connection was updated.")
    ui.check_readable()
    ui.shot("10-reconfigure-done")
    close_dialog(ui)


def say(ui: Ui) -> None:
    """Media > Text-to-speech: "Say" plays the whole clip in the browser."""
    ui.goto("/media-browser/browser")
    ui.visible_text("Text-to-speech").click()
    ui.visible_text("Calm Narrator").click()
    ui.page.locator("textarea").first.fill(SPOKEN)
    with ui.page.expect_response(lambda r: "/api/tts_proxy/" in r.url, timeout=TIMEOUT_MS) as info:
        ui.button("Say").click()
    response = info.value
    body = response.body()
    ui.check(response.status == 200, f"the speech request failed: HTTP {response.status}")
    ui.check(len(body) > 4000, f"the clip is too short to be speech: {len(body)} bytes")
    ui.check_readable(ids_shown_by_ha=True)
    ui.shot("11-media-say")


def say_on_speaker(ui: Ui) -> None:
    """The same on the develop speaker: it receives the clip and shows its size."""
    ui.button("Web browser").click()
    ui.visible_text("Develop speaker").click()
    ui.button("Say").click()
    ui.wait_text("Speech: ")
    ui.check_readable(ids_shown_by_ha=True)
    ui.shot("12-develop-speaker")


def run(base: str, emulator_url: str, demo_key: str, shots: Path) -> int:
    """Every step in order; returns the number of checks passed."""
    shots.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, Callable[[Ui], None]]] = [
        ("onboarding", onboarding),
        ("no failed integration", no_failed_integrations),
        ("add integration", lambda ui: add_integration(ui, emulator_url, demo_key)),
        ("add voice: library", add_library_voice),
        ("change voice", change_voice),
        ("configure", options),
        ("reconfigure with an error", lambda ui: reconfigure(ui, emulator_url, demo_key)),
        ("media browser: say", say),
        ("media browser: say on the develop speaker", say_on_speaker),
    ]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        wav = clip(Path(tmp) / "my-voice.wav")
        steps.insert(4, ("add voice: clone", lambda ui: add_clone(ui, wav)))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        ui = Ui(page, base, shots)
        for name, step in steps:
            started = time.monotonic()
            try:
                step(ui)
            except Exception:
                failed = Path(tmp).parent / "ui-check-failed.png"
                page.screenshot(path=str(failed))
                print(f"[ui-check] FAILED at: {name} (screenshot: {failed})", flush=True)
                raise
            print(f"[ui-check] ok: {name} ({time.monotonic() - started:.1f} s)", flush=True)
        browser.close()
    return ui.checks


def main(argv: list[str]) -> int:
    """Run the walk; exit status 0 when every check passed."""
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    base, emulator_url, demo_key, shots = argv
    checks = run(base, emulator_url, demo_key, Path(shots))
    print(f"[ui-check] all {checks} checks passed; screenshots in {shots}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
