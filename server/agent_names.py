"""Which agent a client's `model` names: an agent's own name or id, or an OpenAI model name meaning the default agent.

Clients written for OpenAI hard-code model names (`gpt-realtime`, `gpt-4o-realtime-preview`,
`gpt-4o-mini`...). Such a name that is not also one of the owner's agents picks the owner's
default agent (`CONFAB_DEFAULT_AGENT`, `default` unless configured), so they work unchanged.
Every front end (Realtime, client secrets, chat completions) resolves `model` through here.
"""

from __future__ import annotations

import re

from memory.agents import AgentStore
from memory.records import AgentRecord

_OPENAI_MODEL = re.compile(r"(gpt|chatgpt)-[a-z0-9][a-z0-9.-]*|o[1-9](-[a-z0-9][a-z0-9-]*)?")


def is_openai_model_name(name: str) -> bool:
    """Whether `name` looks like one of OpenAI's model names (`gpt-realtime`, `gpt-4o-mini`, `o3`...)."""
    return _OPENAI_MODEL.fullmatch(name) is not None


async def resolve_agent(agents: AgentStore, owner: str, model: str | None, default_agent: str) -> AgentRecord | None:
    """The owner's agent that `model` names, or None when it names none.

    An agent of that name (or id) wins; no `model`, or an OpenAI model name that is no agent's
    name, means the owner's `default_agent` (the one named `default` is created on first use).
    """
    if model is not None and model != default_agent:
        agent = await agents.get(owner, model)
        if agent is not None or not is_openai_model_name(model):
            return agent
    return await agents.resolve(owner, default_agent)
