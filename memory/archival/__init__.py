"""Archival (long-term) memory: passages with embeddings in Qdrant, searched per agent.

Two implementations of one `ArchivalStore` interface: `EdgeArchivalStore` (Qdrant Edge,
in-process, the embedded default) and `QdrantClientArchivalStore` (a Qdrant server or
cluster, for scale-out). `open_archival_store` picks one from the configuration.
"""

from memory.archival.client import DEFAULT_COLLECTION, QdrantClientArchivalStore
from memory.archival.edge import EdgeArchivalStore
from memory.archival.factory import EDGE_DIRECTORY, open_archival_store
from memory.archival.models import Passage, ScoredPassage
from memory.archival.records import KNOWLEDGE
from memory.archival.store import ArchivalStore, ArchivalStoreClosedError, ArchivalStoreError

__all__ = [
    "DEFAULT_COLLECTION",
    "EDGE_DIRECTORY",
    "KNOWLEDGE",
    "ArchivalStore",
    "ArchivalStoreClosedError",
    "ArchivalStoreError",
    "EdgeArchivalStore",
    "Passage",
    "QdrantClientArchivalStore",
    "ScoredPassage",
    "open_archival_store",
]
