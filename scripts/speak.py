"""Speak a text through a real Home Assistant core and Fish Audio Live.

    scripts/speak "text" [-o FILE] [--voice ID] [--model M] [--format mp3|wav|opus|ogg]
                         [--stream] [--url URL] [-v]

Boots a minimal real Home Assistant (scripts/ha_boot.py) in a temporary folder,
loads this checkout's integration, adds the account through the config flow and
synthesizes through the `tts` component, the way Assist and media players do:
`tts.async_create_stream`, then `async_set_message` (one-shot) or
`async_set_message_stream` (--stream: the text arrives in 3-6 character pieces
at about 40 tokens/s, like a streaming LLM reply), then `async_stream_result`.

Server: Fish Audio's cloud when FISH_AUDIO_API_KEY is set (then --voice is
required), otherwise the bundled emulator, started in-process on 127.0.0.1 with
realistic latency (handshake 330 ms, first audio 300 ms, real-time factor 0.25).
--url points at another server (an emulator started elsewhere, a self-hosted
Fish server); the key is FISH_AUDIO_API_KEY or "demo".

Prints the time to first audio and the total time; a failure ends with one line
on stderr and exit status 1 (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
import logging
import os
from pathlib import Path
import random
import struct
import sys
import time
from typing import Any

# First: ha_boot puts the repo root on sys.path (custom_components from this checkout).
from ha_boot import REPO_ROOT, BootError, async_integration_dir, running_hass

# isort: split
from homeassistant.components import tts
from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component

from custom_components.fish_audio_live.config_flow import CONF_VOICE_LINK
from custom_components.fish_audio_live.const import CONF_MODEL, CONF_URL, DOMAIN
from custom_components.fish_audio_live.fishaudio.urls import DEFAULT_URL

ENV_API_KEY = "FISH_AUDIO_API_KEY"
EMULATOR_KEY = "demo"
# --format: (preferred_format passed to HA, file extension). Each is produced by
# the integration itself, so HA never needs ffmpeg. ogg = Ogg Opus.
FORMATS: dict[str, tuple[str, str]] = {
    "mp3": ("mp3", "mp3"),
    "wav": ("wav", "wav"),
    "opus": ("opus", "opus"),
    "ogg": ("opus", "ogg"),
}
# --stream pacing: an LLM token every 25 ms, 3 to 6 characters each.
TOKENS_PER_SECOND = 40.0
PIECE_CHARS = (3, 6)
_UNKNOWN_SIZE = 0xFFFFFFFF
WAV_HEADER_SIZE = 44

_LOGGER = logging.getLogger("speak")


class SpeakError(Exception):
    """A failure the user can act on; its message is the one line printed."""


@dataclass(frozen=True, slots=True)
class SpeakOptions:
    """What to say, how, and to which server (None: decided at run time)."""

    text: str
    output: Path | None = None
    voice: str | None = None
    model: str | None = None
    format: str = "mp3"
    stream: bool = False
    url: str | None = None
    api_key: str | None = None
    verbose: bool = False


@dataclass(frozen=True, slots=True)
class Synthesis:
    """Audio from HA's tts stream and how long it took."""

    audio: bytes
    first_audio_s: float
    total_s: float
    chunks: int


@dataclass(frozen=True, slots=True)
class SpeakResult:
    """What a run produced."""

    entity_id: str
    path: Path
    format: str
    synthesis: Synthesis


# ---------------------------------------------------------------- arguments


