"""SQLite: test databases are files in a folder of flask_dbcase's own, marked in
their header; locks are file locks beside them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import tempfile
import typing as t
import urllib.parse

import sqlalchemy as sa

from .base import Backend
from .base import first_row
from .base import Identity
from .base import TestDatabaseError

#: The ``application_id`` flask_dbcase writes in the header of the files it
#: creates: ``fdbc``.
APPLICATION_ID = 0x66646263


def folder() -> str:
    """The folder of this user's test databases, in the temporary directory."""
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    # Without symbolic links (macOS's /tmp is one), as the server names files.
    path = os.path.realpath(os.path.join(tempfile.gettempdir(), f"flask_dbcase-{uid}"))
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def is_marked(path: str) -> bool:
    """Tell whether the file at ``path`` is a database flask_dbcase created."""
    try:
        with open(path, "rb") as file:
            header = file.read(72)
    except OSError:
        return False
    return len(header) == 72 and int.from_bytes(header[68:72], "big") == APPLICATION_ID


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, url: sa.URL, label: str) -> None:
        super().__init__(url, label)
        self.folder = folder()
        self._locks: dict[str, tuple[str, t.IO[str]]] = {}

    @classmethod
    def identify(cls, dbapi_connection: t.Any) -> Identity:
        row = first_row(
            dbapi_connection,
            "SELECT (SELECT file FROM pragma_database_list WHERE name = 'main'),"
            " (SELECT application_id FROM pragma_application_id)",
        )
        path = os.path.realpath(row[0]) if row[0] else ""
        return Identity(cls.name, path, row[1] == APPLICATION_ID)

    @classmethod
    def path(cls, url: sa.URL) -> str:
        """The real path of the file of ``url``, in either of SQLite's forms:
        a file name, or a ``file:`` URI (with ``uri=true``)."""
        name = url.database or ""
        if name.startswith("file:"):
            name = urllib.parse.unquote(urllib.parse.urlsplit(name).path)
        return os.path.realpath(name)

    @classmethod
    def derive(cls, url: sa.URL) -> sa.URL:
        path = cls.path(url)
        # Projects that share a file name must not share a test database.
        digest = hashlib.sha256(path.encode()).hexdigest()[:8]
        stem, ext = os.path.splitext(os.path.basename(path))
        derived = os.path.join(folder(), f"test_{stem}-{digest}{ext}")
        return cls._with_path(url, derived)

    @classmethod
    def foreign_schema(cls, schema: str) -> bool:
        return schema not in ("main", "temp")  # an attached database

    @classmethod
    def numbered(cls, url: sa.URL, number: int) -> sa.URL:
        if number == 1:
            return url
        stem, ext = os.path.splitext(cls.path(url))
        return cls._with_path(url, f"{stem}_{number}{ext}")

    @classmethod
    def _with_path(cls, url: sa.URL, path: str) -> sa.URL:
        """``url`` naming the file at ``path``, in the form ``url`` uses."""
        if (url.database or "").startswith("file:"):
            path = "file:" + urllib.parse.quote(path)
        return url.set(database=path)

    def server_id(self) -> t.Hashable:
        return (self.name,)

    def exists(self, name: str) -> bool:
        return os.path.exists(name)

    def marked(self) -> list[str]:
        names = (os.path.join(self.folder, name) for name in os.listdir(self.folder))
        return [name for name in names if is_marked(name)]

    def is_marked(self, name: str) -> bool:
        return is_marked(name)

    def create(self, name: str, template: str | None = None) -> None:
        try:
            connection = sqlite3.connect(name)
            try:
                connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                connection.commit()
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise TestDatabaseError(
                f"{self.label} cannot create its test database {name!r}: {error}."
                " Check that the temporary directory is writable, or point TMPDIR"
                " at one that is."
            ) from None

    def drop(self, name: str) -> None:
        for path in (name, f"{name}-journal", f"{name}-wal", f"{name}-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)

    def try_lock(self, key: str) -> bool:
        import fcntl

        path = os.path.join(self.folder, f"{key.rpartition(':')[2]}.lock")
        while True:
            try:
                lock = open(path, "a")  # noqa: SIM115 kept open while held
            except FileNotFoundError:
                # A process that ended removed the folder, empty: make it again.
                os.makedirs(self.folder, mode=0o700, exist_ok=True)
                continue
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                return False
            try:
                current = os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino
            except FileNotFoundError:
                current = False
            if current:
                self._locks[key] = (path, lock)
                return True
            # Its holder removed the file as we opened it: lock the next one.
            lock.close()

    def unlock(self, key: str) -> None:
        path, lock = self._locks.pop(key)
        # Removed while still locked, so that nobody can lock the old file after.
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        lock.close()

    def close(self) -> None:
        for key in list(self._locks):
            self.unlock(key)
        # Left empty, the folder goes too; a file or a lock of another process
        # in it keeps it.
        with contextlib.suppress(OSError):
            os.rmdir(self.folder)
