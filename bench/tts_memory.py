"""Resident memory of the Piper voice around syntheses of text espeak spells out letter by letter.

Run: .venv/bin/python bench/tts_memory.py
"""

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audio.tts import Synthesizer  # noqa: E402

SPELLED_OUT = "Привет мир, это тест. 日本語のテキストをここに書きます漢字仮名交じり文ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ"


def rss_mb() -> float:
    """This process's resident memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    """Load, warm, then synthesize the spelled-out text three times, printing RSS and peak RSS."""
    voice = Synthesizer()
    voice.warm()
    print(f"loaded and warmed: RSS {rss_mb():.0f} MB")
    for attempt in range(1, 4):
        started = time.monotonic()
        audio = voice.synthesize(SPELLED_OUT)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"synthesis {attempt}: {len(audio) / voice.sample_rate:.1f} s of audio in {time.monotonic() - started:.1f} s; "
              f"RSS after {rss_mb():.0f} MB, peak so far {peak:.0f} MB")


if __name__ == "__main__":
    main()
