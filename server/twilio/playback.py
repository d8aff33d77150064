"""How spoken replies leave on the phone: 20 ms mu-law frames, a short lead, a `mark` after each chunk.

Twilio echoes a mark once the audio before it has played, so the played position of a
reply is its last echoed mark (`server.voice.playout.EchoedMarks`).
"""

from __future__ import annotations

from audio.codecs import AudioFormat
from server.voice.events import VoiceOutput
from server.voice.speaker import Pacing

TWILIO_FORMAT = AudioFormat("audio/pcmu", 8000)
FRAME_MS = 20
LEAD_MS = 80.0  # audio queued ahead of playback at Twilio: enough for network jitter, never a burst
TWILIO_OUTPUT = VoiceOutput(TWILIO_FORMAT, Pacing(LEAD_MS, FRAME_MS, whole_frames=True), marks=True)
