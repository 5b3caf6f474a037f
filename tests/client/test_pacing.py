"""Paced silence for stalled PCM streams, on a virtual-time event loop (no real waits)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import selectors
from typing import Any

import pytest

from custom_components.fish_audio_live.fishaudio.pacing import keep_flowing

RATE = 16000 * 2  # 16 kHz mono 16-bit
FRAME = 2
REAL = b"\x01\x01"  # real audio is never all zeros: silence is told apart


class _VirtualSelector(selectors.SelectSelector):
    """Never sleeps: a wait for timers moves the loop's clock to the next timer."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("deadlock: nothing ready and no timer pending")
        events = super().select(0)
        if not events and timeout > 0:
            self._loop.now += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when every task is waiting for a timer."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        return self.now


def run[T](main: Callable[[], Awaitable[T]]) -> T:
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(_checked(main))


async def _checked[T](main: Callable[[], Awaitable[T]]) -> T:
    result = await main()
    assert asyncio.all_tasks() == {asyncio.current_task()}, "tasks left behind"
    return result


@dataclass
class Source:
    """Audio chunks at given (virtual) times; records whether it was closed."""

    script: list[tuple[float, bytes]]  # (seconds to wait before, chunk)
    closed: bool = False
    sent: list[tuple[float, bytes]] = field(default_factory=list)

    async def __call__(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        try:
            for delay, chunk in self.script:
                await asyncio.sleep(delay)
                self.sent.append((loop.time(), chunk))
                yield chunk
        finally:
            self.closed = True


def seconds(duration: float) -> bytes:
    return REAL * round(duration * RATE / len(REAL))


@dataclass
class Received:
    chunks: list[tuple[float, bytes]]

    @property
    def data(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)

    @property
    def real(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks if any(chunk))

    @property
    def silences(self) -> list[tuple[float, bytes]]:
        return [(at, chunk) for at, chunk in self.chunks if not any(chunk)]

    def longest_gap(self) -> float:
        """Longest time a player (starting at the first byte) would have nothing to play."""
        end = self.chunks[0][0]
        gap = 0.0
        for at, chunk in self.chunks:
            if at > end:
                gap = max(gap, at - end)
                end = at
            end += len(chunk) / RATE
        return gap


async def drain(flow: AsyncIterator[bytes], into: list[bytes]) -> None:
    async for chunk in flow:
        into.append(chunk)  # noqa: PERF401 - keeps what came before an error


async def receive(source: Callable[[], AsyncIterator[bytes]], **kwargs: Any) -> Received:
    loop = asyncio.get_running_loop()
    options: dict[str, Any] = {"byte_rate": RATE, "frame_bytes": FRAME, "idle_limit": 30.0}
    options.update(kwargs)
    return Received([(loop.time(), chunk) async for chunk in keep_flowing(source(), **options)])


def test_flowing_audio_passes_untouched() -> None:
    # Faster than real time, then exactly real time: never padded.
    script = [(0.0, seconds(0.1))] * 5 + [(0.1, seconds(0.1))] * 20
    source = Source(script)
    got = run(lambda: receive(source))
    assert [chunk for _, chunk in got.chunks] == [chunk for _, chunk in script]
    assert got.silences == []
    assert source.closed


def test_a_five_second_pause_is_filled_with_paced_silence() -> None:
    source = Source([(0.0, seconds(0.5)), (0.0, seconds(0.5)), (5.0, seconds(1.0))])
    got = run(lambda: receive(source))
    assert got.real == seconds(2.0)
    assert got.longest_gap() == 0.0  # the player never starves
    silence = sum(len(chunk) for _, chunk in got.silences) / RATE
    # The pause is 5 s, of which the first second is buffered audio; lead + block on top.
    assert 4.0 <= silence <= 4.0 + 0.2 + 0.1 + 0.01
    # Paced in real time: once padding starts, never more than lead + block ahead.
    start = got.chunks[0][0]
    sent = 0
    for at, chunk in got.chunks[:-1]:
        sent += len(chunk)
        if not any(chunk):
            assert at >= 0.8 - 1e-9  # not before the buffered second drains to the lead
            assert sent / RATE - (at - start) <= 0.2 + 0.1 + 0.001


def test_real_audio_after_the_pause_goes_out_at_once() -> None:
    source = Source([(0.0, seconds(0.3)), (5.0, seconds(0.3)), (0.0, seconds(0.3))])
    got = run(lambda: receive(source))
    resumed_at = source.sent[1][0]
    after = [at for at, chunk in got.chunks if any(chunk) and at >= resumed_at]
    assert after[0] == resumed_at  # no wait for the silence block in progress
    # Behind at most lead + block of queued silence.
    start = got.chunks[0][0]
    before = sum(len(chunk) for at, chunk in got.chunks if at < resumed_at)
    assert before / RATE - (resumed_at - start) <= 0.3 + 0.001
    assert got.longest_gap() <= 0.2 + 1e-9


def test_padding_gives_up_after_the_idle_limit() -> None:
    source = Source([(0.0, seconds(0.2)), (10.0, seconds(0.2))])
    got = run(lambda: receive(source, idle_limit=3.0))
    silences = got.silences
    first = silences[0][0]
    assert all(at - first < 3.0 for at, _ in silences)
    padded = sum(len(chunk) for _, chunk in silences) / RATE
    assert 2.9 <= padded <= 3.0 + 0.3 + 0.01
    assert got.real == seconds(0.4)


def test_padding_resumes_for_a_later_pause() -> None:
    source = Source([(0.0, seconds(0.2)), (1.0, seconds(0.2)), (1.0, seconds(0.2))])
    got = run(lambda: receive(source, idle_limit=0.5))
    pauses = [at for at, chunk in got.silences]
    assert any(at < 1.0 for at in pauses)
    assert any(at > 1.0 for at in pauses)


def test_no_padding_before_the_first_audio_or_after_the_end() -> None:
    source = Source([(3.0, seconds(0.1)), (0.0, seconds(0.1))])
    got = run(lambda: receive(source))
    assert got.silences == []
    assert got.chunks[0][0] == 3.0
    assert got.data == seconds(0.2)


def test_silence_goes_in_at_frame_edges_only() -> None:
    frame = 6  # 3 channels of 16-bit
    pieces = [b"\x01" * 7, b"\x01" * 5, b"\x01" * 1000]
    source = Source([(0.0, pieces[0]), (1.0, pieces[1]), (1.0, pieces[2])])
    got = run(lambda: receive(source, frame_bytes=frame, byte_rate=3 * RATE))
    assert got.real == b"".join(pieces)
    offset = 0
    for _, chunk in got.chunks:
        if not any(chunk):
            assert offset % frame == 0
            assert len(chunk) % frame == 0
        offset += len(chunk)
    assert got.silences


def test_a_partial_frame_at_the_end_is_passed_on() -> None:
    source = Source([(0.0, b"\x01"), (0.0, b"\x01\x01")])
    got = run(lambda: receive(source))
    assert [chunk for _, chunk in got.chunks] == [b"\x01\x01", b"\x01"]


def test_any_async_iterator_will_do() -> None:
    class Chunks:
        def __init__(self) -> None:
            self.left = [seconds(0.1), seconds(0.1)]

        def __aiter__(self) -> Chunks:
            return self

        async def __anext__(self) -> bytes:
            if not self.left:
                raise StopAsyncIteration
            return self.left.pop()

    got = run(lambda: receive(lambda: Chunks()))
    assert got.data == seconds(0.2)


def test_unsigned_8_bit_silence() -> None:
    source = Source([(0.0, b"\x01" * 1600), (1.0, b"\x01" * 1600)])
    got = run(lambda: receive(source, byte_rate=16000, frame_bytes=1, silence=b"\x80"))
    padding = [chunk for _, chunk in got.chunks if chunk != b"\x01" * 1600]
    assert padding
    assert all(set(chunk) == {0x80} for chunk in padding)


def test_a_slow_source_is_bridged_after_min_quiet() -> None:
    # Fish slower than real time: 0.1 s of audio every 0.5 s.
    source = Source([(0.5, seconds(0.1))] * 6)
    got = run(lambda: receive(source))
    assert got.silences
    assert got.longest_gap() <= 0.2 + 1e-9  # min_quiet, then silence keeps the player fed


def test_min_quiet_zero_pads_as_soon_as_the_buffer_runs_low() -> None:
    source = Source([(0.0, seconds(0.1)), (0.15, seconds(0.1))])
    got = run(lambda: receive(source, min_quiet=0.0))
    assert got.silences[0][0] == 0.0  # 0.1 s buffered is below the 0.2 s lead
    assert got.longest_gap() == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [{"byte_rate": 0}, {"frame_bytes": 0}, {"frame_bytes": 3, "silence": b"\x00\x00"}],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="positive"):
            await receive(Source([]), **kwargs)

    run(main)


