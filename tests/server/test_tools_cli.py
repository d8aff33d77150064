"""`confab agents create` with MCP servers and webhooks, and `confab tools list`."""

import json
import shlex
import sys
from pathlib import Path

import pytest

from server.cli import main
from tests.tool_servers import ROOT


def test_tools_list_prints_every_tool_the_model_sees_with_its_final_schema(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CONFAB_SPEECH", "false")
    monkeypatch.chdir(ROOT)
    tools_file = tmp_path / "tools.json"
    tools_file.write_text(json.dumps({"webhooks": [{
        "name": "order_status", "description": "Where an order is.", "url": "http://127.0.0.1:9/hook", "secret": "s3cret",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    }]}))
    server = shlex.join([sys.executable, "-m", "tests.mcp_server"])
    created = main(["agents", "create", "shop", "--strict", "--tool", "tests.sample_tools:get_time",
                    "--mcp-stdio", server, "--tools-file", str(tools_file), "--data-dir", str(tmp_path)])
    assert created == 0
    capsys.readouterr()

    assert main(["tools", "list", "shop", "--data-dir", str(tmp_path)]) == 0
    listed = {t["function"]["name"]: t["function"] for t in json.loads(capsys.readouterr().out)}
    assert {"get_time", "order_status", "lookup_order", "tag_counts", "slow_lookup", "crash"} <= set(listed)
    for function in listed.values():
        assert list(function["parameters"]["properties"])[0] == "pre_exec_msg"
    assert listed["order_status"]["strict"] is True and listed["order_status"]["parameters"]["additionalProperties"] is False
    assert listed["tag_counts"]["strict"] is False

    assert main(["agents", "show", "shop", "--data-dir", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "s3cret" not in shown and '"command"' in shown


def test_a_bad_tools_file_is_refused_with_a_clear_error(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CONFAB_SPEECH", "false")
    tools_file = tmp_path / "tools.json"
    tools_file.write_text(json.dumps({"webhooks": [{"name": "no url", "description": "d"}]}))
    assert main(["agents", "create", "shop", "--tools-file", str(tools_file), "--data-dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "webhooks.0.name" in error and "webhooks.0.url" in error
