"""When to flush: the text policy of a live session.

Text is forwarded the moment it arrives (the server concatenates pieces as-is,
so spaces are kept). Flushes decide when the server starts speaking:

* A sentence ends at `!`, `?`, `;`, `:` or an ellipsis followed by white space,
  at a CJK full stop (which needs none), and at `.` followed by white space and
  then a character that is not a lower-case letter, unless the word before the
  `.` is an abbreviation: a known title or short form (`Dr.`, `St.`, `ca.`,
  `bzw.`), a dotted short form (`e.g.`, `a.m.`, `U.S.`, `z.B.`), a single letter
  (`J.`) or a number of one or two digits (`5.`, a German ordinal as in
  `der 5. Mai`). A flush there would make Fish speak half a sentence with a
  final cadence.
* First flush at the first sentence end once it holds at least
  `first_min_chars` letters or digits ("Done." flushes, "Hi." waits for more).
  A piece that ends the first sentence with `!` or `?` after a letter flushes
  at once; a piece ending in `.` waits for the next character, which may turn
  it into `light.living_room` or `e.g.`. The end of the stream (`stop`)
  releases everything anyway, so no timer is needed.
* No sentence end within `first_max_chars`: flush at the last word boundary,
  so a long opening clause cannot hold the first audio back.
* After that, flush at a sentence end once `later_min_chars` have gathered
  since the last flush. Longer segments sound more natural and cost fewer
  server round trips; the server's own `chunk_length` cut covers the rest.
* `stop` drains whatever is left, so the end of a reply never waits.

The planner keeps counters and the last few characters, never the pending
text, so its cost is linear in the input whatever the text looks like.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Final

FLUSH: Final = None
"""Marker in a plan: send a `flush` event here."""

type Step = str | None
"""A plan step: text to send, or FLUSH."""

_TERMINALS: Final = frozenset(".!?;:…")
_PIECE_END_TERMINALS: Final = frozenset("!?")
_EVENTS = re.compile(r"\s+|[。！？；]")  # noqa: RUF001 - full-width CJK stops
_TAIL: Final = 24
"""Characters kept from earlier pieces: enough for the word before a `.`."""

_ABBREVIATION_LINES: Final = (
    # English titles and short forms that are followed by more of the sentence.
    "mr mrs ms mx dr prof rev hon st mt ft jr sr gen col capt lt sgt gov sen rep pres",
    "vs approx ca cf fig figs vol nos nr dept apt ave blvd",
    "jan feb apr jun jul aug sep sept oct nov dec mon tue wed thu fri",
    # German.
    "bzw ggf evtl inkl zzgl exkl vgl sog bspw gem hr frl tel mio mrd abs ziff jh jhd",
    "okt dez febr bd",
)
ABBREVIATIONS: Final = frozenset(word for line in _ABBREVIATION_LINES for word in line.split())
"""Words that end in `.` without ending the sentence (lower case, no dots)."""


def is_abbreviation(word: str) -> bool:
    """Whether `word` (the token before a `.`, without it) is a short form."""
    word = word.lstrip("([{\"'“‘«")  # noqa: RUF001 - opening quotes
    if not word:
        return False
    if word.isdigit():
        return len(word) <= 2  # an ordinal: "der 5. Mai", "am 3. Oktober"
    if len(word) == 1:
        return word.isalpha()  # an initial: "J. Smith"
    if word.lower() in ABBREVIATIONS:
        return True
    parts = word.split(".")
    # Dotted short forms: e.g, i.e, a.m, U.S, z.B, d.h, Ph.D (not example.com).
    return len(parts) > 1 and all(part.isalpha() and len(part) <= 2 for part in parts)


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
        self._flushed_once = False
        self._tail = ""  # the last characters of earlier pieces
        self._mark = 0  # stream offset of the last flush
        self._alnum = 0  # letters and digits since the start (counted up to first_min_chars)
        self._counted = 0  # stream offset up to which _alnum has counted
        self._waiting = False  # ". " seen: the next visible character decides
        self._wait_at = 0  # where that flush would go in the current piece
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
            if self._opening_ends_here(piece):
                steps.append(FLUSH)
                self._flushed(len(piece))
        if not self._flushed_once:
            self._speakable(piece, len(piece))
        self.chars += len(piece)
        self._tail = (self._tail + piece[-_TAIL:])[-_TAIL:]
        return steps

    def _flushed(self, mark: int) -> None:
        self._flushed_once = True
        self._mark = self.chars + mark
        self._waiting = False

    def _opening_ends_here(self, piece: str) -> bool:
        """The first sentence ends with this piece with `!` or `?` after a letter."""
        if self._flushed_once or len(piece) < 1 or piece[-1] not in _PIECE_END_TERMINALS:
            return False
        before = piece[-2] if len(piece) > 1 else self._tail[-1:]
        return before.isalpha() and self._speakable(piece, len(piece))

    def _speakable(self, piece: str, index: int) -> bool:
        """Enough letters or digits before `index` for an opening ("Hi." is not)."""
        wanted = self._policy.first_min_chars
        if self._alnum < wanted:
            begin = max(0, self._counted - self.chars)
            if index > begin:
                self._alnum += sum(map(str.isalnum, piece[begin:index]))
                self._counted = self.chars + index
        return self._alnum >= wanted

    def _before(self, piece: str, index: int, count: int) -> str:
        """The `count` characters before `index` of `piece`, earlier pieces included."""
        if index >= count:
            return piece[index - count : index]
        return (self._tail + piece[:index])[-count:]

    def _ends_sentence(self, piece: str, index: int) -> bool | None:
        """Whether the white space at `index` ends a sentence; None: the next character decides."""
        context = self._before(piece, index, _TAIL)
        if not context or context[-1] not in _TERMINALS:
            return False
        if context[-1] != ".":
            return True
        word = context[:-1].rsplit(None, 1)[-1] if context[:-1].strip() else ""
        if len(context) == _TAIL and not any(char.isspace() for char in context):
            word = "x" * _TAIL  # a long token: no abbreviation
        if is_abbreviation(word):
            return False
        return None

    def _flush_points(self, piece: str) -> list[int]:
        """Offsets in `piece` after which to flush."""
        points: list[int] = []
        if self._waiting and piece and not piece[0].isspace():
            self._resolve(piece, 0, 0, points)
        for match in _EVENTS.finditer(piece):
            index, end = match.start(), match.end()
            if not match.group()[0].isspace():  # a CJK full stop
                if self._wants_flush(piece, end, sentence=True):
                    points.append(end)
                    self._flushed(end)
                continue
            ends = self._ends_sentence(piece, index) if index or not self._waiting else None
            if ends is None:
                # ". " : wait for the first visible character after the space.
                if not self._waiting:
                    self._waiting = True
                    self._wait_at = index
                if end < len(piece):
                    self._resolve(piece, end, self._wait_at, points)
                else:
                    # ". " ends the piece: a caller may wait for audio before it sends more,
                    # so this is an end now (only a bare "." waits for the next piece).
                    self._waiting = False
                    if self._wants_flush(piece, index, sentence=True):
                        points.append(index)
                        self._flushed(index)
                continue
            if ends and self._wants_flush(piece, index, sentence=True):
                points.append(index)
                self._flushed(index)
            elif (
                not self._flushed_once
                and not ends
                and self._wants_flush(piece, index, sentence=False)
            ):
                points.append(end)
                self._flushed(end)
        return points

    def _resolve(self, piece: str, index: int, cut: int, points: list[int]) -> None:
        """The character at `index` follows ". ": an end unless it is lower case."""
        self._waiting = False
        if piece[index].islower():
            return
        if self._wants_flush(piece, cut, sentence=True) and (not points or points[-1] < cut):
            points.append(cut)
            self._flushed(cut)

    def _wants_flush(self, piece: str, index: int, *, sentence: bool) -> bool:
        size = self.chars + index - self._mark
        if not self._flushed_once:
            if sentence:
                return self._speakable(piece, index)
            return size >= self._policy.first_max_chars
        return sentence and size >= self._policy.later_min_chars
