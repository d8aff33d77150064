"""Redis key names, in one place so every store agrees on them."""

PREFIX = "confab"


def agent(agent_id: str) -> str:
    """The agent record (JSON)."""
    return f"{PREFIX}:agent:{agent_id}"


def agent_names(owner: str) -> str:
    """Hash of agent name -> id for one owner."""
    return f"{PREFIX}:agent-names:{owner}"


def message(message_id: str) -> str:
    """One message record (JSON)."""
    return f"{PREFIX}:msg:{message_id}"


def history(conversation_id: str) -> str:
    """List of every message id of a conversation, oldest first."""
    return f"{PREFIX}:history:{conversation_id}"


def buffer(conversation_id: str) -> str:
    """List of the message ids in a conversation's context window, oldest first."""
    return f"{PREFIX}:buffer:{conversation_id}"


def blocks(agent_id: str) -> str:
    """Hash of block label -> memory block (JSON): the blocks an agent shares with all its callers."""
    return f"{PREFIX}:blocks:{agent_id}"


def caller_blocks(conversation_id: str) -> str:
    """Hash of block label -> memory block (JSON): one conversation's own blocks (`human`, ...)."""
    return f"{PREFIX}:caller-blocks:{conversation_id}"


def conversations(agent_id: str) -> str:
    """Hash of conversation id -> caller record (JSON) of one agent."""
    return f"{PREFIX}:conversations:{agent_id}"


def jobs() -> str:
    """The stream of background jobs (sleeptime runs), read by a consumer group."""
    return f"{PREFIX}:jobs"


def requests() -> str:
    """The stream of operators' archival requests, read by its own workers so they never wait behind jobs."""
    return f"{PREFIX}:requests"


def dead_requests() -> str:
    """Archival requests that could not be run (parked like dead jobs)."""
    return f"{PREFIX}:requests:dead"


def dead_jobs() -> str:
    """The stream where jobs that kept failing are parked for an operator to see and replay."""
    return f"{PREFIX}:jobs:dead"


def responding(conversation_id: str) -> str:
    """The id of the response a conversation is generating now (with a TTL), if any."""
    return f"{PREFIX}:responding:{conversation_id}"


def caller_token_secret() -> str:
    """The secret Twilio caller tokens are signed with (when none is configured)."""
    return f"{PREFIX}:secret:caller-token"


def reply(reply_to: str) -> str:
    """Where the answer to one queued request is pushed (a random name only the requester knows)."""
    return f"{PREFIX}:reply:{reply_to}"
