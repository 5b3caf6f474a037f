"""Issue 20: each reproducer, whole and a character at a time (failed on e541da2)."""

from __future__ import annotations

import pytest

from custom_components.fish_audio_live.fishaudio.text_clean import SpeechTextCleaner, clean_text
from custom_components.fish_audio_live.fishaudio.text_policy import FLUSH, TextPlanner


def streamed(pieces: list[str]) -> str:
    cleaner = SpeechTextCleaner()
    return "".join(cleaner.feed(piece) for piece in pieces) + cleaner.finish()


def both(text: str) -> str:
    """The cleaned text, checked to be the same fed whole and a character at a time."""
    whole = clean_text(text)
    assert streamed(list(text)) == whole
    return whole.strip()


@pytest.mark.parametrize(
    "text",
    [
        "x" + "_" * 100,
        "Name: " + "_" * 120 + " ok",
        "a " + "*" * 250 + " b",
        "a " + "~" * 101 + "c",
    ],
)
def test_long_delimiter_runs_do_not_crash(text: str) -> None:
    spoken = both(text)
    assert spoken.startswith(text[0]), spoken
    assert spoken[-1] in "xkbc"


def test_inline_triple_backticks_at_a_line_start_do_not_silence_the_rest() -> None:
    text = "```light.turn_on``` is the action.\nAnything else?"
    assert both(text) == "light.turn_on is the action. Anything else?"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Docs:https://x.com/a/b", "Docs:x.com"),
        ("请访问https://x.com/a了解", "请访问x.com了解"),
        ("See https://x.com/a，然后", "See x.com，然后"),
    ],
)
def test_urls_glued_to_a_colon_or_cjk(text: str, expected: str) -> None:
    assert both(text) == expected


def test_html_entities_are_read_as_characters() -> None:
    assert both("21&nbsp;°C &amp; sunny &#8211; AT&T &lt;3 &bogus; &") == (
        "21 °C & sunny – AT&T <3 &bogus; &"
    )


def test_table_rows_ending_in_percent_or_degree_end_sentences() -> None:
    text = "| Humidity | 45% |\n| Temp | 21° |\n| Wind | 5 |"
    assert both(text) == "Humidity, 45%. Temp, 21°. Wind, 5"


def test_a_url_cell_of_a_tight_table_row_keeps_the_next_cell() -> None:
    assert both("|Docs|https://x.com/d|Open daily|") == "Docs, x.com, Open daily"


def test_think_blocks_are_not_spoken() -> None:
    text = "<think>The user wants the lights. I should call light.turn_on.</think>Lights are on."
    assert both(text) == "Lights are on."
    assert both("<think>\nreasoning\n</think>\n\nDone.") == "Done."


def test_a_fish_tag_alone_on_its_line_leads_into_the_next() -> None:
    assert both("(excited)\nIt is sunny.") == "(excited) It is sunny."
    assert both("[whispers]\nGood night.") == "[whispers] Good night."
    planner = TextPlanner()
    steps = [
        step for piece in clean_text("(excited)\nIt is sunny.") for step in planner.feed(piece)
    ]
    assert FLUSH not in steps[:-1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("See [the notes][1].", "See the notes."),
        ("See [the notes][].", "See the notes."),
        ("Text.\n[1]: https://x.com/notes\nMore.", "Text. More."),
        ("if a<b and c>d", "if a<b and c>d"),
        ("It is 2**10 bytes", "It is 2**10 bytes"),
        ("Switch on✅off now", "Switch on off now"),
        ("Press #️⃣ then *️⃣", "Press then"),
        (":--- | ---:\nRow", "Row"),
        ("|:--|--:|\nRow", "Row"),
    ],
)
def test_rarer_markup(text: str, expected: str) -> None:
    assert both(text) == expected


def test_an_unclosed_construct_never_loses_the_text_after_it() -> None:
    for text in ("[open and " + "word " * 40, "a ](" + "x" * 3000 + " end", "<b and more text"):
        assert both(text).split()[-1] in ("word", "end", "text"), text
