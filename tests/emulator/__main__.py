"""Standalone emulator for demos and benchmarks.

    python -m tests.emulator --port 8765 [--host 127.0.0.1] [--api-key KEY]
        [--handshake-ms 330] [--first-audio-ms 300] [--rtf 0.25] [--ms-per-char 60]
        [--chunk-ms 100] [--rest-ms 0] [--fault KIND[:PHASE]]

Prints one line ``Fish Audio emulator listening on <url>`` once it listens and
runs until SIGINT or SIGTERM, then exits 0. Without ``--api-key`` any
non-empty key is accepted. ``--fault`` is sticky: it applies to every session.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Final

from .faults import AFTER_START, Fault
from .latency import LatencyModel
from .server import FishEmulator, check_loopback

SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
DEFAULT_USER_FOR_KEY: Final = "emulator-user"


def _fault(text: str) -> Fault:
    """``KIND[:PHASE]`` as a sticky fault."""
    kind, _, phase = text.partition(":")
    try:
        return Fault(kind, phase or AFTER_START, sticky=True)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _host(text: str) -> str:
    """A loopback host only: the emulator accepts any key and must not be exposed."""
    try:
        check_loopback(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (argparse exits with status 2 on bad ones)."""
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", type=_host, default="127.0.0.1")
    parser.add_argument("--api-key", help="the only key accepted (default: any non-empty key)")
    parser.add_argument("--handshake-ms", type=float, default=0.0)
    parser.add_argument("--first-audio-ms", type=float, default=0.0)
    parser.add_argument("--rtf", type=float, default=0.0)
    parser.add_argument("--ms-per-char", type=float, default=20.0)
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--rest-ms", type=float, default=0.0)
    parser.add_argument("--fault", type=_fault, help="KIND[:PHASE], applied to every session")
    return parser.parse_args(argv)


def build(options: argparse.Namespace) -> FishEmulator:
    """The emulator the options describe."""
    latency = LatencyModel(
        handshake_s=options.handshake_ms / 1000,
        first_audio_s=options.first_audio_ms / 1000,
        rtf=options.rtf,
        ms_per_char=options.ms_per_char,
        chunk_ms=options.chunk_ms,
        rest_s=options.rest_ms / 1000,
    )
    api_keys = {options.api_key: DEFAULT_USER_FOR_KEY} if options.api_key else None
    emulator = FishEmulator(latency, api_keys, port=options.port, host=options.host)
    if options.fault is not None:
        emulator.add_fault(options.fault)
    return emulator


async def serve(emulator: FishEmulator, stop: asyncio.Event) -> None:
    """Run ``emulator`` until ``stop`` is set."""
    async with emulator:
        print(f"Fish Audio emulator listening on {emulator.url}", flush=True)
        await stop.wait()


async def run(options: argparse.Namespace) -> None:
    """Serve until SIGINT or SIGTERM, then restore the previous signal handlers."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(build(options), stop)
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    try:
        options = parse_args(argv)
        asyncio.run(run(options))
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
