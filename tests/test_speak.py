"""scripts/speak: in-process against the test's hass and the emulator, then the real CLI."""

from __future__ import annotations

import os
from pathlib import Path
import socket
import struct
import subprocess
import sys
import wave

from homeassistant.core import HomeAssistant
from mutagen.mp3 import MP3
import pytest

from tests.conftest import API_KEY, USER_ID
from tests.emulator import FishEmulator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import speak  # noqa: E402

TEXT = "Hello from Home Assistant. This sentence is spoken by the Fish Audio emulator."
ENV = {speak.ENV_API_KEY: API_KEY}


def _argv(emulator: FishEmulator, output: Path, *extra: str) -> list[str]:
    voice = emulator.voices[0].id
    return [TEXT, "-o", str(output), "--url", emulator.url, "--voice", voice, *extra]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_one_shot_mp3(
    hass: HomeAssistant, emulator: FishEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.mp3"
    assert await speak.async_main(_argv(emulator, output), hass=hass, env=ENV) == 0
    assert MP3(output).info.length > 0
    out = capsys.readouterr().out
    assert "time to first audio:" in out
    assert f"wrote {output}" in out
    assert emulator.sessions[-1].text.strip() == TEXT
    # The entry is removed again: the same hass can speak twice.
    assert hass.config_entries.async_entries("fish_audio_live") == []
    assert await speak.async_main(_argv(emulator, output), hass=hass, env=ENV) == 0


async def test_wav_is_a_valid_file(
    hass: HomeAssistant, emulator: FishEmulator, tmp_path: Path
) -> None:
    output = tmp_path / "out.wav"
    argv = _argv(emulator, output, "--format", "wav")
    assert await speak.async_main(argv, hass=hass, env=ENV) == 0
    with wave.open(str(output)) as wav:
        frames = wav.getnframes()
        assert frames > 0
        assert len(wav.readframes(frames)) == frames * wav.getsampwidth()
    assert output.stat().st_size == 44 + frames * 2


async def test_stream_first_audio_before_the_end(
    hass: HomeAssistant, emulator: FishEmulator, tmp_path: Path
) -> None:
    options = speak.SpeakOptions(
        text=TEXT,
        output=tmp_path / "out.mp3",
        voice=emulator.voices[0].id,
        format="mp3",
        stream=True,
        url=emulator.url,
        api_key=API_KEY,
    )
    result = await speak.async_speak(hass, options)
    assert 0 < result.synthesis.first_audio_s < result.synthesis.total_s
    assert MP3(result.path).info.length > 0
    session = emulator.sessions[-1]
    assert session.text.strip() == TEXT
    assert len(session.texts) > 1  # the text really arrived in pieces


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("bad_key", "API key rejected (401)"),
        ("no_credit", "out of credit (402)"),
        ("unknown_voice", "voice 0123456789abcdef0123456789abcdef not found"),
    ],
)
async def test_errors_are_one_line(
    hass: HomeAssistant,
    emulator: FishEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    expected: str,
) -> None:
    argv = _argv(emulator, tmp_path / "out.mp3")
    env = dict(ENV)
    if setup == "bad_key":
        env[speak.ENV_API_KEY] = "not-the-key"
    elif setup == "no_credit":
        emulator.credit[USER_ID] = "0"
    else:
        argv[argv.index("--voice") + 1] = "0123456789abcdef0123456789abcdef"
    assert await speak.async_main(argv, hass=hass, env=env) == 1
    captured = capsys.readouterr()
    assert captured.err == f"{expected}\n"
    assert captured.out == ""
    assert not (tmp_path / "out.mp3").exists()


async def test_bad_key_on_own_emulator(
    hass: HomeAssistant, socket_enabled: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FishEmulator(api_keys={"good": "u1"}) as emu:
        argv = _argv(emu, tmp_path / "out.mp3")
        assert await speak.async_main(argv, hass=hass, env={speak.ENV_API_KEY: "bad"}) == 1
        assert await speak.async_main(argv, hass=hass, env={speak.ENV_API_KEY: "good"}) == 0
    assert capsys.readouterr().err == "API key rejected (401)\n"


async def test_unreachable_server(
    hass: HomeAssistant, socket_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    assert await speak.async_main(["Hi", "--url", url], hass=hass, env={}) == 1
    assert capsys.readouterr().err == f"cannot reach {url}\n"


async def test_real_key_needs_a_voice(capsys: pytest.CaptureFixture[str]) -> None:
    assert await speak.async_main(["Hi"], env={speak.ENV_API_KEY: "sk"}) == 2
    assert "--voice is required" in capsys.readouterr().err


async def test_llm_pieces_are_small() -> None:
    pieces = [piece async for piece in speak.llm_pieces(TEXT, rate=1000)]
    assert "".join(pieces) == TEXT
    assert all(3 <= len(piece) <= 6 for piece in pieces[:-1])


def test_finalize_wav() -> None:
    streamed = b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"\0" * 24
    streamed += b"data" + struct.pack("<I", 0xFFFFFFFF) + b"\1\2" * 10
    fixed = speak.finalize_wav(streamed)
    assert struct.unpack_from("<I", fixed, 4) == (len(streamed) - 8,)
    assert struct.unpack_from("<I", fixed, 40) == (20,)
    assert speak.finalize_wav(fixed) == fixed
    assert speak.finalize_wav(b"ID3 not a wav") == b"ID3 not a wav"


def test_cli_boots_its_own_home_assistant(socket_enabled: None, tmp_path: Path) -> None:
    """The real command: own hass, own in-process emulator; and a failure's single line."""
    env = {k: v for k, v in os.environ.items() if k != speak.ENV_API_KEY}
    script = str(ROOT / "scripts" / "speak")
    output = tmp_path / "cli.mp3"
    bad_url = f"http://127.0.0.1:{_free_port()}"
    runs = [
        subprocess.Popen(  # noqa: S603 - our own script
            [script, "Hi from the command line.", "-o", str(output), "--stream"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        ),
        subprocess.Popen(  # noqa: S603 - our own script
            [script, "Hi", "--url", bad_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        ),
    ]
    (ok_out, ok_err), (bad_out, bad_err) = (run.communicate(timeout=120) for run in runs)
    assert runs[0].returncode == 0, ok_err
    assert "(in-process emulator), streamed text" in ok_out
    assert "time to first audio:" in ok_out
    assert MP3(output).info.length > 0
    assert ok_err == ""
    assert runs[1].returncode == 1
    assert bad_err == f"cannot reach {bad_url}\n"
    assert bad_out == ""
