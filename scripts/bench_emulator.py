"""The Fish Audio emulator in its own process, driven over stdin/stdout by the bench.

Running it out of process keeps its CPU time and allocations out of the
figures the bench reports for the integration and Home Assistant.

Protocol, one JSON object per line:
  out: {"url": "http://127.0.0.1:PORT"} once listening.
  in:  {"cmd": "latency", "latency": {...LatencyModel fields}} -> {"ok": true}
  in:  {"cmd": "sessions"} -> {"sessions": [summary, ...]} (then forgets them)
  EOF on stdin stops the emulator.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import sys
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.emulator import FishEmulator, LatencyModel, SessionRecord

SENTENCE_ENDS = ".!?…;:"


def mid_sentence_cuts(segments: list[str]) -> int:
    """Segments, the last one aside, that do not end at a sentence end (prosody breaks)."""
    return sum(
        1 for segment in segments[:-1] if not segment.rstrip().endswith(tuple(SENTENCE_ENDS))
    )


def summary(record: SessionRecord) -> dict[str, Any]:
    """What the bench needs of one session; times are loop (monotonic) clock values."""
    return {
        "key": record.headers.get("Authorization", "").removeprefix("Bearer "),
        "status": record.status,
        "segments": [len(segment) for segment in record.segments],
        "mid_sentence_cuts": mid_sentence_cuts(record.segments),
        "flushes": record.flushes,
        "audio_bytes": len(record.audio_sent),
        "connected_at": record.connected_at,
        "started_at": record.started_at,
        "first_audio_at": record.first_audio_at,
        "closed_at": record.closed_at,
        "violations": list(record.violations),
        "errors": list(record.errors),
    }


def answer(emu: FishEmulator, command: dict[str, Any]) -> dict[str, Any]:
    """Carry out one control command."""
    if command.get("cmd") == "latency":
        emu.latency = LatencyModel(**command["latency"])
        return {"ok": True}
    if command.get("cmd") == "sessions":
        # Closed sessions are dropped so a long run does not keep every record.
        done = [record for record in emu.sessions if record.closed]
        emu.sessions[:] = [record for record in emu.sessions if not record.closed]
        return {"sessions": [summary(record) for record in done]}
    return {"error": f"unknown command {command!r}"}


async def serve(latency: LatencyModel, api_keys: dict[str, str] | None) -> None:
    """Run until stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with FishEmulator(latency=latency, api_keys=api_keys) as emu:
        _say({"url": emu.url})
        while line := await reader.readline():
            _say(answer(emu, json.loads(line)))


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    """Arguments: one JSON object {"latency": {...}, "api_keys": {...} | null}."""
    config = json.loads(sys.argv[1])
    asyncio.run(serve(LatencyModel(**config["latency"]), config.get("api_keys")))


if __name__ == "__main__":
    main()
