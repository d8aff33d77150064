"""Finding things again: keyword search, archival search of long and vague inputs, on real Redis, Qdrant Edge and MiniLM."""

from __future__ import annotations

from redis.asyncio import Redis

from agent.tools.search_memory import search_memory_tool
from memory.archival import Passage
from memory.archive import ArchivalMemory
from memory.conversations import Conversation
from memory.messages import MessageStore
from memory.records import AgentRecord, MessageRecord
from tests.memory.test_search_memory import archive, messages  # noqa: F401  (real stores, emptied per test)

AGENT = AgentRecord(owner="acme", name="support")
ADA = Conversation.of(AGENT, "+15550001111")


async def _say(messages: MessageStore, *texts: str) -> None:
    await messages.append([MessageRecord(conversation_id=ADA.id, role="user", content=t) for t in texts])


async def _keyword_results(messages: MessageStore, archive: ArchivalMemory, *keywords: str) -> dict[str, list[str]]:
    result = await search_memory_tool(AGENT, ADA, messages, archive).run({"convo_keyword_queries": list(keywords)})
    return result["convo_keyword_search_results"]


async def test_keyword_search_does_not_return_the_question_being_asked(messages: MessageStore, archive: ArchivalMemory) -> None:
    await _say(messages, "My neighbour Tom fixed the fence.", "What did Tom fix?")
    assert await _keyword_results(messages, archive, "Tom") == {"Tom": ["My neighbour Tom fixed the fence."]}


async def test_keyword_search_matches_whole_words_only(messages: MessageStore, archive: ArchivalMemory) -> None:
    await _say(messages, "See you tomorrow.", "Tom's car is red.", "Anything about him?")
    assert await _keyword_results(messages, archive, "tom") == {"tom": ["Tom's car is red."]}


async def test_keyword_search_finds_what_a_tool_returned(messages: MessageStore, archive: ArchivalMemory) -> None:
    result = '{"result": {"order_id": "A-7731", "status": "shipped"}}'
    await messages.append([MessageRecord(conversation_id=ADA.id, role="tool", content=result, tool_call_id="c1", tool_name="lookup_order")])
    await _say(messages, "Which order was that?")
    assert await _keyword_results(messages, archive, "A-7731") == {"A-7731": [result]}


async def test_a_keyword_nobody_said_reads_a_bounded_part_of_a_long_history(redis_url: str, messages: MessageStore) -> None:
    await _say(messages, "The boat is called Petrel.")
    await _say(messages, *(f"filler line {i}" for i in range(1500)))
    client = Redis.from_url(redis_url)
    before = int((await client.info("commandstats"))["cmdstat_mget"]["calls"])
    assert await messages.search(ADA.id, "Petrel") == []
    reads = int((await client.info("commandstats"))["cmdstat_mget"]["calls"]) - before
    await client.aclose()
    assert reads == 5  # 5 pages of 200: the newest 1000 messages


async def test_the_end_of_a_passage_longer_than_minilm_reads_is_still_found(archive: ArchivalMemory) -> None:
    lines = [f"user: I spent day {i} of the trip walking around the old town and eating pastries." for i in range(30)]
    text = "\n".join(["Ada's long holiday in Lisbon", *lines, "user: My locker code at the gym is 9182."])
    await archive.insert([Passage(agent_id=AGENT.id, conversation_id=ADA.id, text=text)])
    [best] = await archive.search(AGENT.id, "What is my gym locker code?", scopes=ADA.scopes, limit=1)
    assert best.passage.text.startswith("Ada's long holiday in Lisbon\n") and best.passage.text.endswith("9182.")
    counts = await archive.embedder.token_counts([best.passage.text])
    assert counts[0] <= archive.embedder.max_tokens == 254


async def test_a_vague_utterance_brings_back_no_passages(messages: MessageStore, archive: ArchivalMemory) -> None:
    await archive.insert([
        Passage(agent_id=AGENT.id, conversation_id=ADA.id, text=t) for t in (
            "Ada told the assistant about her dog\nuser: My dog is called Biscuit.",
            "Ada moved to Porto in February 2026\nuser: I moved to Porto last month.",
            "Ada's gate code\nuser: please remember my gate code is 4412",
            "Ada's sister Grace visits in June\nuser: My sister Grace is visiting in June.",
            "Ada likes green tea\nuser: I only drink green tea, no coffee.",
        )
    ])
    await _say(messages, "yeah")
    result = await search_memory_tool(AGENT, ADA, messages, archive).run({})
    assert result["archival_search_results"] == []
