"""The items of one Realtime session a client can retrieve or delete, and what each holds in the model's context."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from openai.types.realtime import ConversationItem

ITEMS_KEPT = 512  # the most recent items a client can still retrieve or delete


@dataclass(frozen=True)
class LedgerEntry:
    """One item as last announced, and the stored messages it stands for.

    `message_id` (a user's text) or `response_id` (an assistant answer, with its server-side tool
    steps) say what deleting it takes out of the context; neither set means it cannot be deleted
    (a spoken user turn, or a tool call and its output, which only make sense together).
    """

    item: ConversationItem
    message_id: str | None = None
    response_id: str | None = None

    @property
    def deletable(self) -> bool:
        """Whether deleting the item can take it out of the model's context."""
        return self.message_id is not None or self.response_id is not None


@dataclass
class ItemLedger:
    """The session's recent items in order, by id."""

    _entries: OrderedDict[str, LedgerEntry] = field(default_factory=OrderedDict)

    def record(self, entry: LedgerEntry) -> None:
        """Keep (or replace) an item, forgetting the oldest beyond `ITEMS_KEPT`."""
        item_id = entry.item.id or ""
        self._entries[item_id] = entry
        while len(self._entries) > ITEMS_KEPT:
            self._entries.popitem(last=False)

    def get(self, item_id: str) -> LedgerEntry | None:
        """The entry of `item_id`, if it is a recent item."""
        return self._entries.get(item_id)

    def remove(self, item_id: str) -> str | None:
        """Forget `item_id`; returns the id of the item now last (for the next `previous_item_id`)."""
        del self._entries[item_id]
        return next(reversed(self._entries), None)
