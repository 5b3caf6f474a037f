"""The flush policy: where flushes go in streamed text."""

from __future__ import annotations

import pytest

from custom_components.fish_audio_live.fishaudio.text_policy import FLUSH, FlushPolicy, TextPlanner


def plan(pieces: list[str], policy: FlushPolicy | None = None) -> list[str | None]:
    planner = TextPlanner(policy)
    steps: list[str | None] = []
    for piece in pieces:
        steps.extend(planner.feed(piece))
    return steps


def joined(steps: list[str | None]) -> str:
    return "".join(step for step in steps if step is not FLUSH)


def test_first_sentence_flushes_inside_a_piece() -> None:
    steps = plan(["Hello there, how are you today? I am fine."])
    assert steps == ["Hello there, how are you today?", FLUSH, " I am fine."]


def test_text_is_kept_exactly() -> None:
    pieces = ["Good ", "morning", ". The ", "weather is nice", "! Tomorrow", " rain."]
    assert joined(plan(pieces)) == "".join(pieces)


def test_sentence_end_at_piece_edge_flushes_before_next_space() -> None:
    steps = plan(["It is sunny today.", " And warm."])
    assert steps == ["It is sunny today.", FLUSH, " And warm."]


def test_short_first_sentence_waits() -> None:
    steps = plan(["Hi! How are you doing today? Good."])
    assert steps == ["Hi! How are you doing today?", FLUSH, " Good."]


def test_later_flushes_need_enough_text() -> None:
    policy = FlushPolicy(first_min_chars=5, later_min_chars=30)
    steps = plan(["One sentence here. Two. Three is a much longer sentence now. End"], policy)
    assert steps == [
        "One sentence here.",
        FLUSH,
        " Two. Three is a much longer sentence now.",
        FLUSH,
        " End",
    ]


def test_long_opening_without_sentence_end_flushes_at_a_word() -> None:
    policy = FlushPolicy(first_max_chars=20)
    steps = plan(["a long opening clause without any stop at all"], policy)
    assert steps[1] is FLUSH
    assert steps[0].endswith(" ")
    assert len(steps[0].strip()) >= 20
    assert joined(steps) == "a long opening clause without any stop at all"


def test_cjk_full_stop_needs_no_space() -> None:
    policy = FlushPolicy(first_min_chars=3)
    steps = plan(["你好，今天天气很好。明天下雨。"], policy)
    assert steps == ["你好，今天天气很好。", FLUSH, "明天下雨。"]


def test_counts_characters() -> None:
    planner = TextPlanner()
    planner.feed("abc")
    planner.feed("de")
    assert planner.chars == 5


@pytest.mark.parametrize("text", ["3.5 degrees", "e.g.not a stop"])
def test_dots_inside_words_do_not_flush(text: str) -> None:
    assert FLUSH not in plan([text])


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["Sure thing. It is done now."], ["Sure thing.", FLUSH, " It is done now."]),
        (["Okay.", " Turning on the lights."], ["Okay.", FLUSH, " Turning on the lights."]),
        (["Sure", " thing.", " Done."], ["Sure", " thing.", FLUSH, " Done."]),
        (["Done!"], ["Done!", FLUSH]),
    ],
)
def test_a_short_opening_is_spoken_at_once(pieces: list[str], expected: list[str | None]) -> None:
    """An acknowledgement flushes as soon as it is complete, even at the end of a piece."""
    assert plan(pieces) == expected


@pytest.mark.parametrize(
    "pieces",
    [["Hi.", " There is more to say."], ["Dr.", " Smith is here."], ["It costs 3.", "5 euros."]],
)
def test_a_single_short_token_or_a_number_waits(pieces: list[str]) -> None:
    steps = plan(pieces)
    assert steps[:2] == [pieces[0], pieces[1]] or FLUSH not in steps[:2]
    assert steps[1] is not FLUSH


@pytest.mark.parametrize(
    "text",
    [
        "Your appointment with Dr. Smith is at noon. See you there.",
        "Bring something warm, e.g. a jacket, and gloves. Thanks.",
        "The shop on Main St. Is open until six today. Enjoy.",
        "The alarm is set for 9 a.m. tomorrow for you. Sleep well.",
        "The U.S. Weather Service warns of storms tonight. Stay safe.",
        "It takes ca. 20 minutes to heat the oven up. Then bake.",
        "Der Termin ist am 5. Mai um zehn Uhr morgens. Bis dann.",
        "Das ist bzw. war die Küche im ersten Stock. Danke.",
        "Ask J. Smith about the heating schedule today. Bye.",
        "Die Heizung läuft z.B. nachts etwas kühler als sonst. Gut.",
    ],
)
def test_abbreviations_do_not_end_a_sentence(text: str) -> None:
    steps = plan(list(text))  # token by token: the worst case
    first = next(index for index, step in enumerate(steps) if step is FLUSH)
    assert (
        joined(steps[:first])
        .rstrip()
        .endswith(
            (
                "noon.",
                "gloves.",
                "today.",
                "you.",
                "tonight.",
                "up.",
                "morgens.",
                "Stock.",
                "sonst.",
            )
        )
    ), joined(steps[:first])


@pytest.mark.parametrize(
    "pieces",
    [
        ["Turning on light", ".", "living_room now."],
        ["Turning on light.", "living_room now."],
        ["See home-assistant", ".", "io for the docs."],
        ["Use it e", ".", "g", ".", " for lamps."],
    ],
)
def test_a_dot_at_the_end_of_a_piece_waits_for_the_next_character(pieces: list[str]) -> None:
    steps = plan(pieces)
    assert steps.count(FLUSH) <= 1
    if FLUSH in steps:
        assert steps[-1] is FLUSH  # only after the final stop


def test_a_dot_at_the_end_of_a_piece_flushes_with_the_next_space() -> None:
    assert plan(["Okay", ".", " Turning on the lights."]) == [
        "Okay",
        ".",
        FLUSH,
        " Turning on the lights.",
    ]
    assert plan(["Okay. ", "Turning on the lights."]) == [
        "Okay.",
        FLUSH,
        " ",
        "Turning on the lights.",
    ]


def test_a_lower_case_word_after_a_dot_continues_the_sentence() -> None:
    assert FLUSH not in plan(["This is odd. but it goes on"])


def test_planner_keeps_no_copy_of_pending_text() -> None:
    planner = TextPlanner()
    for _ in range(1000):
        planner.feed("word without a stop ")
    assert len(planner._tail) <= 24  # the bound is the point
