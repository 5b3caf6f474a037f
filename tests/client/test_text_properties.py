"""Property tests of the text path: any text, split any way, never crashes or loses words.

Hypothesis draws texts from an alphabet rich in markup (Markdown delimiters, brackets,
links, tags, emoji, CJK, Thai) and cuts them into arbitrary deltas, as an LLM stream
would. Derandomized, so CI sees the same examples on every run.
"""

from __future__ import annotations

from itertools import pairwise

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.fish_audio_live.fishaudio.text_clean import (
    SpeechTextCleaner,
    clean_text,
)
from custom_components.fish_audio_live.fishaudio.text_policy import FLUSH, TextPlanner

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

# Pieces of markup and prose the cleaner has rules for, mixed with plain characters.
FRAGMENTS = st.sampled_from(
    [
        "*",
        "**",
        "_",
        "__",
        "~~",
        "`",
        "```",
        "#",
        "# ",
        "- ",
        "1. ",
        "> ",
        "|",
        "\n",
        "[",
        "]",
        "(",
        ")",
        "](",
        "<",
        ">",
        "&",
        "&amp;",
        "&nbsp;",
        ";",
        ":",
        ".",
        "!",
        "?",
        " ",
        "https://x.com/a",
        "www.x.org",
        "<think>",
        "</think>",
        "[whispers]",
        "(excited)",
        "<|phoneme_start|>",
        "<|phoneme_end|>",
        "😀",
        "✅",
        "#️⃣",
        "👍🏽",
        "请访问",
        "了解",
        "สวัสดี",
        "Dr.",
        "e.g.",
        "a.m.",
        "der 5.",
        "Mai",
        "°",
        "%",
        "light.living_room",
        "Hello",
        "world",
        "21",
        "  ",
    ]
)
TEXTS = st.lists(st.one_of(FRAGMENTS, st.text(max_size=6)), max_size=40).map("".join)


def split(text: str, cuts: list[int]) -> list[str]:
    """`text` cut at the given offsets (sorted, within bounds)."""
    points = sorted({min(max(cut, 0), len(text)) for cut in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


def clean_pieces(pieces: list[str]) -> str:
    cleaner = SpeechTextCleaner()
    return "".join(cleaner.feed(piece) for piece in pieces) + cleaner.finish()


@PROPERTY
@given(TEXTS, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_cleaning_never_crashes_and_ignores_how_text_is_split(text: str, cuts: list[int]) -> None:
    whole = clean_text(text)
    assert clean_pieces(split(text, cuts)) == whole
    assert clean_pieces(list(text)) == whole


@PROPERTY
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_cleaning_any_unicode_never_crashes(text: str) -> None:
    assert isinstance(clean_text(text), str)


@PROPERTY
@given(st.lists(st.from_regex(r"[A-Za-z]{2,12}", fullmatch=True), min_size=1, max_size=30))
def test_plain_words_are_never_lost(words: list[str]) -> None:
    text = " ".join(words)
    assert clean_text(text).split() == words


@PROPERTY
@given(TEXTS, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_planner_forwards_every_character_exactly_once(text: str, cuts: list[int]) -> None:
    planner = TextPlanner()
    sent = [step for piece in split(text, cuts) for step in planner.feed(piece)]
    assert "".join(step for step in sent if step is not FLUSH) == text
    # Never two flushes in a row: each one is owed audio for text sent since the last.
    assert all(not (a is FLUSH and b is FLUSH) for a, b in pairwise(sent))


@PROPERTY
@given(st.sampled_from(["[whispers]", "[laughing]", "<|phoneme_start|>ni3<|phoneme_end|>"]))
def test_fish_tags_are_kept_verbatim(tag: str) -> None:
    assert tag in clean_text(f"Well {tag} hello there.")
