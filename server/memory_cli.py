"""`confab memory ...` and `confab jobs ...`: look into and edit agents' memory and the job queue."""

from __future__ import annotations

import argparse
import json
import sys

from memory.archival import KNOWLEDGE, ArchivalStoreError, Passage
from memory.archive import ArchivalMemory
from memory.archive_requests import NoServerAnswered, RemoteArchive
from memory.conversations import CallerIdError, Conversation
from memory.records import AgentRecord
from server.runtime import Runtime

EDGE_IN_USE = (
    "The embedded archival store (Qdrant Edge) can be open in one process at a time, and another one "
    "(a running `confab serve` on this data directory) holds it. Stop that process first, or run a "
    "Qdrant server and set QDRANT_URL so that every server and the CLI share it."
)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    owner: argparse.ArgumentParser,
    common: argparse.ArgumentParser,
) -> None:
    """Register the `memory` and `jobs` subcommands."""
    memory = commands.add_parser("memory", help="inspect and edit an agent's memory")
    sub = memory.add_subparsers(dest="memory_command", required=True)
    caller = argparse.ArgumentParser(add_help=False, parents=[owner])
    caller.add_argument("agent", help="agent name or id")
    caller.add_argument("--caller", help="the caller whose conversation to use (default: only what the agent shares)")
    sub.add_parser("show", parents=[caller], help="blocks, context buffer and memory counts")
    search = sub.add_parser("search", parents=[caller], help="search archival memory by meaning")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=5)
    insert = sub.add_parser("insert", parents=[caller], help="archive a passage (agent-wide knowledge without --caller)")
    insert.add_argument("text")
    insert.add_argument("--tag", action="append", default=[], help="a tag for the passage (repeatable)")
    edit = sub.add_parser("set", parents=[caller], help="write a memory block (persona, human or a custom label)")
    edit.add_argument("label")
    edit.add_argument("text")
    edit.add_argument("--limit", type=int, help="the block's character limit (default: keep it)")
    forget = sub.add_parser("forget", parents=[owner], help="erase one caller's history, blocks, passages and queued jobs")
    forget.add_argument("agent", help="agent name or id")
    forget.add_argument("--caller", required=True, help="the caller to forget")

    callers = commands.add_parser("callers", help="who talks to an agent")
    callers_sub = callers.add_subparsers(dest="callers_command", required=True)
    listing = callers_sub.add_parser("list", parents=[owner], help="an agent's callers, most recent first")
    listing.add_argument("agent", help="agent name or id")

    jobs = commands.add_parser("jobs", help="the background job queue")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_sub.add_parser("list", parents=[common], help="queued, running and parked jobs")
    replay = jobs_sub.add_parser("replay", parents=[common], help="put parked jobs back in the queue")
    replay.add_argument("ids", nargs="*", help="dead-letter ids (from `jobs list`)")
    replay.add_argument("--all", action="store_true", help="replay every parked job")


def _fail(message: str) -> int:
    print(f"confab: {message}", file=sys.stderr)
    return 1


def archival_failure(exc: ArchivalStoreError, qdrant_url: str | None) -> str:
    """Why archival memory could not be opened, and what to do about it."""
    hint = f" {EDGE_IN_USE}" if qdrant_url is None else ""
    return f"cannot open archival memory: {exc}.{hint}"


async def _archive(runtime: Runtime) -> ArchivalMemory | RemoteArchive | str:
    """Archival memory opened here, or through the running server that holds the embedded store, or why neither."""
    try:
        return await runtime.memory.open_archive()
    except ArchivalStoreError as exc:
        if runtime.settings.qdrant_url is not None:
            return archival_failure(exc, runtime.settings.qdrant_url)
    return RemoteArchive(runtime.redis, runtime.memory.requests, runtime.settings.cli_server_timeout_s)


async def run_memory(args: argparse.Namespace, runtime: Runtime, owner: str) -> int:
    """Run one `confab memory` subcommand."""
    agent = await runtime.agents.get(owner, args.agent)
    if agent is None:
        return _fail(f"no agent {args.agent!r} for owner {owner!r}")
    try:
        conversation = await _conversation(runtime, agent, args.caller, create=args.memory_command in ("set", "insert"))
    except CallerIdError as exc:
        return _fail(f"--caller: {exc}")
    if args.caller is not None and conversation is None:
        return _fail(f"agent {agent.name} has no conversation with that caller")
    if args.memory_command == "show":
        return await _show(runtime, agent, conversation)
    if args.memory_command == "forget":
        return await _forget(runtime, agent, conversation)
    if args.memory_command == "set":
        try:
            block = await runtime.memory.blocks.set(agent, conversation, args.label, args.text, args.limit)
        except ValueError as exc:  # BlockLimitError, CallerRequiredError, or a label that is not a valid block name
            return _fail(str(exc))
        print(f"{block.label}: {len(block.value)}/{block.limit} characters")
        return 0
    archive = await _archive(runtime)
    if isinstance(archive, str):
        return _fail(archive)
    try:
        return await _archival_command(args, agent, conversation, archive)
    except NoServerAnswered as exc:
        return _fail(f"{exc}. {EDGE_IN_USE}")


