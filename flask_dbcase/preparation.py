"""A test class's databases made ready, in one place: each engine pointed at its
test database (:mod:`.database`), the tables built there (:mod:`.schema`, with the
models or the migrations), and the rows every test starts with written.

:meth:`ClassDatabases.prepare` is the one entry point; it says, by bind, how each
test database came to be: created, cloned, reused (:data:`.database.HOW`).
"""

from __future__ import annotations

import logging
import os
import typing as t

import sqlalchemy as sa

from . import migrations
from .database import check_schemas
from .database import databases
from .database import KEEPDB_ENV
from .database import point_config
from .database import REUSED
from .database import target_of
from .schema import ModelsTemplate
from .schema import reset_all
from .schema import schemas
from .schema import seed_key
from .urls import describe_bind
from .urls import describe_url
from .urls import is_memory_sqlite

if t.TYPE_CHECKING:
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    from .testcase import DatabaseTestCase

#: Says, at ``DEBUG`` level, which test database each class's binds use, and
#: how it came to be.
logger = logging.getLogger("flask_dbcase")


class ClassDatabases:
    """The test databases of one test class: prepared when the class begins,
    and their tables built again if a test's DDL changed them.

    :param label: The class's name, for messages.
    :param hook: The class whose ``setUpTestDatabase`` writes the rows every
        test starts with; ``None`` for none.
    """

    def __init__(
        self,
        cls: type[DatabaseTestCase],
        label: str,
        hook: t.Hashable,
        app: Flask,
        db: SQLAlchemy,
        engines: dict[str | None, sa.Engine],
    ) -> None:
        self.cls = cls
        self.label = label
        self.hook = hook
        self.app = app
        self.db = db
        self.engines = engines
        #: The test databases outlive the run (``keepdb``).
        self.keep = cls.keepdb or os.environ.get(KEEPDB_ENV) == "1"

    def prepare(
        self,
        allowed: t.Collection[str],
        until_end: t.Callable[..., t.Any],
        checked: t.Callable[[], None] = lambda: None,
    ) -> dict[str | None, str]:
        """Point every engine, and the app's configuration, at the test
        databases, until the class ends (the process, for a shared app); call
        ``checked`` (the class's skips that need the server); build the tables
        and write the rows every test starts with.

        :param allowed: The databases the user allowed to be used as they are.
        :param until_end: Registers what points the engines back, when the
            class ends (the process, for a shared app).
        :return: By bind, how its test database came to be (:data:`.HOW`).
        """
        hows = self._point(allowed, until_end)
        checked()
        self.build(hows)
        return hows

    def _point(
        self, allowed: t.Collection[str], until_end: t.Callable[..., t.Any]
    ) -> dict[str | None, str]:
        db = self.db
        template_for = {} if self.setting() else db.metadatas
        hows: dict[str | None, str] = {}
        urls: dict[str | None, sa.URL] = {}
        for key, engine in self.engines.items():
            label = f"{self.label!r} ({describe_bind(key)})"
            target = target_of(engine)
            if target is not None and databases.switches[engine].inherited:
                # Pointed in the process this one was forked from, at that
                # process's test database: this one claims its own.
                databases.switches[engine].undo()
                target = None
            if target is not None:
                # A shared app's engine, which the class that pointed it puts
                # back: the database is there already.
                hows[key] = REUSED
                if self.keep:
                    databases.keep(target)
            else:
                if key in db.metadatas:
                    check_schemas(engine, db.metadatas[key], label)
                metadata = template_for.get(key)
                template = ModelsTemplate(metadata) if metadata is not None else None
                switch = databases.use(engine, label, allowed, template, self.keep)
                until_end(switch.undo)
                target, hows[key] = switch.target, switch.how
                urls[key] = target.url
            logger.debug(
                "%s: test database %s, %s", label, describe_url(target.url), hows[key]
            )
        if urls:
            until_end(point_config(self.app, urls))
        return hows

    def setting(self) -> t.Any:
        """The class's ``migrations``, or else the app's ``DBCASE_MIGRATIONS``."""
        if self.cls.migrations is None:
            return self.app.config.get("DBCASE_MIGRATIONS")
        return self.cls.migrations

    def build(self, hows: t.Mapping[str | None, str] | None = None) -> None:
        """Build the tables where they are missing, empty them, and write the
        rows every test starts with.

        :param hows: How each bind's test database came to be; ``None`` after
            a test changed its tables, which are built again.
        """
        db, engines, setting = self.db, self.engines, self.setting()
        if not setting:
            schemas.prepare(db, engines, self.keep, hows or {})
        else:
            self._migrate(setting)
        self._seed()

    def _migrate(self, setting: t.Any) -> None:
        label = repr(self.label)
        path = migrations.directory(self.app, setting, label)
        schemas.prepare_migrated(self.app, self.db, self.engines, self.keep, path)
        if self.cls.check_migrations:
            found = migrations.differences(self.db, self.engines)
            if found:
                listed = "".join(f"\n  - {line}" for line in found)
                raise AssertionError(
                    f"{label}: the schema the migrations in {path!r} build differs"
                    f" from the models:{listed}\nAdd a migration ('flask db"
                    " migrate'), or change the models to match."
                )

    def _seed(self) -> None:
        """Run the class's ``setUpTestDatabase`` once per test database and
        process; elsewhere put back the rows it wrote."""
        hook, db, engines = self.hook, self.db, self.engines
        if hook is None:
            return
        known = all((seed_key(e), hook) in schemas.seeds for e in engines.values())
        if known and not any(is_memory_sqlite(e.url) for e in engines.values()):
            reset_all(db, engines, hook=hook)
            return
        with self.app.app_context():
            self.cls.setUpTestDatabase()
            db.session.commit()
            db.session.remove()
        schemas.note_seeds(db, engines, hook)
