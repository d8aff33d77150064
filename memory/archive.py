"""Archival memory as agents use it: texts in, texts out; the embedder and the Qdrant store behind one object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from memory.archival import ArchivalStore, Passage, ScoredPassage, open_archival_store
from memory.archival.factory import EDGE_DIRECTORY
from memory.embedders import DEFAULT_DIM, Embedder, OpenAIEmbedder, SentenceTransformerEmbedder

EmbedderKind = Literal["sentence-transformers", "openai"]


@dataclass(frozen=True)
class ArchivalConfig:
    """Where passages are stored and how texts are embedded."""

    data_dir: Path
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    embedder: EmbedderKind = "sentence-transformers"
    embedding_model: str | None = None
    embedding_dim: int = DEFAULT_DIM
    embedding_base_url: str | None = None
    embedding_api_key: str | None = None

    @property
    def store_description(self) -> str:
        """Where the passages live, for banners and readiness."""
        if self.qdrant_url:
            return f"Qdrant at {self.qdrant_url}"
        return f"Qdrant Edge (in-process) at {self.data_dir / EDGE_DIRECTORY}"

    @property
    def embedder_description(self) -> str:
        """Which embedding model is used, for banners."""
        if self.embedder == "openai":
            return f"{self.embedding_model} at {self.embedding_base_url or 'https://api.openai.com/v1'} ({self.embedding_dim} dims)"
        return f"{self.embedding_model or 'all-MiniLM-L6-v2 (bundled)'} on CPU ({self.embedding_dim} dims)"

    async def open_store(self, dim: int) -> ArchivalStore:
        """Open the configured store for `dim`-dimensional vectors."""
        return await open_archival_store(
            data_dir=self.data_dir, dim=dim, qdrant_url=self.qdrant_url, qdrant_api_key=self.qdrant_api_key
        )

    def build_embedder(self) -> Embedder:
        """The configured embedder (nothing loaded yet)."""
        if self.embedder == "openai":
            if not self.embedding_model:
                raise ValueError("the openai embedder needs an embedding model name (CONFAB_EMBEDDING_MODEL)")
            return OpenAIEmbedder(
                model=self.embedding_model, dim=self.embedding_dim,
                base_url=self.embedding_base_url, api_key=self.embedding_api_key,
            )
        return SentenceTransformerEmbedder(self.embedding_model, dim=self.embedding_dim)


@dataclass
class ArchivalMemory:
    """Embeds and stores passages, and searches them by meaning within one agent and the scopes asked for."""

    store: ArchivalStore
    embedder: Embedder
    description: str = "archival memory"

    @classmethod
    async def open(cls, config: ArchivalConfig, embedder: Embedder | None = None) -> ArchivalMemory:
        """Load the embedder (off the event loop) and open the store; `embedder` overrides the configured one."""
        model = embedder or config.build_embedder()
        await model.warm()
        return cls(await config.open_store(model.dim), model, config.store_description)

    async def insert(self, passages: Sequence[Passage]) -> list[str]:
        """Embed each passage's text and store it; returns the ids (re-inserting an id replaces it)."""
        vectors = await self.embedder.embed([p.text for p in passages])
        return await self.store.insert(passages, vectors)

    async def search(
        self, agent_id: str, query: str, *, scopes: Sequence[str], limit: int = 5,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[ScoredPassage]:
        """The agent's passages of `scopes` (e.g. `Conversation.scopes`) closest in meaning to `query`,
        created within [start, end], best first."""
        if not scopes:
            raise ValueError("an archival search needs the scopes it may look in")
        [vector] = await self.embedder.embed([query])
        return await self.store.search(agent_id, vector, limit=limit, start=start, end=end, scopes=scopes)

    async def count(self, agent_id: str, scopes: Sequence[str] = ()) -> int:
        """How many passages the agent has (in `scopes` only, when given)."""
        return await self.store.count(agent_id, scopes)

    async def delete_scope(self, agent_id: str, scope: str) -> int:
        """Forget the agent's passages of one scope (a conversation); how many there were."""
        return await self.store.delete_scope(agent_id, scope)

    async def healthy(self) -> bool:
        """Whether the store answers."""
        return await self.store.healthy()

    async def close(self) -> None:
        """Close the store and the embedder."""
        await self.store.close()
        await self.embedder.close()
