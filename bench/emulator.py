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

from tests.emulator import FishEmulator, LatencyModel, SessionRecord

ROOT = Path(__file__).resolve().parent.parent  # the child runs `-m bench.emulator` from here

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


class Emulator:
    """The Fish Audio emulator in a subprocess (bench/emulator.py)."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        """Wrap a started process."""
        self.process = process
        self.url = url

    @classmethod
    async def start(cls, latency: dict[str, float], api_keys: dict[str, str]) -> Emulator:
        """Start the emulator and wait until it listens."""
        config = json.dumps({"latency": latency, "api_keys": api_keys})
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.emulator",
            config,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        emulator = cls(process, "")
        emulator.url = (await emulator._receive())["url"]
        return emulator

    async def set_latency(self, latency: dict[str, float]) -> None:
        """Change the latency model for the sessions that start from now on."""
        await self._ask({"cmd": "latency", "latency": latency})

    async def sessions(self) -> list[dict[str, Any]]:
        """Summaries of the sessions closed since the last call."""
        answer = await self._ask({"cmd": "sessions"})
        return list(answer["sessions"])

    async def stop(self) -> None:
        """Close stdin; the emulator stops."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()

    async def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        return await self._receive()

    async def _receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process ended")
        answer: dict[str, Any] = json.loads(line)
        return answer


if __name__ == "__main__":
    main()