def parse_args(argv: Sequence[str], env: Mapping[str, str] | None = None) -> SpeakOptions:
    """Command-line options; the API key comes from the environment only."""
    parser = argparse.ArgumentParser(
        prog="scripts/speak",
        description="Speak a text through a real Home Assistant core and Fish Audio Live.",
        epilog=f"Set {ENV_API_KEY} to use Fish Audio's cloud; without it the bundled "
        "emulator runs in-process.",
    )
    parser.add_argument("text", help="what to say")
    parser.add_argument("-o", "--output", type=Path, help="audio file (default speech.<ext>)")
    parser.add_argument("--voice", help="voice id (reference_id); required with a real key")
    parser.add_argument("--model", help="speech model, e.g. s2.1-pro or s2.1-pro-free")
    parser.add_argument("--format", choices=sorted(FORMATS), default="mp3")
    parser.add_argument(
        "--stream", action="store_true", help="feed the text in small pieces, like an LLM"
    )
    parser.add_argument("--url", help=f"server URL (default {DEFAULT_URL} or the emulator)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show HA's log on stderr")
    args = parser.parse_args(list(argv))
    key = (env if env is not None else os.environ).get(ENV_API_KEY, "").strip() or None
    if key and not args.voice:
        parser.error(f"--voice is required with {ENV_API_KEY} (a voice id from fish.audio)")
    return SpeakOptions(
        text=args.text,
        output=args.output,
        voice=args.voice,
        model=args.model,
        format=args.format,
        stream=args.stream,
        url=args.url,
        api_key=key,
        verbose=args.verbose,
    )


# ---------------------------------------------------------------- config flow


@dataclass(frozen=True, slots=True)
class Account:
    """The config entry a run added, and its TTS entity."""

    entry_id: str
    entity_id: str


async def async_add_account(
    hass: HomeAssistant, api_key: str, url: str, voice: str, model: str | None = None
) -> Account:
    """Add the account through the config flow, as the UI does.

    Raises SpeakError (leaving no entry behind) when the flow or the set-up fails.
    """
    flow = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    flow = await _async_step(hass, flow, {CONF_API_KEY: api_key, CONF_URL: url}, url, voice)
    # The id goes in the paste field: the picker accepts only the voices it lists.
    step: dict[str, Any] = {CONF_VOICE_LINK: voice}
    if model:
        step[CONF_MODEL] = model
    flow = await _async_step(hass, flow, step, url, voice)
    if flow["type"] is not FlowResultType.CREATE_ENTRY:
        raise SpeakError(f"config flow ended unexpectedly at step {flow.get('step_id')}")
    entry = flow["result"]
    await hass.async_block_till_done()
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    tts_ids = [item.entity_id for item in entities if item.domain == "tts"]
    if entry.state is ConfigEntryState.LOADED and tts_ids:
        return Account(entry.entry_id, tts_ids[0])
    await hass.config_entries.async_remove(entry.entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise SpeakError(f"the entry did not load ({entry.state.value}: {entry.reason})")
    raise SpeakError("the entry loaded but created no tts entity")


async def _async_step(
    hass: HomeAssistant, flow: ConfigFlowResult, user_input: dict[str, Any], url: str, voice: str
) -> ConfigFlowResult:
    """Submit one form; a form shown again with errors (or an abort) is a SpeakError."""
    if flow["type"] is FlowResultType.ABORT:
        raise SpeakError(f"setup aborted: {flow['reason']}")
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], user_input)
    if result["type"] is FlowResultType.ABORT:
        hint = " (already added)" if result["reason"] == "already_configured" else ""
        raise SpeakError(f"setup aborted: {result['reason']}{hint}")
    if result["type"] is FlowResultType.FORM and (errors := result.get("errors")):
        hass.config_entries.flow.async_abort(result["flow_id"])
        field, reason = next(iter(errors.items()))
        raise SpeakError(flow_error_message(field, reason, url, voice))
    return result


def flow_error_message(field: str, reason: str, url: str, voice: str) -> str:
    """One line for a config-flow form error."""
    messages = {
        "invalid_auth": "API key rejected (401)",
        "cannot_connect": f"cannot reach {url}",
        "invalid_url": f"not a valid server URL: {url}",
        "insecure_url": f"plain http is only allowed for local servers: {url}",
        "not_fish_audio": f"{url} answered, but it is not a Fish Audio API",
        "voice_not_found": f"voice {voice} not found",
        "unknown": "unexpected error in the config flow (run with -v)",
    }
    return messages.get(reason, f"config flow error on {field}: {reason}")


# ---------------------------------------------------------------- synthesis


