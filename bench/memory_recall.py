"""Memory recall: does what a caller said (or a tool returned) in a long call come back in the next call?

A held-out scripted conversation (not used to tune anything): 60 turns with 10 planted facts,
two of them returned by tools and two said with relative dates, the rest small talk. Then,
in a new call, 10 recall questions, each answered with `search_memory`. Everything is real
(server, embedded Redis, Qdrant Edge, the bundled all-MiniLM-L6-v2) except the language model:
the voice model is scripted, and the sleeptime model is a scripted stand-in for a model's
judgement: it archives the (Older) lines in chunks of four and copies into the `human` block
each caller line that says something about the caller ("my", "I'm", "I "), with the date.

It prints, per fact, whether it reached the `human` block and/or an archived passage, and
whether `search_memory` returned it among its top 5 for the recall question (recall@5).

Run: .venv/bin/python bench/memory_recall.py
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memory.blocks import BlockStore  # noqa: E402
from memory.conversations import Conversation  # noqa: E402
from memory.jobs import JobQueue  # noqa: E402
from memory.records import AgentRecord  # noqa: E402
from server.app import Gateway  # noqa: E402
from server.config import Settings  # noqa: E402
from server.runtime import Runtime  # noqa: E402
from tests.fakes.llm_server import Call, Reply, ScriptedLLM, Text, ToolCalls  # noqa: E402
from tests.realtime_client import RealtimeTestClient  # noqa: E402


def lookup_order(email: str) -> dict[str, object]:
    """Find the caller's latest order.

    Args:
        email: The email address the order was placed with.
    """
    return {"order_id": "Q-5521", "status": "shipped", "arrives": "Friday"}


def check_reservation(name: str) -> dict[str, object]:
    """Look up a restaurant reservation.

    Args:
        name: The name the table was booked under.
    """
    return {"confirmation": "RZ-884", "restaurant": "Casa Lisboa", "party": 4}


def _tool(tool: str, **arguments: str) -> ToolCalls:
    return ToolCalls([Call(tool, {"pre_exec_msg": "One moment.", **arguments})])


# (caller says, voice model replies, fact key, recall question)
FACTS: list[tuple[str, list[Reply], str, str]] = [
    ("Hi, I'm Ada Okafor, calling about a few things.", [Text("Hello Ada, how can I help?")], "Okafor", "What's my surname again?"),
    ("My dog is called Biscuit and he hates the rain.", [Text("Poor Biscuit.")], "Biscuit", "What's my dog's name?"),
    ("I moved to Porto last month, still unpacking.", [Text("Welcome to Porto!")], "Porto", "Which city did I move to?"),
    ("Can you check my order? It's under ada@example.com.",
     [_tool("lookup_order", email="ada@example.com"), Text("It has shipped and arrives Friday.")], "Q-5521", "What was my order number?"),
    ("My sister's wedding is next Saturday, I'm nervous.", [Text("How exciting.")], "wedding", "When is my sister's wedding?"),
    ("Please remember my gate code is 4412.", [_tool("memory_insert", text="Gate code: 4412"), Text("Saved.")], "4412", "What's the code for my gate?"),
    ("I'm allergic to penicillin, just so you know.", [Text("Thanks for telling me.")], "penicillin", "Am I allergic to any medicine?"),
    ("Is my dinner booking still on? It's under Okafor.",
     [_tool("check_reservation", name="Okafor"), Text("Yes, your table for four is confirmed.")], "RZ-884", "What's the confirmation code for my dinner reservation?"),
    ("My daughter Lina plays the cello in the school orchestra.", [Text("Lovely.")], "cello", "What instrument does my daughter play?"),
    ("I work as a nurse at Santo Antonio hospital, night shifts.", [Text("That's demanding.")], "nurse", "What's my job?"),
]
FILLER = [
    "The weather is grey again today.", "Did you see the football last night?", "Hmm, let me think.",
    "That sounds about right.", "Okay, what else was there.", "The traffic was terrible this morning.",
    "Coffee is ready, one second.", "Right, right.", "Anyway, where were we?", "The neighbours are loud today.",
]
PLANTED_AT = [0, 3, 7, 11, 15, 20, 24, 29, 34, 40]  # turn numbers; turns after ~45 stay in context
TURNS = 60


class Model:
    """The scripted models: voice requests in order; sleeptime requests answered by a fixed rule."""

    def __init__(self) -> None:
        self.voice: collections.deque[Reply] = collections.deque()
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        if not any(t["function"]["name"] == "store_memories" for t in body.get("tools") or []):
            with self.lock:
                return self.voice.popleft() if self.voice else Text("Mm-hm.")
        request = body["messages"][1]["content"]
        lines = request.split("(Newer) lines stay:\n", 1)[1]
        older = [line for line in lines.split("(Newer)")[0].splitlines()[1:] if line]
        step = sum(1 for m in body["messages"] if m["role"] == "tool")
        if step == 0:
            chunks = [{"start_index": i, "end_index": min(i + 3, len(older) - 1), "context": "Part of a call with the caller"}
                      for i in range(0, len(older), 4)]
            return ToolCalls([Call("store_memories", {"chunks": chunks})])
        if step == 1:
            current = request.split("<human>\n", 1)[1].split("\n</human>", 1)[0]
            said = [re.sub(r"^\d+\. \[(.*?)\] user: ", r"(\1) ", line) for line in lines.splitlines() if "] user: " in line]
            about = [s for s in said if re.search(r"\b(my|I'm|I)\b", s, re.IGNORECASE) and s.split(") ", 1)[1] not in current]
            return ToolCalls([Call("rethink_user_memory", {"new_memory": "\n".join([current, *about]).strip() or "(nothing yet)"})])
        return ToolCalls([Call("finish_rethinking_memory", {})])


async def main() -> None:
    """Hold the conversation, wait for the memory jobs, ask the recall questions, print the figures."""
    model = Model()
    with ScriptedLLM(default=model) as llm, tempfile.TemporaryDirectory(prefix="confab-recall-") as data:
        settings = Settings(host="127.0.0.1", port=0, data_dir=Path(data), llm_base_url=llm.base_url, llm_api_key="bench",
                            llm_model="scripted", speech=False, jobs_poll_s=0.1)
        runtime = Runtime(settings)
        await runtime.start()
        agent = await runtime.agents.create(AgentRecord(
            owner="local", name="recall", tools=["bench.memory_recall:lookup_order", "bench.memory_recall:check_reservation"]
        ))
        gateway = Gateway(runtime)
        await gateway.start()
        url = f"ws://127.0.0.1:{gateway.port}/v1/realtime?model=recall&caller=ada"
        ada = Conversation.of(agent, "ada")
        try:
            started = time.monotonic()
            client = await RealtimeTestClient.open(url)
            planted = dict(zip(PLANTED_AT, FACTS, strict=True))
            for turn in range(TURNS):
                said, replies, *_ = planted.get(turn, (FILLER[turn % len(FILLER)], [Text("Mm-hm.")], "", ""))
                model.voice.extend(replies)
                await client.ask(said)
            await client.close()
            queue = JobQueue(runtime.redis)
            while await queue.queued():
                await asyncio.sleep(0.2)
            conversation_s = time.monotonic() - started
            human = await BlockStore(runtime.redis).get(agent, ada, "human")
            archive = runtime.memory.archive
            assert archive is not None and human is not None
            archived = [h.passage.text for h in await archive.search(agent.id, "the caller", scopes=ada.scopes, limit=1000)]
            client = await RealtimeTestClient.open(url)
            rows = []
            for _, _, key, question in FACTS:
                model.voice.extend([_tool("search_memory"), Text("Here is what I found.")])
                await client.ask(question)
                tool = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"][-1]
                found = json.loads(tool["content"])["result"]["archival_search_results"]
                in_archive = any(key in text for text in archived)
                rank = next((i + 1 for i, r in enumerate(found) if key in r["content"]), None)
                rows.append((key, key in human.value, in_archive, rank, len(found)))
            await client.close()
        finally:
            await gateway.stop()
            await runtime.stop()
    print(f"{TURNS} turns, {len(FACTS)} planted facts, {len(archived)} archived passages; "
          f"conversation + memory jobs took {conversation_s:.1f} s")
    print(f"{'fact':12} {'human block':>11} {'archived':>9} {'recall@5':>9} {'rank':>5} {'hits':>5}")
    for key, in_block, in_archive, rank, hits in rows:
        print(f"{key:12} {'yes' if in_block else 'no':>11} {'yes' if in_archive else 'no':>9} "
              f"{'yes' if rank else 'no':>9} {rank or '-':>5} {hits:>5}")
    kept = sum(1 for _, b, a, _, _ in rows if b or a)
    recalled = sum(1 for *_, rank, _ in rows if rank)
    print(f"facts in the human block or an archived passage: {kept}/{len(rows)}")
    print(f"recall@5 of search_memory: {recalled}/{len(rows)}")


if __name__ == "__main__":
    asyncio.run(main())
