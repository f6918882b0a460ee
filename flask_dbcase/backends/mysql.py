"""MySQL and MariaDB: databases marked with a comment (MariaDB only), named locks."""

from __future__ import annotations

import typing as t

from .base import Backend
from .base import first_row
from .base import Identity
from .base import MARK


class MySQLBackend(Backend):
    name = "mysql"
    max_name = 64

    @classmethod
    def identify(cls, dbapi_connection: t.Any) -> Identity:
        # Neither query reads a transactional table, so no transaction begins.
        if _is_mariadb(dbapi_connection):
            row = first_row(
                dbapi_connection,
                "SELECT DATABASE(), (SELECT schema_comment FROM"
                " information_schema.schemata WHERE schema_name = DATABASE())",
            )
            return Identity(cls.name, row[0] or "", row[1] == MARK)
        row = first_row(dbapi_connection, "SELECT DATABASE()")
        return Identity(cls.name, row[0] or "", False)

    @classmethod
    def foreign_schema(cls, schema: str) -> bool:
        return True  # a schema is a database

    @property
    def marks(self) -> bool:  # type: ignore[override]
        # MySQL keeps no comment on a database.
        return bool(getattr(self.connection.dialect, "is_mariadb", False))

    def server_id(self) -> t.Hashable:
        row = self.connection.exec_driver_sql(
            "SELECT @@hostname, @@port, @@datadir"
        ).one()
        return (self.name, *row)

    def exists(self, name: str) -> bool:
        sql = "SELECT 1 FROM information_schema.schemata WHERE schema_name = %(name)s"
        return bool(self.scalars(sql, name=name))

    def marked(self) -> list[str]:
        if not self.marks:
            return []
        return self.scalars(
            "SELECT schema_name FROM information_schema.schemata"
            " WHERE schema_comment = %(mark)s",
            mark=MARK,
        )

    def create(self, name: str, template: str | None = None) -> None:
        comment = f" COMMENT '{MARK}'" if self.marks else ""
        self.connection.exec_driver_sql(f"CREATE DATABASE {self.quote(name)}{comment}")

    def drop(self, name: str) -> None:
        self.connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {self.quote(name)}")

    def try_lock(self, key: str) -> bool:
        return bool(self.scalars("SELECT GET_LOCK(%(key)s, 0)", key=key)[0] == 1)

    def unlock(self, key: str) -> None:
        self.scalars("SELECT RELEASE_LOCK(%(key)s)", key=key)

    def grant(self, user: str) -> str:
        return f"\"GRANT ALL PRIVILEGES ON `test\\_%`.* TO '{user}'@'%';\""


def _is_mariadb(dbapi_connection: t.Any) -> bool:
    # From the server's greeting, which the driver keeps: no round trip.
    info = getattr(dbapi_connection, "get_server_info", None)
    return callable(info) and "mariadb" in str(info()).lower()
