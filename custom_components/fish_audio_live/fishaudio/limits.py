"""Every bound the client puts on what comes in: answers, options and text.

docs/LIMITS.md lists the same values (tests/test_inputs.py checks that it does).
"""

from __future__ import annotations

# REST answers: a larger body is refused, whatever it claims to be.
MAX_REST_BODY = 4 * 1024 * 1024  # bytes
# JSON nested deeper than this is no Fish answer (and would exhaust the stack).
MAX_JSON_DEPTH = 64
# The voice listing asked at setup and kept: records beyond the page are dropped.
VOICE_PAGE_SIZE = 100
