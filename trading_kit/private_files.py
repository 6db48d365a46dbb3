"""Files that hold account data are created readable and writable by their owner only."""

from __future__ import annotations

import os


def create_private(path: str | os.PathLike[str]) -> None:
    """Create ``path`` (if missing) readable and writable by its owner only (0600).

    The HTTP cache, the order journal and the exchange's state hold account data, so
    each is created private before SQLite opens it; SQLite gives its ``-wal`` and
    ``-shm`` files the same mode as the database.
    """
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
