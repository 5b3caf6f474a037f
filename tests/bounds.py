"""Short client bounds for tests: a stall costs half a second, a 429 backoff milliseconds."""

from __future__ import annotations

from typing import Final

from custom_components.fish_audio_live.fishaudio.live import Timeouts

TEST_TIMEOUTS: Final = Timeouts(connect=1.0, first_audio=0.5, audio_gap=0.5, close=0.5)
TEST_RETRY_DELAYS: Final = (0.01, 0.02, 0.04)
