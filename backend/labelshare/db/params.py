"""Lists bound into ``IN (...)``.

SQLAlchemy renders one placeholder per item, so each length of list is a different statement,
which every pooled connection prepares and keeps (sqlite3 caches 128 statements a connection).
Lists whose length changes with the data (the tasks a review pass looks at, a page of epochs) made
hundreds of distinct statements, some of hundreds of placeholders, that kept evicting one another
from those caches to be prepared again (the soak: 442 distinct statements in 5 minutes, still
rising; 203 with the padding, level). Padding a list to the next power of two, by repeating its
last item, leaves the result unchanged and the statement one of a few shapes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

__all__ = ["in_values"]

T = TypeVar("T")


def in_values(values: Iterable[T]) -> list[T]:
    """``values`` as a list padded to a power-of-two length with copies of its last item."""
    items = list(values)
    if len(items) > 1:
        items += [items[-1]] * ((1 << (len(items) - 1).bit_length()) - len(items))
    return items
