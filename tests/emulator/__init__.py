"""Fish Audio emulator for tests, demos and benchmarks.

``FishEmulator`` serves the live TTS WebSocket (``/v1/tts/live``) and the REST
endpoints the integration uses, strictly following Fish Audio's asyncapi.yml
and openapi.json, with configurable latency (``LatencyModel``), injectable
faults (``Fault``) and a record of every session (``SessionRecord``).
"""

from .catalog import Voice
from .faults import Fault
from .latency import LatencyModel
from .server import FishEmulator
from .session import SessionRecord

__all__ = ["Fault", "FishEmulator", "LatencyModel", "SessionRecord", "Voice"]