async def _archival_command(
    args: argparse.Namespace, agent: AgentRecord, conversation: Conversation | None, archive: ArchivalMemory | RemoteArchive
) -> int:
    if args.memory_command == "insert":
        owned_by = conversation.id if conversation is not None else None
        [passage_id] = await archive.insert([Passage(agent_id=agent.id, conversation_id=owned_by, text=args.text, tags=args.tag)])
        print(passage_id)
        return 0
    for hit in await archive.search(agent.id, args.query, scopes=_scopes(conversation), limit=args.limit):
        print(f"{hit.score:.3f}\t{hit.passage.created_at.isoformat(timespec='seconds')}\t{hit.passage.text}")
    return 0


async def _conversation(runtime: Runtime, agent: AgentRecord, caller: str | None, create: bool) -> Conversation | None:
    """The caller's conversation (registered first when `create`), or None without a caller or when it never existed."""
    if caller is None:
        return None
    conversations = runtime.memory.conversations
    return await conversations.open(agent, caller) if create else await conversations.find(agent, caller)


def _scopes(conversation: Conversation | None) -> tuple[str, ...]:
    """What an operator's search sees: the caller's passages and the knowledge, or the knowledge only."""
    return conversation.scopes if conversation is not None else (KNOWLEDGE,)


async def _forget(runtime: Runtime, agent: AgentRecord, conversation: Conversation | None) -> int:
    assert conversation is not None  # --caller is required, and unknown callers were refused
    archive = await _archive(runtime)
    if isinstance(archive, str):
        return _fail(archive)
    try:
        erased = await runtime.memory.forget_caller(conversation, archive)
    except NoServerAnswered as exc:
        return _fail(f"nothing of the caller's archival passages was erased: {exc}")
    print(f"forgot caller {conversation.label} of {agent.name}: {erased.describe()}")
    return 0


async def run_callers(args: argparse.Namespace, runtime: Runtime, owner: str) -> int:
    """`confab callers list AGENT`: caller, conversation id, last seen and message count, most recent first."""
    agent = await runtime.agents.get(owner, args.agent)
    if agent is None:
        return _fail(f"no agent {args.agent!r} for owner {owner!r}")
    for record in await runtime.memory.conversations.list(agent):
        messages = await runtime.messages.count(record.conversation_id)
        print(f"{record.caller_id or '(anonymous)'}\t{record.conversation_id}\t{record.last_seen}\t{messages} messages")
    return 0


async def _show(runtime: Runtime, agent: AgentRecord, conversation: Conversation | None) -> int:
    memory = runtime.memory
    print(f"agent {agent.name} ({agent.id}), owner {agent.owner}, timezone {agent.timezone}")
    if conversation is not None:
        print(f"caller {conversation.label} (conversation {conversation.id})")
    print("blocks:")
    for block in await memory.blocks.list(agent, conversation):
        print(f"  [{block.label}] {len(block.value)}/{block.limit} characters")
        for line in block.value.splitlines() or [""]:
            print(f"    {line}")
    archive = await _archive(runtime)
    try:
        count: int | str = await archive.count(agent.id, _scopes(conversation)) if not isinstance(archive, str) else f"unavailable ({archive})"
    except NoServerAnswered as exc:
        count = f"unavailable ({exc})"
    print(f"archived passages: {count}")
    if conversation is None:
        print(f"callers: {len(await memory.conversations.list(agent))} (see `confab callers list`; add --caller ID for one)")
        return 0
    buffer = await runtime.messages.buffer(conversation.id)
    limits = memory.trimmer.limits
    print(f"messages: {await runtime.messages.count(conversation.id)} in history, {len(buffer)} in context "
          f"(trimmed to about {limits.min_length} above {limits.max_length})")
    print("context buffer:")
    for message in buffer:
        text = message.content or " ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
        print(f"  {message.role}{' (hidden)' if message.hidden else ''}: {text}")
    return 0


def _agent_of(payload: str) -> str:
    try:
        return str(json.loads(payload).get("agent_id", "?"))
    except (ValueError, AttributeError):
        return "?"


async def run_jobs(args: argparse.Namespace, runtime: Runtime) -> int:
    """Run one `confab jobs` subcommand."""
    queue = runtime.memory.jobs
    if args.jobs_command == "replay":
        if not args.ids and not args.all:
            return _fail("name the dead-letter ids to replay (see `confab jobs list`), or pass --all")
        replayed = await queue.replay(None if args.all else args.ids)
        print(f"replayed {len(replayed)} job(s)")
        return 0 if replayed or args.all else _fail("no parked job has those ids")
    pending = {p.id: p for p in await queue.pending()}
    queued = await queue.queued()
    print(f"queued: {len(queued)}")
    for job in queued:
        state = "waiting"
        if job.id in pending:
            p = pending[job.id]
            state = f"taken by {p.consumer}, idle {p.idle_ms / 1000:.1f} s, delivered {p.deliveries}x"
        print(f"  {job.id}\t{job.kind}\tagent {_agent_of(job.payload)}\t{state}")
    dead = await queue.dead()
    print(f"parked (dead letters): {len(dead)}")
    for job in dead:
        print(f"  {job.id}\t{job.kind}\tagent {_agent_of(job.payload)}\t{job.attempts} attempts\t{job.failed_at}\t{job.error}")
    return 0
