"""Which agent a client's `model` names: an agent's name or id, or an OpenAI model name for the default agent.

OpenAI clients and voice platforms always send a model (`gpt-4o`, `gpt-realtime`, ...), often
one the user never chose; such a name picks the owner's `default` agent unless an agent is
called exactly that.
"""

from __future__ import annotations

import re

from memory.agents import AgentStore
from memory.records import AgentRecord

_OPENAI_MODEL = re.compile(r"(gpt|chatgpt|o[1-9]|codex|computer-use|omni)([-.].*)?", re.IGNORECASE)


def is_openai_model(name: str) -> bool:
    """Whether `name` looks like one of OpenAI's model names."""
    return _OPENAI_MODEL.fullmatch(name) is not None


async def agent_for_model(agents: AgentStore, owner: str, model: str | None) -> AgentRecord | None:
    """The owner's agent named by `model` (name or id), the default one for no name or an OpenAI
    model name, or None."""
    agent = await agents.resolve(owner, model)
    if agent is None and model is not None and is_openai_model(model):
        return await agents.get_or_create_default(owner)
    return agent
