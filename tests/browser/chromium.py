"""Where the browser tests find Chromium (Debian's package, or CONFAB_CHROMIUM), and the check that it is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CONFAB_CHROMIUM", "/usr/bin/chromium"))


def require_chromium() -> None:
    """Fail (never skip) with what to install when Chromium is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run `make system-deps` (Debian package `chromium`) "
                    "or set CONFAB_CHROMIUM to a Chromium binary", pytrace=False)
