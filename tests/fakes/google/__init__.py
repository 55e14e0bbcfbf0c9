"""A local fake of Google (OAuth, Sheets v4, Drive v3) over real HTTP, for tests and benchmarks."""

from tests.fakes.google.clock import ScaledClock, VirtualClock
from tests.fakes.google.server import FakeGoogle, Fault, PersonError, Record, serving, session_fake

__all__ = [
    "FakeGoogle",
    "Fault",
    "PersonError",
    "Record",
    "ScaledClock",
    "VirtualClock",
    "serving",
    "session_fake",
]
