"""Semantic end of turn (sans-I/O): does what the caller said sound finished, or should the agent wait?

`semantic_vad` ends each utterance after the eagerness's short silence (900 / 500 / 250 ms
for low / medium / high, as before), then reads its speculative transcript. A finished
sentence ends the turn at once. One that sounds unfinished — trailing off ("..."), a
filler ("um"), an open word ("and", "to", "is"), a phone or card number still short of
its digits ("my number is 4 1 5") — holds the turn open: if the caller speaks again
before the eagerness cap (8 / 4 / 2 s after their speech ended, OpenAI's caps), the new
words join the same turn; if not, the turn ends at the cap.

Rules, not a model: the one well-kept CPU end-of-turn model on PyPI with its weights in
the wheel (smart-turn v3.2, inside pipecat-ai) pins soxr below the version Confab uses,
takes ~300 ms per call here, and called three finished espeak sentences and the whole
phone number unfinished (see README, "Turn-taking").
"""

import re
from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel, ConfigDict


class Eagerness(Enum):
    """`semantic_vad.eagerness`: how soon the agent takes the turn."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    AUTO = "auto"


SILENCE_MS = {Eagerness.LOW: 900, Eagerness.MEDIUM: 500, Eagerness.HIGH: 250, Eagerness.AUTO: 500}
CAP_MS = {Eagerness.LOW: 8000, Eagerness.MEDIUM: 4000, Eagerness.HIGH: 2000, Eagerness.AUTO: 4000}

_FILLERS = {"um", "umm", "uh", "uhm", "er", "erm", "hmm", "mm", "like", "you know"}
_OPEN_WORDS = {
    "and", "or", "but", "so", "because", "cause", "if", "when", "while", "that", "which", "who", "then", "than",
    "a", "an", "the", "to", "of", "for", "with", "from", "in", "on", "at", "by", "about", "into", "as",
    "my", "your", "our", "their", "his", "her", "its", "i", "we",
    "is", "are", "was", "were", "am", "be", "been", "will", "would", "can", "could", "should", "have", "has", "do", "does",
}  # fmt: skip
_NUMBER_CUES = {"number", "phone", "code", "zip", "postcode", "account", "card", "pin", "digits", "extension", "reference", "id"}
_DIGIT_WORDS = {"zero": 1, "oh": 1, "one": 1, "two": 1, "three": 1, "four": 1, "five": 1, "six": 1, "seven": 1, "eight": 1, "nine": 1}
_FULL_NUMBER_DIGITS = 10  # a phone number's length (with area code): shorter runs after a cue are still being spoken


class Unfinished(Enum):
    """Why an utterance sounds unfinished."""

    TRAILING_OFF = "trailing_off"  # Whisper wrote "..." at the end
    FILLER = "filler"  # ends with "um", "uh", "you know"...
    OPEN_WORD = "open_word"  # ends with a word a sentence rarely ends on ("and", "to", "is")
    DIGITS = "digits"  # a number after a cue ("my number is"), short of a phone number's 10 digits


def unfinished(text: str) -> Unfinished | None:
    """Why `text` (a transcript) sounds unfinished, or None if it sounds finished (or is empty)."""
    stripped = text.strip()
    words = re.sub(r"[^a-z0-9' ]", " ", stripped.lower()).split()
    if not words:
        return None
    if stripped.endswith(("...", "…")):
        return Unfinished.TRAILING_OFF
    if words[-1] in _FILLERS or " ".join(words[-2:]) in _FILLERS:
        return Unfinished.FILLER
    if words[-1] in _OPEN_WORDS and not stripped.endswith("?"):
        return Unfinished.OPEN_WORD
    digits = _trailing_digits(words)
    if 0 < digits < _FULL_NUMBER_DIGITS and _NUMBER_CUES.intersection(words[:-1]):
        return Unfinished.DIGITS
    return None


def _trailing_digits(words: list[str]) -> int:
    """How many digits the words at the end spell ("415 5 5" -> 5, "four one five" -> 3)."""
    count = 0
    for word in reversed(words):
        if word.isdigit():
            count += len(word)
        elif word in _DIGIT_WORDS:
            count += 1
        else:
            break
    return count


class EndpointingSettings(BaseModel):
    """`semantic_vad` as the session sets it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    eagerness: Eagerness = Eagerness.AUTO

    @property
    def silence_duration_ms(self) -> int:
        """The silence after which an utterance is transcribed and judged."""
        return SILENCE_MS[self.eagerness]

    @property
    def cap_ms(self) -> int:
        """The longest the agent waits after the caller's speech ended when it sounds unfinished."""
        return CAP_MS[self.eagerness]


