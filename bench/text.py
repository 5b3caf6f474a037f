"""Cost of the text path: `python -m bench.text` prints µs/char and the worst single feed."""

from __future__ import annotations

import time

from custom_components.fish_audio_live.fishaudio.text_clean import SpeechTextCleaner
from custom_components.fish_audio_live.fishaudio.text_policy import TextPlanner

_REPLY = (
    "## Living room\n- **Lamp**: on, 80 %\n| Sensor | Value |\n|---|---|\n| Temp | 21 °C |\n"
    "Dr. Smith arrives at 9 a.m. See [the docs](https://www.home-assistant.io/x) 🎉. "
)
CASES = {
    "20 kB realistic": (_REPLY * (20_000 // len(_REPLY) + 1))[:20_000],
    "1 MB Latin without full stops": ("lorem ipsum dolor sit amet " * 40_000)[:1_000_000],
    "1 MB Thai": ("สวัสดีครับวันนี้อากาศดีมาก " * 40_000)[:1_000_000],
    "[ x 1M": "[" * 1_000_000,
    "many links": "[a](https://x.com/p) " * 50_000,
}


def measure(text: str, size: int) -> tuple[float, float]:
    """µs per character and the worst single feed in ms, over pieces of `size`."""
    cleaner, planner = SpeechTextCleaner(), TextPlanner()
    worst = 0.0
    start = time.perf_counter()
    for index in range(0, len(text), size):
        began = time.perf_counter()
        planner.feed(cleaner.feed(text[index : index + size]))
        worst = max(worst, time.perf_counter() - began)
    planner.feed(cleaner.finish())
    total = time.perf_counter() - start
    return total / len(text) * 1e6, worst * 1e3


def main() -> None:
    """Print one line per case, fed as 4-character tokens and as one piece."""
    for name, text in CASES.items():
        per_char, worst = measure(text, 4)
        whole, whole_ms = measure(text, len(text))
        print(
            f"{name:32} tokens {per_char:5.2f} us/char, worst feed {worst:6.2f} ms;"
            f" one piece {whole:5.2f} us/char ({whole_ms:.0f} ms)"
        )


if __name__ == "__main__":
    main()
