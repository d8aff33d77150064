"""Who may hold a socket: sockets waiting to authenticate per address, sessions per owner and in total.

A socket that has not authenticated yet (a Twilio stream before its `start`) only
counts against its address's small allowance of unauthenticated sockets; a session
slot is taken once the caller's key is known, so sockets without a key can never keep
a caller with one out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from websockets.frames import CloseCode

from server.metrics import ACTIVE_SESSIONS


@dataclass(frozen=True)
class AdmissionLimits:
    """The bounds on open sockets."""

    max_sessions: int
    max_sessions_per_owner: int
    max_unauthenticated: int
    max_unauthenticated_per_address: int


class Refused(Exception):
    """A socket may not be admitted; it is closed with `code` and the message as its reason."""

    def __init__(self, reason: str, code: CloseCode = CloseCode.TRY_AGAIN_LATER) -> None:
        super().__init__(reason)
        self.code = code


@dataclass
class Admission:
    """Counts the open sockets of one server and refuses those beyond its limits."""

    limits: AdmissionLimits
    _unauthenticated: Counter[str] = field(default_factory=Counter, init=False)
    _sessions: Counter[str] = field(default_factory=Counter, init=False)

    @property
    def sessions(self) -> int:
        """Authenticated sessions open now."""
        return self._sessions.total()

    @contextmanager
    def unauthenticated(self, address: str) -> Iterator[None]:
        """Hold a socket from `address` that has not authenticated yet; Refused beyond the limits."""
        if self._unauthenticated[address] >= self.limits.max_unauthenticated_per_address:
            raise Refused("too many connections from your address waiting to authenticate", CloseCode.POLICY_VIOLATION)
        if self._unauthenticated.total() >= self.limits.max_unauthenticated:
            raise Refused("too many connections waiting to authenticate; try again later")
        with _counted(self._unauthenticated, address):
            yield

    @contextmanager
    def session(self, owner: str, protocol: str) -> Iterator[None]:
        """Hold a session slot for `owner` (shown in `confab_active_sessions`); Refused beyond the limits."""
        if self.sessions >= self.limits.max_sessions:
            raise Refused("too many sessions; try again later")
        if self._sessions[owner] >= self.limits.max_sessions_per_owner:
            raise Refused("too many sessions for this API key; try again later")
        gauge = ACTIVE_SESSIONS.labels(protocol)
        with _counted(self._sessions, owner):
            gauge.inc()
            try:
                yield
            finally:
                gauge.dec()


@contextmanager
def _counted(counter: Counter[str], key: str) -> Iterator[None]:
    counter[key] += 1
    try:
        yield
    finally:
        counter[key] -= 1
        if counter[key] <= 0:
            del counter[key]
