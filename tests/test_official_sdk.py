"""Fish's official Python client (`fish-audio-sdk`) as the emulator's client.

The SDK is what Fish's own users run against the real service: whatever it
sends, the service accepts, and whatever the service answers, it parses. So
the emulator must serve it without a violation. Deviations from the spec that
the SDK makes (opus_bitrate in kbit/s) are recorded, not refused.

Error sessions are left out on purpose: when a session ends with an error,
SDK 1.3.0 leaves its sender task failing unobserved ("Task exception was
never retrieved"), which Home Assistant's test harness rightly reports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
import io

from fishaudio import AsyncFishAudio, FlushEvent, ReferenceAudio, TextEvent
from fishaudio.exceptions import AuthenticationError
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus
import pytest

from tests.emulator import FishEmulator, SessionRecord, Voice

pytestmark = pytest.mark.usefixtures("socket_enabled")

KEY = "sdk-key"
USER = "sdk-user"
MODEL = "s2.1-pro"
PUBLIC_VOICE = "f51eeab3f59fb13a6ae9f0a61ba5e87e"
OWN_VOICE = "fedcba9876543210fedcba9876543210"
SENTENCES = ("Hello from the official client. ", "It streams text ", "as it comes.")


@pytest.fixture
async def emu() -> AsyncIterator[FishEmulator]:
    """An emulator with one account that owns one voice; no socket may stay open."""
    async with FishEmulator(api_keys={KEY: USER}) as emulator:
        emulator.add_voice(Voice(OWN_VOICE, "My Clone", ["en"]), owner=USER)
        yield emulator
        await emulator.wait_all_closed()


@pytest.fixture
async def client(emu: FishEmulator) -> AsyncIterator[AsyncFishAudio]:
    """The SDK's async client, pointed at the emulator."""
    sdk = AsyncFishAudio(api_key=KEY, base_url=emu.url)
    yield sdk
    await sdk.close()


async def _text() -> AsyncIterator[str | TextEvent | FlushEvent]:
    """Text as an LLM would stream it, with one flush after the first sentence."""
    yield SENTENCES[0]
    yield FlushEvent()
    for piece in SENTENCES[1:]:
        yield TextEvent(text=piece)


async def _speak(client: AsyncFishAudio, model: str | None = MODEL, **options: object) -> bytes:
    """One live session through the SDK (model None: the SDK's default); all audio bytes."""
    if model is not None:
        options["model"] = model  # the SDK's Literal of models lags Fish's list
    chunks = [
        chunk
        async for chunk in client.tts.stream_websocket(_text(), **options)  # type: ignore[arg-type]
    ]
    return b"".join(chunks)


def _only_session(emu: FishEmulator) -> SessionRecord:
    assert len(emu.sessions) == 1
    return emu.sessions[0]


def _check_audio(audio_format: str, audio: bytes) -> None:
    """The bytes are one stream of the format asked for."""
    if audio_format == "mp3":
        assert MP3(io.BytesIO(audio)).info.length > 0
    elif audio_format == "opus":
        assert OggOpus(io.BytesIO(audio)).info.length > 0
    elif audio_format == "wav":
        assert audio[:4] == b"RIFF"
        assert audio[8:16] == b"WAVEfmt "
    else:
        assert len(audio) % 2 == 0  # 16-bit samples, no header
        assert audio[:4] != b"RIFF"


@pytest.mark.parametrize("audio_format", ["mp3", "wav", "pcm", "opus"])
async def test_live_socket_in_every_format(
    emu: FishEmulator, client: AsyncFishAudio, audio_format: str
) -> None:
    audio = await _speak(client, format=audio_format, reference_id=PUBLIC_VOICE)

    session = _only_session(emu)
    assert emu.violations == []
    assert audio == session.audio_sent
    _check_audio(audio_format, audio)
    assert session.model == MODEL
    assert session.text == "".join(SENTENCES)
    assert session.flushes == 1
    assert session.stopped
    assert session.finish_reason == "stop"
    assert session.request is not None
    assert session.request["format"] == audio_format
    assert session.request["reference_id"] == PUBLIC_VOICE
    # The SDK sends opus_bitrate 32 (kbit/s) in every start: a recorded deviation.
    assert session.request["opus_bitrate"] == 32
    assert len(session.deviations) == 1
    assert "opus_bitrate: 32" in session.deviations[0]


async def test_clone_reference_and_own_voice(emu: FishEmulator, client: AsyncFishAudio) -> None:
    clip = bytes(range(256)) * 8
    reference = ReferenceAudio(audio=clip, text="The words in the clip.")
    audio = await _speak(client, references=[reference])
    audio_own = await _speak(client, model=None, reference_id=OWN_VOICE)

    assert emu.violations == []
    assert audio
    assert audio_own
    cloned, own = emu.sessions
    assert cloned.request is not None
    assert cloned.request["references"] == [{"audio": clip, "text": "The words in the clip."}]
    assert cloned.request["reference_id"] is None
    assert own.request is not None
    assert own.request["reference_id"] == OWN_VOICE
    assert own.model == "s2-pro"  # the SDK's default model header
    assert own.finish_reason == "stop"


async def test_credits(emu: FishEmulator, client: AsyncFishAudio) -> None:
    emu.credit = {USER: "12.34"}
    balance = await client.account.get_credits()
    assert balance.user_id == USER
    assert balance.credit == Decimal("12.34")
    assert emu.violations == []


async def test_credits_with_a_wrong_key(emu: FishEmulator) -> None:
    sdk = AsyncFishAudio(api_key="wrong-key", base_url=emu.url)
    try:
        with pytest.raises(AuthenticationError):
            await sdk.account.get_credits()
    finally:
        await sdk.close()


async def test_voice_list_and_one_voice(emu: FishEmulator, client: AsyncFishAudio) -> None:
    public = await client.voices.list(page_size=3, language="en")
    own = await client.voices.list(self_only=True)
    one = await client.voices.get(PUBLIC_VOICE)

    assert emu.violations == []
    assert public.total == sum("en" in voice.languages for voice in emu.voices)
    assert len(public.items) == 3
    assert all(voice.train_mode == "fast" for voice in public.items)
    assert [(voice.id, voice.title) for voice in own.items] == [(OWN_VOICE, "My Clone")]
    assert one.id == PUBLIC_VOICE
    assert one.title == emu.voices[0].title
