"""Block history: every rewrite kept, shown by `confab memory history`, undone by `confab memory revert`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.memory.test_memory_cli import _run, cli_env  # noqa: F401  (the CLI's environment fixture)


def test_every_rewrite_of_a_block_is_kept_with_who_when_before_and_after(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _run(capsys, "memory", "set", "support", "human", "--caller", "ada", "Name: Ada.")
    _run(capsys, "memory", "set", "support", "human", "--caller", "ada", "Name: Ada. Dog: Biscuit.")
    code, out, _ = _run(capsys, "memory", "history", "support", "human", "--caller", "ada")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "[human] version 0: ''"
    assert lines[1].startswith("version 1\t") and lines[1].endswith("\toperator")
    assert lines[2:4] == ["  before: ''", "  after:  'Name: Ada.'"]
    assert lines[5:7] == ["  before: 'Name: Ada.'", "  after:  'Name: Ada. Dog: Biscuit.'"]


def test_revert_gives_a_block_back_an_earlier_version_and_records_that_too(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _run(capsys, "memory", "set", "support", "human", "--caller", "ada", "Name: Ada. Dog: Biscuit.")
    _run(capsys, "memory", "set", "support", "human", "--caller", "ada", "Name: Ada.")
    code, out, _ = _run(capsys, "memory", "revert", "support", "human", "--caller", "ada", "1")
    assert code == 0 and out.startswith("human: back to version 1")
    _, shown, _ = _run(capsys, "memory", "show", "support", "--caller", "ada")
    assert "[human] 24/5000 characters\n    Name: Ada. Dog: Biscuit." in shown
    _, history, _ = _run(capsys, "memory", "history", "support", "human", "--caller", "ada")
    assert history.splitlines()[-3].endswith("\toperator (revert to version 1)")


def test_a_callers_block_history_needs_the_caller(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _run(capsys, "memory", "set", "support", "human", "--caller", "ada", "Name: Ada.")
    code, _, err = _run(capsys, "memory", "history", "support", "human")
    assert code == 1 and "belongs to each caller" in err


def test_reverting_to_a_version_the_block_never_had_is_refused(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _run(capsys, "memory", "set", "support", "human", "--caller", "ada", "Name: Ada.")
    code, _, err = _run(capsys, "memory", "revert", "support", "human", "--caller", "ada", "7")
    assert code == 1 and "has versions 0 to 1, not 7" in err
