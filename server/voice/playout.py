"""Where a spoken reply's played position comes from: one interface, one implementation per kind of output.

A Realtime client plays what it receives at once and says where it stopped with its own
`conversation.item.truncate`, so the server estimates from its pacing (`PacingEstimate`).
Twilio echoes a `mark` once the audio sent before it has played, so the last echoed
mark is the played position (`EchoedMarks`); audio not yet confirmed played may still
be heard, and a barge-in cuts it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from server.voice.speaker import Speaker, SpokenSegment


class Playout(Protocol):
    """The played position of one reply's audio."""

    def chunk_sent(self, segment: SpokenSegment) -> str | None:
        """A chunk's last frame left; returns the mark to send after it, when this output confirms with marks."""

    def confirm(self, mark: str) -> bool:
        """The output played up to `mark`; False when the mark is not this reply's."""

    def played_ms(self) -> float:
        """Milliseconds of the reply's audio the caller has heard."""

    @property
    def unconfirmed(self) -> bool:
        """Audio was sent that the output has not yet confirmed played (the caller may be hearing it)."""


@dataclass
class PacingEstimate:
    """Played position estimated from the speaker's real-time pace; nothing is ever confirmed."""

    speaker: Speaker

    def chunk_sent(self, segment: SpokenSegment) -> str | None:
        """No marks: the client plays what it gets."""
        return None

    def confirm(self, mark: str) -> bool:
        """There are no marks to confirm."""
        return False

    def played_ms(self) -> float:
        """What was sent, but no more than real time allows."""
        return self.speaker.played_ms()

    @property
    def unconfirmed(self) -> bool:
        """The client owns its playback buffer (it truncates the reply itself), so nothing is pending here."""
        return False


@dataclass
class EchoedMarks:
    """Played position from marks the output echoes back: a mark named `<reply id>.<n>` after each chunk."""

    reply_id: str
    _sent: int = field(default=0, init=False)
    _unplayed: dict[str, float] = field(default_factory=dict, init=False)  # mark -> where its chunk ends (ms)
    _played_ms: float = field(default=0.0, init=False)

    def chunk_sent(self, segment: SpokenSegment) -> str:
        """Name the chunk's mark and remember where the chunk ends."""
        self._sent += 1
        mark = f"{self.reply_id}.{self._sent}"
        self._unplayed[mark] = segment.start_ms + segment.duration_ms
        return mark

    def confirm(self, mark: str) -> bool:
        """The audio up to the mark's chunk end has played."""
        end_ms = self._unplayed.pop(mark, None)
        if end_ms is None:
            return False
        self._played_ms = max(self._played_ms, end_ms)
        return True

    def played_ms(self) -> float:
        """The end of the last confirmed chunk."""
        return self._played_ms

    @property
    def unconfirmed(self) -> bool:
        """Some marks have not come back yet."""
        return bool(self._unplayed)