def test_aclose_mid_pause_leaves_no_task_behind() -> None:
    source = Source([(0.0, seconds(0.3)), (60.0, seconds(0.3))])

    async def main() -> int:
        flow = keep_flowing(source(), byte_rate=RATE, frame_bytes=FRAME, idle_limit=30.0)
        assert await anext(flow) == seconds(0.3)
        chunk = await anext(flow)  # silence: the source is inside its 60 s pause
        assert not any(chunk)
        await flow.aclose()
        return len(asyncio.all_tasks())

    assert run(main) == 1
    assert source.closed
    assert len(source.sent) == 1


def test_cancelling_the_consumer_mid_pause_leaves_no_task_behind() -> None:
    source = Source([(0.0, seconds(0.3)), (60.0, seconds(0.3))])
    got: list[bytes] = []

    async def consume() -> None:
        flow = keep_flowing(source(), byte_rate=RATE, frame_bytes=FRAME, idle_limit=30.0)
        async with contextlib.aclosing(flow):
            await drain(flow, got)

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(2.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main)
    assert source.closed
    assert len(got) > 2
    assert not any(got[-1])


def test_an_error_of_the_source_propagates() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield seconds(0.1)
        await asyncio.sleep(1.0)
        raise ConnectionError("gone")

    async def main() -> list[bytes]:
        got: list[bytes] = []
        flow = keep_flowing(failing(), byte_rate=RATE, frame_bytes=FRAME, idle_limit=30.0)
        with pytest.raises(ConnectionError, match="gone"):
            await drain(flow, got)
        return got

    got = run(main)
    assert got[0] == seconds(0.1)
    assert not any(got[-1])  # padded while the source was still alive


def test_the_virtual_loop_detects_a_deadlock() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(RuntimeError, match="deadlock"):
        run(main)
