"""Synthesis settings, URLs, WAV framing, MessagePack framing and error mapping."""

from __future__ import annotations

import io
import wave

import msgpack
import pytest

from custom_components.fish_audio_live.fishaudio import errors, protocol
from custom_components.fish_audio_live.fishaudio.settings import (
    ReferenceClip,
    SynthesisSettings,
    voice_id_from_input,
)
from custom_components.fish_audio_live.fishaudio.urls import (
    UnsafeUrlError,
    is_local_host,
    live_url,
    normalize_url,
)
from custom_components.fish_audio_live.fishaudio.wav import (
    STREAMING_SIZE,
    PcmShape,
    wav_file,
    wav_header,
)

VOICE = "0123456789abcdef0123456789abcdef"


def test_start_request_carries_every_setting() -> None:
    request = SynthesisSettings(reference_id=VOICE, format="wav", sample_rate=16000).start_request()
    assert request["format"] == "pcm"
    assert request["sample_rate"] == 16000
    assert request["reference_id"] == VOICE
    assert request["prosody"] == {"speed": 1.0, "volume": 0.0}
    assert set(request) == {
        "text", "format", "sample_rate", "mp3_bitrate", "opus_bitrate", "chunk_length",
        "latency", "reference_id", "references", "prosody", "temperature", "top_p", "normalize",
    }  # fmt: skip


def test_references_replace_reference_id() -> None:
    clip = ReferenceClip(audio=b"RIFF", text="hello")
    request = SynthesisSettings(reference_id=VOICE, references=(clip,)).start_request()
    assert request["reference_id"] is None
    assert request["references"] == [{"audio": b"RIFF", "text": "hello"}]


def test_defaults_are_valid() -> None:
    settings = SynthesisSettings().validate()
    assert settings.effective_sample_rate == 44100
    assert SynthesisSettings(format="opus").effective_sample_rate == 48000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"speed": 5}, "speed"),
        ({"volume": 99}, "volume"),
        ({"format": "flac"}, "format"),
        ({"model": " "}, "model"),
        ({"format": "mp3", "sample_rate": 16000}, "sample_rate"),
        ({"latency": "fast"}, "latency"),
        ({"mp3_bitrate": 100}, "mp3_bitrate"),
        ({"opus_bitrate": 5}, "opus_bitrate"),
        ({"chunk_length": 50}, "chunk_length"),
        ({"temperature": 2}, "temperature"),
        ({"top_p": -1}, "top_p"),
        ({"reference_id": "not-an-id"}, "voice"),
    ],
)
def test_invalid_settings_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(errors.InvalidSettingError) as caught:
        SynthesisSettings().with_changes(**changes).validate()
    assert caught.value.field == field


@pytest.mark.parametrize(
    "text",
    [
        VOICE,
        f"https://fish.audio/m/{VOICE}",
        f"https://fish.audio/m/{VOICE}/",
        f"https://fish.audio/app/m/{VOICE}?share=1",
        f"  {VOICE.upper()}  ",
    ],
)
def test_voice_id_from_input(text: str) -> None:
    assert voice_id_from_input(text) == VOICE


def test_voice_id_from_input_keeps_other_text() -> None:
    assert voice_id_from_input(" custom ") == "custom"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.fish.audio/", "https://api.fish.audio"),
        ("HTTPS://API.Fish.Audio", "https://api.fish.audio"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://192.168.1.20:8080/fish/", "http://192.168.1.20:8080/fish"),
        ("http://localhost:1234", "http://localhost:1234"),
        ("http://fish.local", "http://fish.local"),
    ],
)
def test_allowed_urls(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://api.fish.audio", "invalid_url"),
        ("not a url", "invalid_url"),
        ("https://", "invalid_url"),
        ("https://host:99999", "invalid_url"),
        ("https://user:pw@host", "invalid_url"),
        ("https://host/?q=1", "invalid_url"),
        ("http://api.fish.audio", "insecure_url"),
        ("http://8.8.8.8", "insecure_url"),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrlError) as caught:
        normalize_url(url)
    assert caught.value.reason == reason


def test_local_hosts() -> None:
    assert is_local_host("10.0.0.5")
    assert is_local_host("::1")
    assert not is_local_host("example.com")


def test_live_url() -> None:
    assert live_url("https://api.fish.audio") == "wss://api.fish.audio/v1/tts/live"
    assert live_url("http://127.0.0.1:1/base/") == "ws://127.0.0.1:1/base/v1/tts/live"


def test_wav_file_has_exact_sizes() -> None:
    pcm = b"\x01\x00" * 800
    with wave.open(io.BytesIO(wav_file(pcm, PcmShape(16000)))) as reader:
        assert reader.getframerate() == 16000
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getnframes() == 800


def test_streaming_wav_header_marks_unknown_length() -> None:
    header = wav_header(24000, None)
    assert len(header) == 44
    assert int.from_bytes(header[4:8], "little") == STREAMING_SIZE
    assert int.from_bytes(header[40:44], "little") == STREAMING_SIZE


def test_protocol_round_trip() -> None:
    start = msgpack.unpackb(protocol.start_event({"text": ""}, debug=True))
    assert start == {"event": "start", "request": {"text": ""}, "debug": True}
    assert "debug" not in msgpack.unpackb(protocol.start_event({}, debug=False))
    assert protocol.decode(msgpack.packb({"event": "audio", "audio": b"x"})) == {
        "event": "audio",
        "audio": b"x",
    }


@pytest.mark.parametrize("frame", [b"\xc1", msgpack.packb([1, 2]), msgpack.packb({"x": 1})])
def test_protocol_refuses_bad_frames(frame: bytes) -> None:
    with pytest.raises(errors.SynthesisError):
        protocol.decode(frame)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, errors.AuthenticationError),
        (403, errors.AuthenticationError),
        (402, errors.InsufficientCreditError),
        (429, errors.RateLimitError),
        (404, errors.VoiceNotFoundError),
        (400, errors.InvalidRequestError),
        (422, errors.InvalidRequestError),
        (500, errors.ServerError),
        (503, errors.ServerError),
        (302, errors.InvalidResponseError),
    ],
)
def test_status_mapping(status: int, kind: type[errors.FishAudioError]) -> None:
    err = errors.error_for_status(status, "msg", retry_after=2.0)
    assert type(err) is kind
    assert err.message == "msg" or status == 302


def test_rate_limit_keeps_retry_after() -> None:
    err = errors.error_for_status(429, "", 3.0)
    assert isinstance(err, errors.RateLimitError)
    assert err.retry_after == 3.0
    assert str(err) == "rate_limited"
