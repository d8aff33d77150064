"""Browser tests need Debian's chromium (and the playwright package): missing either fails them, loudly."""

from __future__ import annotations

import pytest

from tests.browser.chromium import require_chromium


@pytest.fixture(autouse=True)
def _chromium_installed() -> None:
    require_chromium()
