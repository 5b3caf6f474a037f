"""Speech cleaning of streamed LLM text: Markdown, URLs and emoji out, words in.

`SpeechTextCleaner` works on the deltas as they arrive. It holds text back only
while it may still turn into markup (a `*` waiting for its neighbour, an open
`[` waiting for `]`, a line start that may be a bullet), each hold bounded, so
plain prose passes straight through. Output never depends on how the input was
split: `feed` pieces then `finish` equals `clean_text` of the whole.

What goes and what stays:

* Markup goes: headings, emphasis (`*`, `**`, `_`, `__`, `~~`), backticks,
  bullets, blockquote `>`, table pipes and separator rows, horizontal rules,
  HTML tags, images, link targets (`[the docs](https://x)` gives `the docs`).
* Fenced code blocks go whole: code read aloud is noise on a speaker, and the
  prose around a block says what it is for. Inline code keeps its text.
* A bare URL becomes its host name (`https://www.example.com/a?b` gives
  `example.com`): the one part a listener can use.
* Emoji go, with their joiners, skin tones, variation selectors and flags.
* Kept verbatim: words, numbers, punctuation, Fish's control tags
  (`[whispers]`, `(excited)`, `<|phoneme_start|>`), a lone `*` between spaces
  or digits (`5 * 3`) and `_` inside words (`snake_case`).
* Lines become sentences: a line that ends in a word (a heading, a list item,
  a table row) gets a full stop at its newline, so the flush policy sees a
  sentence end and the voice pauses. Numbered items read as `1, Preheat`
  (a `1.` would look like a sentence end to the flush policy). Table cells
  are joined with commas.
* White space left behind collapses to single spaces. A space is sent when the
  next word arrives, except after sentence punctuation, where it goes at once
  so the flush policy can cut there without waiting.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from html.entities import html5
import re
from typing import Final


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MAX_HOLD: Final = 100
"""Longest markup candidate held back (`[...]`, `<...>`, a marker line)."""
_MAX_LINK: Final = 2048
"""Longest link target `(...)` held back after `[text]`."""

# Letters and digits, with the combining marks of scripts that use them within words
# (Thai vowel signs, Indic matras): a word is consumed in one step.
# (Thai vowel signs, Indic matras): a word is consumed in one step. ASCII runs are
# matched apart, so a URL glued to Chinese text starts a step of its own.
_WORD = re.compile(
    r"[A-Za-z0-9]+|(?:(?![A-Za-z0-9])[^\W_]|[\u0300-\u036f\u0483-\u0489\u0591-\u05c7"
    r"\u0610-\u061a\u064b-\u065f\u0900-\u0dff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff])+"
)
_SPACES = re.compile(r"\s+")
_URL_STARTS: Final = ("https://", "http://", "www.")
_URL_TRAILERS: Final = frozenset(".,:;!?'\")]*_~")
_TERMINALS: Final = frozenset(".!?;:…")
_CJK_TERMINALS: Final = frozenset("。！？；")  # noqa: RUF001 - full-width CJK stops
_CLOSERS: Final = frozenset(")\"'”’»")  # noqa: RUF001 - closing quotes end a line's words
_NO_SPACE_BEFORE: Final = frozenset(".,!?;:…)")
_BULLETS: Final = frozenset("-*+")
_HTML_TAGS: Final = _names(
    "a abbr b big blockquote br cite code del details dfn div em font h1 h2 h3 h4 h5 h6 hr i img "
    "ins kbd li mark ol p pre q s samp small span strike strong sub summary sup table tbody td "
    "tfoot th thead tr tt u ul var"
)
_HTML_BREAKS: Final = _names(
    "blockquote br details div h1 h2 h3 h4 h5 h6 hr li ol p pre summary table td th tr ul"
)
_TAG_NAME = re.compile(r"/?([A-Za-z][A-Za-z0-9]*)(?=[\s/>]|$)")
_ASCII_PUNCT: Final = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_NO_STOP_AFTER: Final = frozenset(".!?;:…,-–—([{/\\&+=<>。！？；，、")  # noqa: RUF001
"""A line ending in one of these does not get a full stop at its newline."""
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_ENTITY_CHARS = re.compile(r"[#xX0-9A-Za-z]{0,33}")
_THINK_TAGS: Final = ("think", "thinking", "reasoning")
"""Reasoning blocks of local models: never meant to be spoken."""
_TAG_LINE = re.compile(r"\s*(?:(?:\[[^\[\]]*\]|\([^()]*\))\s*)+")
_MAX_FEED: Final = 4096
_TAG_LINE_MAX: Final = 80
"""Input handled per pass: bounds what a buffer rewrite (a link) copies."""

# Pictographic code points outside the big emoji planes (Unicode Extended_Pictographic,
# minus the ones that read as ordinary text: (c), (r), TM, arrows like ->).
_EMOJI_RANGES: Final = (
    (0x2194, 0x2199),
    (0x21A9, 0x21AA),
    (0x231A, 0x231B),
    (0x2328, 0x2328),
    (0x23CF, 0x23CF),
    (0x23E9, 0x23F3),
    (0x23F8, 0x23FA),
    (0x24C2, 0x24C2),
    (0x25AA, 0x25AB),
    (0x25B6, 0x25B6),
    (0x25C0, 0x25C0),
    (0x25FB, 0x25FE),
    (0x2600, 0x27BF),
    (0x2934, 0x2935),
    (0x2B05, 0x2B07),
    (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50),
    (0x2B55, 0x2B55),
    (0x3030, 0x3030),
    (0x303D, 0x303D),
    (0x3297, 0x3297),
    (0x3299, 0x3299),
)
_ZWJ: Final = "\u200d"


def _is_emoji(char: str) -> bool:
    """A pictographic emoji code point (skin tones and regional indicators included)."""
    code = ord(char)
    if code < 0x2194:
        return False
    if 0x1F000 <= code <= 0x1FAFF:
        return True
    return any(low <= code <= high for low, high in _EMOJI_RANGES)


def _is_emoji_modifier(char: str) -> bool:
    """Invisible parts of emoji sequences: variation selectors, keycap, tag characters."""
    code = ord(char)
    return 0xFE00 <= code <= 0xFE0F or code == 0x20E3 or 0xE0020 <= code <= 0xE007F


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x2E80 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF


def _is_wide(char: str) -> bool:
    """CJK, kana, Hangul or full-width forms: text glued to a URL without a space."""
    code = ord(char)
    return _is_cjk(char) or 0xAC00 <= code <= 0xD7AF or 0xFF00 <= code <= 0xFFEF


def _looks_like_target(target: str) -> bool:
    """Whether `(...)` after `[text]` is a link target, not a Fish `(tag)`."""
    parts = target.strip().split(maxsplit=1)
    if not parts:
        return True
    dest = parts[0]
    if len(parts) == 2 and parts[1][0] not in "\"'(":
        return False
    return dest.startswith("<") or any(char in dest for char in "/.:#?=&@")


class SpeechTextCleaner:
    """Streams LLM text through, minus what should not be spoken."""

    def __init__(self, *, max_hold: int = _MAX_HOLD, max_link: int = _MAX_LINK) -> None:
        """Start a new text; `max_hold` bounds how long a markup candidate is held."""
        self._max_hold = max_hold
        self._max_link = max_link
        self._reset()

    def _reset(self) -> None:
        self._buf = ""
        self._final = False
        self._prev = "\n"  # last input character consumed
        self._line_start = True
        self._table = False  # the current line is a table row
        self._in_heading = False  # the current line is a heading
        self._item_start = False  # right after a list bullet
        self._code = False  # inside an inline code span
        self._fence = ""  # the opening fence while inside a fenced code block
        self._skip_line = False  # dropping the rest of the line
        self._url_tail = False  # dropping a URL's path
        self._prev_emoji = False
        self._think = ""  # the reasoning tag while inside <think>...</think>
        # Output side.
        self._out: list[str] = []
        self._wrote = False  # any visible text written yet
        self._last = ""  # last visible character written
        self._line_text = False  # visible text written on this line
        self._space = False  # a space is owed before the next visible text
        self._space_out = False  # the output ends with a space
        self._sep = False  # a table cell separator is owed
        self._removed = False  # something was dropped since the last visible text
        self._line_head = ""  # the first visible characters of this line (bounded)

    def feed(self, piece: str) -> str:
        """Take the next piece; return the cleaned text that is safe to send now."""
        if len(piece) <= _MAX_FEED:
            self._buf += piece
            return self._run()
        out: list[str] = []
        for start in range(0, len(piece), _MAX_FEED):
            self._buf += piece[start : start + _MAX_FEED]
            out.append(self._run())
        return "".join(out)

    def finish(self) -> str:
        """Return everything still held back; the cleaner is then ready for a new text."""
        self._final = True
        text = self._run()
        self._reset()
        return text

    # Driver

    def _run(self) -> str:
        pos = 0
        while pos < len(self._buf):
            step = self._step(pos)
            if step is None:
                break
            if step:
                self._prev = self._buf[pos + step - 1]
            pos += step
        self._buf = self._buf[pos:]
        text = "".join(self._out)
        self._out.clear()
        return text

    def _step(self, pos: int) -> int | None:
        """Handle the input at `pos`: characters consumed, or None to wait for more.

        Zero means the state changed (or the buffer was rewritten) and the same
        position is handled again.
        """
        char = self._buf[pos]
        if self._think:
            return self._in_think(pos)
        if self._skip_line:
            return self._skip_to_newline(pos)
        if self._fence:
            return self._in_fence(pos)
        if self._url_tail:
            return self._in_url_tail(pos)
        if char == "\n":
            return self._newline()
        if char == "\r":
            return 1
        if self._line_start:
            return self._block_start(pos)
        return self._inline(pos)

    # Output

    def _write(self, text: str) -> None:
        """Write visible text (tags may hold inner spaces)."""
        if self._sep and self._line_text and self._last not in _TERMINALS:
            self._out.append(", ")
        elif (
            (self._space or self._sep)
            and not self._space_out
            and self._wrote
            and not (self._removed and text[0] in _NO_SPACE_BEFORE)
        ):
            self._out.append(" ")
        self._out.append(text)
        if len(self._line_head) < _TAG_LINE_MAX:
            self._line_head += text
        self._wrote = self._line_text = True
        self._last = text[-1]
        self._space = self._space_out = self._sep = self._removed = self._item_start = False

    def _write_space(self) -> None:
        if not self._wrote or self._space_out:
            return
        if self._last in _TERMINALS:
            # Sent at once: the flush policy cuts at a terminal followed by a space.
            self._out.append(" ")
            self._space_out = True
            self._space = False
        else:
            self._space = True

    def _drop(self, count: int) -> int:
        self._removed = True
        return count

    def _end_line(self) -> None:
        """Close a line: words at its end become a sentence end."""
        self._sep = False
        if self._line_text:
            last = self._last
            head = self._line_head
            tags_only = len(head) < _TAG_LINE_MAX and _TAG_LINE.fullmatch(head) is not None
            # A line of Fish tags ("(excited)") leads into the next line: no stop.
            if not tags_only and last not in _NO_STOP_AFTER and not last.isspace():
                self._space = False
                self._write("。" if _is_cjk(last) else ".")
            if self._last not in _CJK_TERMINALS:
                self._write_space()
        self._line_text = False
        self._line_head = ""

    # Line structure

    def _newline(self) -> int:
        self._end_line()
        self._line_start = True
        self._table = self._in_heading = self._item_start = self._code = False
        return 1

    def _skip_to_newline(self, pos: int) -> int:
        end = self._buf.find("\n", pos)
        if end == pos:
            self._skip_line = False
            return 0
        return self._drop((len(self._buf) if end < 0 else end) - pos)

    def _scan(self, pos: int, allowed: str) -> tuple[int, bool] | None:
        """Scan `allowed` characters from `pos` on this line.

        Returns the end and whether the line holds nothing else (it ends there,
        or the scan hit the bound); None while more input is needed to know.
        """
        buf = self._buf
        end = pos
        limit = pos + self._max_hold
        while end < len(buf) and end < limit and buf[end] in allowed:
            end += 1
        if end >= limit:
            return end, True
        if end == len(buf):
            return (end, True) if self._final else None
        return end, buf[end] == "\n"

    def _block_start(self, pos: int) -> int | None:
        """Markers at the start of a line (after indentation and `>` quotes)."""
        buf = self._buf
        char = buf[pos]
        if char in " \t":
            return 1
        if char == ">":
            return self._drop(1)
        handler = {
            "#": self._heading,
            "`": self._fence_open,
            "~": self._fence_open,
            "=": self._setext,
            "|": self._table_row,
            ":": self._table_row,  # ":---|---:": an alignment row without pipes at the edges
            "+": self._bullet,
            "•": self._bullet,
            "-": self._rule_or_bullet,
            "*": self._rule_or_bullet,
            "_": self._rule_or_bullet,
        }.get(char)
        if handler is None and char.isdigit():
            handler = self._ordered_item
        if handler is None:
            self._line_start = False
            return 0
        return handler(pos)

    def _run_end(self, pos: int) -> int | None:
        """End of the run of `buf[pos]` characters, or None if it may go on."""
        buf = self._buf
        end = pos
        limit = pos + self._max_hold
        while end < len(buf) and end < limit and buf[end] == buf[pos]:
            end += 1
        if end == len(buf) and end < limit and not self._final:
            return None
        return end

    def _after(self, end: int) -> str | None:
        """The character at `end` (a newline past the final end); None if not here yet."""
        if end < len(self._buf):
            return self._buf[end]
        return "\n" if self._final else None

    def _heading(self, pos: int) -> int | None:
        end = self._run_end(pos)
        if end is None:
            return None
        after = self._after(end)
        if after is None:
            return None
        self._line_start = False
        if end - pos > 6 or after not in " \t\n":
            return 0  # a hashtag or plain '#': text
        self._in_heading = True
        return self._drop(end - pos)

    def _fence_open(self, pos: int) -> int | None:
        end = self._run_end(pos)
        if end is None:
            return None
        if end - pos >= 3 and self._buf[pos] == "`":
            buf = self._buf
            line_end = buf.find("\n", end, end + self._max_hold)
            if line_end < 0:
                if len(buf) - end < self._max_hold and not self._final:
                    return None
                line_end = min(len(buf), end + self._max_hold)
            if "`" in buf[end:line_end]:
                # "```light.turn_on``` is ...": an info string holds no backticks, so this
                # is inline code, not a fence (which would silence the rest of the reply).
                self._line_start = False
                self._code = not self._code
                return self._drop(end - pos)
        self._line_start = False
        if end - pos < 3:
            return 0  # inline code or strike-through
        self._fence = self._buf[pos:end]
        self._skip_line = True  # the info string (language name)
        return self._drop(end - pos)

    def _setext(self, pos: int) -> int | None:
        scan = self._scan(pos, "= \t")
        if scan is None:
            return None
        self._line_start = False
        if scan[1]:
            self._skip_line = True  # the underline of a heading: the line above ended it
        return 0

    def _table_row(self, pos: int) -> int | None:
        scan = self._scan(pos, "|:- \t")
        if scan is None:
            return None
        self._line_start = False
        if scan[1] and "-" in self._buf[pos : scan[0]]:
            self._skip_line = True  # the |---|---| separator row
            return 0
        if self._buf[pos] != "|":
            return 0
        self._table = True
        return self._drop(1)

    def _bullet(self, pos: int) -> int | None:
        after = self._after(pos + 1)
        if after is None:
            return None
        self._line_start = False
        if self._buf[pos] == "•" or after in " \t":
            self._item_start = True
            return self._drop(1)
        return 0

    def _rule_or_bullet(self, pos: int) -> int | None:
        char = self._buf[pos]
        scan = self._scan(pos, char + " \t")
        if scan is None:
            return None
        end, alone = scan
        if alone and self._buf.count(char, pos, end) >= 3:
            self._line_start = False
            self._skip_line = True  # a horizontal rule
            return 0
        if char == "-" and self._buf[end : end + 1] in ("|", ":"):
            return self._table_row(pos)  # "--- | ---": a separator row without a leading pipe
        if char in _BULLETS:
            return self._bullet(pos)
        self._line_start = False
        return 0

    def _ordered_item(self, pos: int) -> int | None:
        buf = self._buf
        end = pos
        while end < len(buf) and end - pos < 10 and buf[end].isdigit():
            end += 1
        mark = self._after(end)
        after = self._after(end + 1) if mark in (".", ")") else ""
        if mark is None or after is None:
            return None
        self._line_start = False
        if end - pos > 9 or after not in (" ", "\t"):
            return 0
        # "1." would read as a sentence end to the flush policy; "1," reads the same.
        self._write(buf[pos:end] + ",")
        self._item_start = True
        return end + 1 - pos

    def _in_fence(self, pos: int) -> int | None:
        buf = self._buf
        if not self._line_start:
            end = buf.find("\n", pos)
            if end == pos:
                self._line_start = True
                return 1
            return self._drop((len(buf) if end < 0 else end) - pos)
        end = buf.find("\n", pos, pos + self._max_hold)
        if end < 0:
            if len(buf) - pos < self._max_hold and not self._final:
                return None
            end = min(len(buf), pos + self._max_hold)
        line = buf[pos:end]
        stripped = line.strip()  # any indent: fences inside list items are indented
        self._line_start = False
        if len(stripped) >= len(self._fence) and stripped == self._fence[0] * len(stripped):
            self._fence = ""
        return self._drop(end - pos)

    def _in_think(self, pos: int) -> int | None:
        """Drop a reasoning block up to its closing tag, holding only a partial tag."""
        buf = self._buf
        close = f"</{self._think}>"
        end = buf.find(close, pos)
        if end >= 0:
            self._think = ""
            return self._drop(end + len(close) - pos)
        keep = 0 if self._final else len(close) - 1
        if len(buf) - pos <= keep:
            return None
        return self._drop(len(buf) - pos - keep)

    # Inline markup

    def _inline(self, pos: int) -> int | None:
        buf = self._buf
        char = buf[pos]
        if char.isspace():
            self._write_space()
            return 1
        if char in "#*" and not self._code:
            after = self._after(pos + 1)
            if after is None:
                return None
            if after in "\ufe0f\u20e3":
                return self._drop(1)  # the keycap emoji "#️⃣"
        if char in "*_~":
            return self._delimiters(pos)
        if char == "`":
            return self._backticks(pos)
        if char == "|":
            return self._pipe(pos)
        if char == "#" and self._in_heading:
            scan = self._scan(pos, "# \t")
            if scan is None:
                return None
            if scan[1]:
                return self._drop(scan[0] - pos)  # the closing hashes of "## Title ##"
        if _is_emoji(char) or _is_emoji_modifier(char) or (char == _ZWJ and self._prev_emoji):
            if _is_emoji(char) and self._wrote:
                self._space = True  # "on✅off" reads "on off"
            self._prev_emoji = True
            return self._drop(1)
        self._prev_emoji = False
        word_start = not (self._prev.isalnum() or self._prev in "_@./\\-:")
        if not self._code:
            special = {
                "[": self._bracket,
                "<": self._angle,
                "\\": self._escape,
                "&": self._entity,
            }.get(char)
            if special is not None:
                return special(pos)
            if char == "!" and word_start:
                return self._image(pos)
        if char in "hHwW" and (word_start or self._prev == ":" or _is_wide(self._prev)):
            return self._url(pos)  # also "Docs:https://..." and "请访问https://..."
        match = _WORD.match(buf, pos)
        end = match.end() if match else pos + 1
        self._write(buf[pos:end])
        return end - pos

    def _pipe(self, pos: int) -> int | None:
        """A table cell edge (also " | " between words) reads as a comma."""
        after = self._after(pos + 1)
        if after is None:
            return None
        if self._table or (self._prev.isspace() and after.isspace()):
            self._sep = True
            return self._drop(1)
        self._write("|")
        return 1

    def _delimiters(self, pos: int) -> int | None:
        """Runs of `*`, `_`, `~`: emphasis markers go, arithmetic and snake_case stay."""
        end = self._run_end(pos)
        if end is None:
            return None
        run = self._buf[pos:end]
        # None only for a run as long as the hold bound: markup, whatever follows.
        after = self._after(end) or run[0]
        before = self._prev
        if self._code:
            keep = True
        elif run == "**" and before.isdigit() and after.isdigit():
            keep = True  # "2**10"
        elif run[0] == "~" or len(run) > 1:
            keep = run == "~"
        elif before.isspace() and after.isspace():
            keep = True  # "5 * 3", " _ "
        elif run == "*":
            keep = before.isdigit() and after.isdigit()  # "2*3"
        else:
            keep = before.isalnum() and after.isalnum()  # snake_case
        if keep:
            self._write(run)
            return end - pos
        return self._drop(end - pos)

    def _backticks(self, pos: int) -> int | None:
        end = self._run_end(pos)
        if end is None:
            return None
        self._code = not self._code
        return self._drop(end - pos)

    def _find_close(self, pos: int, opener: str, closer: str, bound: int) -> int | None:
        """Index of the `closer` matching the `opener` at `pos` on this line.

        -1 if there is none within `bound` characters; None while unknown.
        """
        buf = self._buf
        limit = min(len(buf), pos + bound)
        close = buf.find(closer, pos + 1, limit)
        if buf.find("\n", pos, limit if close < 0 else close) >= 0:
            return -1
        if close < 0:
            return -1 if limit == pos + bound or self._final else None
        if buf.find(opener, pos + 1, close) < 0:
            return close  # the common case, found at C speed
        depth = 0
        for index in range(pos, limit):
            char = buf[index]
            if char == "\n":
                return -1
            if char == opener:
                depth += 1
            elif char == closer:
                depth -= 1
                if depth == 0:
                    return index
        if limit == pos + bound or self._final:
            return -1
        return None

    def _bracket(self, pos: int) -> int | None:
        """`[text](target)` keeps its text; `[tag]` (Fish's control tags) stays verbatim."""
        buf = self._buf
        close = self._find_close(pos, "[", "]", self._max_hold)
        if close is None:
            return None
        if close < 0:
            self._write("[")
            return 1
        inner = buf[pos + 1 : close]
        if inner.startswith("^") or not inner.strip():
            return self._drop(close + 1 - pos)  # a footnote mark or an empty checkbox
        if self._item_start and inner in ("x", "X"):
            return self._drop(close + 1 - pos)  # a ticked checkbox
        after = self._after(close + 1)
        if after is None:
            return None
        if after == ":" and inner.isdigit() and not self._line_text:
            self._skip_line = True  # "[1]: https://...": a reference definition
            return self._drop(close + 1 - pos)
        if after == "[":
            end = self._find_close(close + 1, "[", "]", 12)
            if end is None:
                return None
            if end > 0 and (end == close + 2 or buf[close + 2 : end].isdigit()):
                # "[the notes][1]": a reference link keeps its text.
                self._buf = buf[:pos] + inner + buf[end + 1 :]
                self._removed = True
                return 0
        if after == "(":
            end = self._find_close(close + 1, "(", ")", self._max_link)
            if end is None:
                return None
            if end > 0 and _looks_like_target(buf[close + 2 : end]):
                # Keep the link text, which may hold markup of its own.
                self._buf = buf[:pos] + inner + buf[end + 1 :]
                self._removed = True
                return 0
        self._write(_SPACES.sub(" ", buf[pos : close + 1]))
        return close + 1 - pos

    def _image(self, pos: int) -> int | None:
        """`![alt](target)` goes whole."""
        after = self._after(pos + 1)
        if after is None:
            return None
        if after == "[":
            close = self._find_close(pos + 1, "[", "]", self._max_hold)
            if close is None:
                return None
            if close > 0:
                paren = self._after(close + 1)
                if paren is None:
                    return None
                if paren == "(":
                    end = self._find_close(close + 1, "(", ")", self._max_link)
                    if end is None:
                        return None
                    if end > 0:
                        return self._drop(end + 1 - pos)
        self._write("!")
        return 1

    def _angle(self, pos: int) -> int | None:
        """HTML tags go; `<|phoneme_start|>`-style control tokens stay; autolinks become URLs."""
        buf = self._buf
        after = self._after(pos + 1)
        if after is None:
            return None
        if after == "|":
            # Fish's control tokens: <|phoneme_start|>, <|speaker:0|>.
            end = pos + 2
            limit = pos + self._max_hold
            while end < len(buf) and end < limit and not (buf[end].isspace() or buf[end] in "<>|"):
                end += 1
            if end == len(buf) and end < limit and not self._final:
                return None
            if end < limit and end > pos + 2 and buf[end : end + 1] == "|":
                bracket = self._after(end + 1)
                if bracket is None:
                    return None
                if bracket == ">":
                    self._write(buf[pos : end + 2])
                    return end + 2 - pos
        elif after.isalpha() or after in "/!":
            close = self._find_close(pos, "<", ">", self._max_hold)
            if close is None:
                return None
            if close > 0:
                inner = buf[pos + 1 : close]
                if inner.lower().startswith(_URL_STARTS) or (
                    "@" in inner and not any(char.isspace() for char in inner)
                ):
                    self._buf = buf[:pos] + inner + buf[close + 1 :]  # an autolink
                    self._prev = " "  # its URL starts a word
                    return 0
                name = _TAG_NAME.match(inner)
                tag = name.group(1).lower() if name else ""
                rest = inner[name.end() :].strip() if name else ""
                if tag in _THINK_TAGS and not inner.startswith("/") and not rest:
                    self._think = tag
                    return self._drop(close + 1 - pos)
                # "a<b and c>d" is a comparison: a real tag has no words but attributes.
                is_tag = tag in _HTML_TAGS or tag in _THINK_TAGS
                if inner.startswith("!") or (is_tag and (rest in ("", "/") or "=" in rest)):
                    if tag in _HTML_BREAKS:
                        self._write_space()
                    return self._drop(close + 1 - pos)
        self._write("<")
        return 1

    def _escape(self, pos: int) -> int | None:
        after = self._after(pos + 1)
        if after is None:
            return None
        if after in _ASCII_PUNCT:
            self._write(after)
            return 2
        if after == "\n":
            return self._drop(1)  # a hard line break
        self._write("\\")
        return 1

    # URLs

    def _url(self, pos: int) -> int | None:
        """A bare URL becomes its host name; its path is dropped."""
        buf = self._buf
        head = buf[pos : pos + 8].lower()
        start = next((s for s in _URL_STARTS if head.startswith(s)), None)
        if start is None:
            if len(head) < 8 and not self._final and any(s.startswith(head) for s in _URL_STARTS):
                return None
            match = _WORD.match(buf, pos)
            assert match is not None  # the character is a letter
            self._write(match.group())
            return match.end() - pos
        host_start = pos + (0 if start == "www." else len(start))
        end = host_start
        while (
            end < len(buf)
            and end - host_start < 255
            and ((buf[end].isascii() and buf[end].isalnum()) or buf[end] in ".-")
        ):
            end += 1
        if end == len(buf) and end - host_start < 255 and not self._final:
            return None
        host_end = end
        while host_end > host_start and buf[host_end - 1] in ".-":
            host_end -= 1  # sentence punctuation after the host
        host = buf[host_start:host_end]
        if host.lower().startswith("www."):
            host = host[4:]
        if host:
            self._write(host)
        else:
            self._removed = True
        if host_end == end and end < len(buf) and buf[end] in "/?#:":
            self._url_tail = True
        return host_end - pos

    def _in_url_tail(self, pos: int) -> int | None:
        buf = self._buf
        char = buf[pos]
        if self._ends_url(char):
            self._url_tail = False
            return 0
        if char in _URL_TRAILERS:
            end = pos
            limit = pos + self._max_hold
            while end < len(buf) and end < limit and buf[end] in _URL_TRAILERS:
                end += 1
            after = "" if end == limit else self._after(end)
            if after is None:
                return None
            if after and self._ends_url(after):
                self._url_tail = False  # punctuation of the sentence, not of the URL
                return 0
            return self._drop(end - pos)
        end = pos + 1
        while end < len(buf) and not (buf[end] in _URL_TRAILERS or self._ends_url(buf[end])):
            end += 1
        return self._drop(end - pos)

    def _ends_url(self, char: str) -> bool:
        """White space, markup edges, a table cell edge or glued CJK text end a URL."""
        return (
            char.isspace()
            or char in "<>`"
            or (char == "|" and self._table)
            or (char > "\u2e7f" and _is_wide(char))
        )

    # HTML entities

    def _entity(self, pos: int) -> int | None:
        """`&amp;`, `&nbsp;`, `&#176;` read as the character they stand for."""
        buf = self._buf
        match = _ENTITY.match(buf, pos)
        if match is None:
            scan = _ENTITY_CHARS.match(buf, pos + 1)
            assert scan is not None  # the pattern matches the empty string
            if scan.end() == len(buf) and scan.end() - pos <= 33 and not self._final:
                return None  # it may still become an entity
            self._write("&")
            return 1
        name = match.group(1)
        if name[0] == "#":
            code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
            text = chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else ""
        else:
            text = html5.get(name + ";", "")
        size = match.end() - pos
        if not text:
            self._write(match.group())
        elif text.isspace():
            self._write_space()
        elif _is_emoji(text[0]) or _is_emoji_modifier(text[0]):
            return self._drop(size)
        else:
            self._write(text)
        return size


def clean_text(text: str) -> str:
    """Clean a whole text at once (the same result as streaming it)."""
    cleaner = SpeechTextCleaner()
    return cleaner.feed(text) + cleaner.finish()


async def clean_stream(pieces: AsyncIterable[str]) -> AsyncGenerator[str]:
    """Clean streamed text piece by piece; yields only non-empty text."""
    cleaner = SpeechTextCleaner()
    async for piece in pieces:
        if text := cleaner.feed(piece):
            yield text
    if text := cleaner.finish():
        yield text