@dataclass(frozen=True)
class TurnEnded:
    """The caller's turn is over: answer `text` (every utterance of the turn, joined)."""

    text: str
    at_ms: int


@dataclass(frozen=True)
class TurnHeld:
    """The turn sounds unfinished: keep listening; end it at `until_ms` unless the caller speaks again."""

    text: str
    until_ms: int
    reason: Unfinished


EndpointEvent = TurnEnded | TurnHeld


class Endpointer:
    """Joins the utterances of one stream into user turns (positions are input-stream milliseconds).

    Only the caller's latest utterance decides the turn. Whisper often finishes an
    utterance's words after the caller has started the next one (always on a loaded
    machine): such words join the turn and wait, with no deadline, for the words of the
    utterance after them, whose speech end the cap counts from.
    """

    def __init__(self, settings: EndpointingSettings = EndpointingSettings()) -> None:
        self.settings = settings
        self._text = ""
        self._until_ms: int | None = None  # while a turn is held and the caller silent: when it ends
        self._speaking = False
        self._awaited: list[str] = []  # utterances whose speech stopped and whose words have not come, oldest first

    @property
    def held(self) -> bool:
        """Words are waiting for the rest of their turn."""
        return bool(self._text)

    def speech_started(self) -> None:
        """The caller speaks again: a held turn waits for this utterance instead of its deadline."""
        self._speaking = True
        self._until_ms = None

    def speech_stopped(self, utterance_id: str) -> None:
        """The caller's speech stopped; the turn waits for the words of `utterance_id`, however late they come."""
        self._speaking = False
        self._awaited.append(utterance_id)

    def utterance(self, text: str, speech_end_ms: int, now_ms: int, utterance_id: str | None = None) -> list[EndpointEvent]:
        """The words of an utterance whose speech stopped at `speech_end_ms` (the VAD's silence has passed).

        `utterance_id` is the one given to `speech_stopped`, if it was. While the caller
        speaks again, or a later utterance's words are still to come, the words only join
        the turn: the later ones decide it.
        """
        if utterance_id in self._awaited:  # an earlier id whose words never came is dropped with it
            del self._awaited[: self._awaited.index(utterance_id) + 1]
        self._text = " ".join(part for part in (self._text, text.strip()) if part)
        if self._speaking or self._awaited:
            return []
        reason = unfinished(self._text)
        if reason is None or now_ms >= speech_end_ms + self.settings.cap_ms:
            return self._end(now_ms)
        self._until_ms = speech_end_ms + self.settings.cap_ms
        return [TurnHeld(self._text, self._until_ms, reason)]

    def tick(self, now_ms: int) -> list[EndpointEvent]:
        """Time passes with the caller silent: end a held turn whose deadline has come."""
        if self._until_ms is None or now_ms < self._until_ms:
            return []
        return self._end(now_ms)

    def close(self, now_ms: int) -> list[EndpointEvent]:
        """The stream ended: the words held so far are the turn, whatever was still to come."""
        self._speaking, self._awaited = False, []
        return self._end(now_ms)

    def _end(self, now_ms: int) -> list[EndpointEvent]:
        text, self._text, self._until_ms = self._text, "", None
        return [TurnEnded(text, now_ms)] if text else []
