"""The `confab` command: run the server and manage agents, on the same stores as the server."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from memory.agents import AgentExistsError
from memory.archival import ArchivalStoreError
from memory.conversations import Conversation
from memory.records import AgentRecord, LLMConfig
from memory.redis_server import persistence_warning
from server.app import Gateway
from server.auth import LOCAL_OWNER
from server.config import Settings
from server import tools_cli
from server.memory_cli import add_commands, archival_failure, run_callers, run_jobs, run_memory
from server.memory_services import archival_config
from server.runtime import Runtime
from server.twilio import twiml


def _settings(args: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            flags[name] = value
    return Settings(**flags)


def _freeze_startup_objects() -> None:
    """Keep what start-up loaded (models, torch: ~650k objects) out of the cyclic garbage collector.

    They live as long as the process; left in its oldest generation they make a full
    collection rare (it waits until that generation grew by a quarter), so the reference
    cycles of ended sessions stayed in memory. The last collection resets that count.
    """
    gc.collect()
    gc.freeze()
    gc.collect()


async def _serve(settings: Settings) -> int:
    if not settings.api_keys and not settings.is_loopback:
        print(
            f"confab: refusing to listen on {settings.host}: no API keys are configured. "
            "Set CONFAB_API_KEYS (comma-separated) or listen on 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    try:
        runtime = await Runtime.open(settings)
    except ArchivalStoreError as exc:
        print(f"confab: {archival_failure(exc, settings.qdrant_url)}", file=sys.stderr)
        return 2
    _freeze_startup_objects()
    gateway = Gateway(runtime)
    await gateway.start()
    endpoint = runtime.default_endpoint()
    print(f"confab: listening on ws://{settings.host}:{gateway.port}/v1/realtime (health: /healthz, /readyz)")
    signatures = "checked" if settings.twilio_auth_token else "not checked (set CONFAB_TWILIO_AUTH_TOKEN)"
    print(f"confab: phone calls (Twilio Media Streams) at /v1/twilio; X-Twilio-Signature {signatures}")
    print(f"confab: conversation state in {runtime.redis_description}")
    if runtime.embedded_redis is None and (warning := await persistence_warning(runtime.redis)) is not None:
        print(f"confab: warning: {warning}")
    if runtime.speech is not None:
        print(f"confab: {runtime.speech.describe()}; OpenAI speech API at /v1/audio/transcriptions, /v1/audio/speech")
    archival = archival_config(settings)
    print(f"confab: archival memory in {archival.store_description}; embeddings: {archival.embedder_description}")
    if endpoint.configured:
        print(f"confab: language model {endpoint.model} at {endpoint.base_url or 'https://api.openai.com/v1'}")
    else:
        print("confab: no language model configured (set CONFAB_LLM_BASE_URL / OPENAI_API_KEY); turns will answer with an error")
    if not settings.api_keys:
        print("confab: no API keys configured: listening on loopback only, every caller is owner 'local'")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        print("confab: shutting down", flush=True)
        await gateway.stop()
        await runtime.stop()
    return 0


async def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[int]]) -> int:
    runtime = await Runtime.open(settings, serving=False)
    try:
        return await work(runtime)
    finally:
        await runtime.stop()


def _owner(args: argparse.Namespace, settings: Settings) -> str:
    if args.owner:
        return str(args.owner)
    return "default" if settings.api_keys else LOCAL_OWNER


def _agents(args: argparse.Namespace, settings: Settings) -> int:
    owner = _owner(args, settings)

    async def work(runtime: Runtime) -> int:
        store = runtime.agents
        if args.agents_command == "list":
            for agent in await store.list(owner):
                print(f"{agent.name}\t{agent.id}\t{agent.llm.model or settings.llm_model}")
            return 0
        if args.agents_command == "create":
            try:
                agent = AgentRecord(
                    owner=owner, name=args.name, tools=args.tool or [], timezone=args.timezone, caller_blocks=args.caller_block,
                    llm=LLMConfig(model=args.model, base_url=args.base_url, strict=args.strict),
                    **({"system_prompt": args.prompt} if args.prompt else {}), **tools_cli.tool_fields(args),
                )
                runtime.tools_for(agent, Conversation.of(agent, None))
                await store.create(agent)
            except (AgentExistsError, ValueError) as exc:
                print(f"confab: {exc}", file=sys.stderr)
                return 1
            print(agent.id)
            return 0
        found = await store.get(owner, args.name)
        if found is None:
            print(f"confab: no agent {args.name!r} for owner {owner!r}", file=sys.stderr)
            return 1
        if args.agents_command == "show":
            secrets: dict[str, Any] = {"llm": {"api_key"}, "webhooks": {"__all__": {"secret", "headers"}}, "mcp_servers": {"__all__": {"env", "headers"}}}
            print(json.dumps(found.model_dump(mode="json", exclude=secrets), indent=2))
            return 0
        try:
            await runtime.memory.forget(found.id)
        except ArchivalStoreError as exc:
            print(f"confab: {found.name} was not deleted: {archival_failure(exc, settings.qdrant_url)}", file=sys.stderr)
            return 1
        await store.delete(owner, found.id)
        print(f"deleted {found.name} ({found.id})")
        return 0

    return asyncio.run(_with_runtime(settings, work))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `confab` command."""
    parser = argparse.ArgumentParser(prog="confab", description="Self-hosted real-time voice agent server")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="where embedded stores keep their data (default ./data)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8765)")

    agents = commands.add_parser("agents", help="manage agents")
    agent_commands = agents.add_subparsers(dest="agents_command", required=True)
    owner = argparse.ArgumentParser(add_help=False, parents=[common])
    owner.add_argument("--owner", help="the owner whose agents to manage")
    agent_commands.add_parser("list", parents=[owner], help="list agents")
    create = agent_commands.add_parser("create", parents=[owner], help="create an agent")
    create.add_argument("name")
    create.add_argument("--prompt", help="the persona / system prompt")
    create.add_argument("--model", help="the model name (default: the server's CONFAB_LLM_MODEL)")
    create.add_argument("--base-url", help="an OpenAI-compatible endpoint for this agent")
    create.add_argument("--tool", action="append", help="a Python tool as module:function (repeatable)")
    create.add_argument("--timezone", default="UTC", help="IANA timezone, e.g. Europe/Paris")
    create.add_argument("--strict", action="store_true", help="use strict JSON schemas for tool calls")
    create.add_argument("--caller-block", action="append", default=[], metavar="LABEL",
                        help="a custom memory block each caller has their own of, like `human` (repeatable)")
    tools_cli.add_create_options(create)
    for name in ("show", "delete"):
        sub = agent_commands.add_parser(name, parents=[owner], help=f"{name} an agent")
        sub.add_argument("name", help="agent name or id")
    add_commands(commands, owner, common)
    tools_cli.add_commands(commands, owner)
    twiml.add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `confab` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings(args)
    except ValidationError as exc:
        print(f"confab: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        code = asyncio.run(_serve(settings))
        # Everything is closed and flushed by now. The interpreter's last garbage collection would
        # walk every object torch and the other model libraries made (~4 s on 2 cores): skip it.
        gc.freeze()
        return code
    if args.command == "twiml":
        return twiml.print_twiml(args, settings)
    if args.command == "memory":
        owner = _owner(args, settings)
        return asyncio.run(_with_runtime(settings, lambda runtime: run_memory(args, runtime, owner)))
    if args.command == "callers":
        owner = _owner(args, settings)
        return asyncio.run(_with_runtime(settings, lambda runtime: run_callers(args, runtime, owner)))
    if args.command == "jobs":
        return asyncio.run(_with_runtime(settings, lambda runtime: run_jobs(args, runtime)))
    if args.command == "tools":
        owner = _owner(args, settings)
        return asyncio.run(_with_runtime(settings, lambda runtime: tools_cli.run_tools(args, runtime, owner)))
    return _agents(args, settings)


if __name__ == "__main__":
    sys.exit(main())