async def async_synthesize(
    hass: HomeAssistant, entity_id: str, text: str, fmt: str = "mp3", *, stream: bool = False
) -> Synthesis:
    """Synthesize through HA's tts component; times are from the request on."""
    preferred, _ = FORMATS[fmt]
    result = tts.async_create_stream(
        hass, engine=entity_id, language=None, options={tts.ATTR_PREFERRED_FORMAT: preferred}
    )
    start = time.monotonic()
    if stream:
        result.async_set_message_stream(llm_pieces(text))
    else:
        result.async_set_message(text)
    header = WAV_HEADER_SIZE if fmt == "wav" else 0  # a header alone is not audio yet
    chunks: list[bytes] = []
    received = 0
    first: float | None = None
    async for chunk in result.async_stream_result():
        received += len(chunk)
        if first is None and received > header:
            first = time.monotonic() - start
        chunks.append(chunk)
    total = time.monotonic() - start
    audio = b"".join(chunks)
    if not audio or first is None:
        raise SpeakError("no audio came back")
    return Synthesis(audio, first, total, len(chunks))


async def llm_pieces(
    text: str, rate: float = TOKENS_PER_SECOND, seed: int = 1
) -> AsyncGenerator[str]:
    """The text in 3-6 character pieces, one every 1/rate s (the first at once)."""
    picker = random.Random(seed)
    position = 0
    while position < len(text):
        if position:
            await asyncio.sleep(1 / rate)
        size = picker.randint(*PIECE_CHARS)
        yield text[position : position + size]
        position += size


def finalize_wav(data: bytes) -> bytes:
    """Write the real sizes into a streamed WAV header (sent as 'unknown length')."""
    if (
        len(data) < WAV_HEADER_SIZE
        or data[:4] != b"RIFF"
        or data[8:12] != b"WAVE"
        or data[36:40] != b"data"
    ):
        return data
    (riff_size,) = struct.unpack_from("<I", data, 4)
    (data_size,) = struct.unpack_from("<I", data, 40)
    if _UNKNOWN_SIZE not in (riff_size, data_size):
        return data
    fixed = bytearray(data)
    struct.pack_into("<I", fixed, 4, len(data) - 8)
    struct.pack_into("<I", fixed, 40, len(data) - WAV_HEADER_SIZE)
    return bytes(fixed)


def error_message(err: HomeAssistantError, url: str, voice: str) -> str:
    """One line for an error raised by the tts stream (the integration's translation keys)."""
    cause = err.__cause__
    status = getattr(cause, "status", None)
    placeholders = err.translation_placeholders or {}
    retry = placeholders.get("retry_after")
    key = err.translation_key if err.translation_domain == DOMAIN else None
    messages = {
        "invalid_auth": f"API key rejected ({status or 401})",
        "no_credit": "out of credit (402)",
        "rate_limited": "rate limited (429)" + (f", retry after {retry} s" if retry else ""),
        "voice_not_found": f"voice {placeholders.get('voice', voice)} not found",
        "cannot_connect": f"cannot reach {url}",
        "server_error": f"server error ({status or '5xx'})",
        "invalid_request": f"request refused ({status or 400}): {placeholders.get('message')}",
        "timeout": f"timed out waiting for {url}",
        "connect_timeout": f"timed out connecting to {url}",
        "first_audio_timeout": "no audio arrived in time",
        "audio_gap_timeout": "audio stopped in the middle of the message",
        "empty_message": "nothing to say: the text is empty",
        "invalid_option": f"invalid {placeholders.get('option')}: expected "
        f"{placeholders.get('allowed')}",
    }
    if key in messages:
        return messages[key]
    return str(err) or key or type(err).__name__


# ---------------------------------------------------------------- one run


