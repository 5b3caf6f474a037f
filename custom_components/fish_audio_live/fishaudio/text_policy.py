"""When to flush: the text policy of a live session.

Text is forwarded the moment it arrives (the server concatenates pieces as-is,
so spaces are kept). Flushes decide when the server starts speaking:

* First flush right after the first complete sentence, so first audio waits
  for one sentence, not for a full `chunk_length` buffer: a short opening
  ("Sure thing.", "Okay.") is spoken at once. Only an opening of fewer than
  `first_min_chars` letters or digits ("Hi.", "Dr.", "1.") waits for more.
  A sentence ends at `.`, `!`, `?`, `;`, `:` or an ellipsis followed by white
  space, or at CJK full stops, which need none. The first sentence also ends at
  the end of a piece (`.`, `!` or `?` after a letter): the next piece may be a
  whole LLM token away.
* No sentence end within `first_max_chars`: flush at the last word boundary,
  so a long opening clause cannot hold the first audio back.
* After that, flush at a sentence end once `later_min_chars` have gathered
  since the last flush. Longer segments sound more natural and cost fewer
  server round trips; the server's own `chunk_length` cut covers the rest.
* `stop` drains whatever is left, so the end of a reply never waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

FLUSH: Final = None
"""Marker in a plan: send a `flush` event here."""

type Step = str | None
"""A plan step: text to send, or FLUSH."""

_TERMINALS = ".!?;:…"
_PIECE_END_TERMINALS = ".!?"
_CJK_TERMINALS = "。！？；"  # noqa: RUF001 - full-width CJK stops


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """Tunable thresholds, in characters."""

    first_min_chars: int = 4
    first_max_chars: int = 120
    later_min_chars: int = 80


class TextPlanner:
    """Turns incoming text pieces into text and flush steps for the socket."""

    def __init__(self, policy: FlushPolicy | None = None) -> None:
        """Start with nothing sent."""
        self._policy = policy or FlushPolicy()
        self._since_flush = ""
        self._flushed_once = False
        self._last_char = ""
        self.chars = 0

    def feed(self, piece: str) -> list[Step]:
        """Plan the steps for one incoming piece of text."""
        steps: list[Step] = []
        start = 0
        for cut in self._flush_points(piece):
            if cut > start:
                steps.append(piece[start:cut])
            steps.append(FLUSH)
            start = cut
        if start < len(piece):
            steps.append(piece[start:])
            if self._opening_ends_here():
                steps.append(FLUSH)
                self._since_flush = ""
                self._flushed_once = True
        self.chars += len(piece)
        return steps

    def _opening_ends_here(self) -> bool:
        """The first sentence ends with this piece: a stop after a letter, nothing after."""
        text = self._since_flush.rstrip()
        return (
            not self._flushed_once
            and text == self._since_flush
            and len(text) >= 2
            and text[-1] in _PIECE_END_TERMINALS
            and text[-2].isalpha()
            and self._speakable(text)
        )

    def _speakable(self, text: str) -> bool:
        """More than punctuation or a very short token ("Hi.", "Dr.")."""
        return sum(char.isalnum() for char in text) >= self._policy.first_min_chars

    def _flush_points(self, piece: str) -> list[int]:
        """Offsets in `piece` after which to flush."""
        points: list[int] = []
        for index, char in enumerate(piece):
            prev = self._last_char
            self._last_char = char
            self._since_flush += char
            if self._is_boundary(prev, char) and self._wants_flush(sentence=True):
                points.append(index if char.isspace() and prev in _TERMINALS else index + 1)
                self._since_flush = char if char.isspace() and prev in _TERMINALS else ""
                self._flushed_once = True
            elif not self._flushed_once and char.isspace() and self._wants_flush(sentence=False):
                points.append(index + 1)
                self._since_flush = ""
                self._flushed_once = True
        return points

    @staticmethod
    def _is_boundary(prev: str, char: str) -> bool:
        return char in _CJK_TERMINALS or (prev in _TERMINALS and prev != "" and char.isspace())

    def _wants_flush(self, *, sentence: bool) -> bool:
        size = len(self._since_flush.strip())
        if not self._flushed_once:
            if sentence:
                return self._speakable(self._since_flush)
            return size >= self._policy.first_max_chars
        return sentence and size >= self._policy.later_min_chars