async def async_speak(hass: HomeAssistant, options: SpeakOptions) -> SpeakResult:
    """Add the account, synthesize, write the file; remove the entry again.

    ``options.url`` and ``options.voice`` must be set (``async_main`` fills
    them in). Raises SpeakError with the one line to print.
    """
    assert options.url is not None
    assert options.voice is not None
    url, voice = options.url, options.voice
    if not await async_setup_component(hass, "tts", {}):
        raise SpeakError("Home Assistant could not set up tts")
    await _async_check_checkout(hass)
    account = await async_add_account(
        hass, options.api_key or EMULATOR_KEY, url, voice, options.model
    )
    try:
        synthesis = await async_synthesize(
            hass, account.entity_id, options.text, options.format, stream=options.stream
        )
    except HomeAssistantError as err:
        _LOGGER.debug("Synthesis failed", exc_info=True)
        raise SpeakError(error_message(err, url, voice)) from err
    finally:
        await hass.config_entries.async_remove(account.entry_id)
    path = options.output or Path(f"speech.{FORMATS[options.format][1]}")
    audio = finalize_wav(synthesis.audio) if options.format == "wav" else synthesis.audio
    await hass.async_add_executor_job(path.write_bytes, audio)
    return SpeakResult(account.entity_id, path, options.format, synthesis)


async def _async_check_checkout(hass: HomeAssistant) -> None:
    """Make sure HA loads the integration from this checkout, not from elsewhere."""
    folder = await async_integration_dir(hass, DOMAIN)
    if not folder.resolve().is_relative_to(REPO_ROOT):
        raise SpeakError(f"{DOMAIN} was loaded from {folder}, not from {REPO_ROOT}")


@dataclass(frozen=True, slots=True)
class Server:
    """The server a run talks to, with the options completed for it."""

    options: SpeakOptions
    label: str


@asynccontextmanager
async def _server(options: SpeakOptions) -> AsyncIterator[Server]:
    """Fill in url and voice; run the in-process emulator when no server is given."""
    if options.url or options.api_key:
        label = "given server" if options.url else "Fish Audio"
        url = options.url or DEFAULT_URL
        yield Server(_replace(options, url=url, voice=options.voice or _first_voice()), label)
        return
    from tests.emulator import FishEmulator, LatencyModel  # noqa: PLC0415 - only when used

    latency = LatencyModel(
        handshake_s=0.33, first_audio_s=0.30, rtf=0.25, ms_per_char=60, rest_s=0.05
    )
    emulator = FishEmulator(latency=latency, api_keys=None, port=0)
    await emulator.start()
    try:
        voice = options.voice or emulator.voices[0].id
        yield Server(_replace(options, url=emulator.url, voice=voice), "in-process emulator")
    finally:
        await emulator.stop()


def _first_voice() -> str:
    """The emulator's first built-in voice (for --url pointing at an emulator)."""
    from tests.emulator.catalog import builtin_voices  # noqa: PLC0415 - only when used

    return builtin_voices()[0].id


def _replace(options: SpeakOptions, **changes: Any) -> SpeakOptions:
    values = {name: getattr(options, name) for name in SpeakOptions.__slots__}
    return SpeakOptions(**(values | changes))


def report(result: SpeakResult, server: Server) -> None:
    """Print what happened (stdout)."""
    syn = result.synthesis
    mode = "streamed text" if server.options.stream else "one-shot"
    print(f"{result.entity_id} via {server.options.url} ({server.label}), {mode}")
    print(f"time to first audio: {syn.first_audio_s * 1000:.0f} ms")
    print(f"total time:          {syn.total_s * 1000:.0f} ms ({syn.chunks} chunks)")
    print(f"wrote {result.path}: {len(syn.audio):,} bytes, {result.format}")


async def async_main(
    argv: Sequence[str],
    hass: HomeAssistant | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run once; with ``hass`` given, use that core instead of booting one."""
    try:
        options = parse_args(argv, env)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        async with _server(options) as server:
            if hass is not None:
                result = await async_speak(hass, server.options)
            else:
                _setup_logging(options.verbose)
                async with running_hass() as own:
                    result = await async_speak(own, server.options)
    except (SpeakError, BootError) as err:
        print(err, file=sys.stderr)
        return 1
    report(result, server)
    return 0


def _setup_logging(verbose: bool) -> None:
    """HA's log on stderr with -v; otherwise silent (errors are summed up in one line)."""
    root = logging.getLogger()
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("custom_components.fish_audio_live").setLevel(logging.DEBUG)
        logging.getLogger("speak").setLevel(logging.DEBUG)
    elif not root.handlers:
        root.addHandler(logging.NullHandler())


def main() -> int:
    """Entry point of scripts/speak."""
    try:
        return asyncio.run(async_main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
