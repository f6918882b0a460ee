"""Test databases: derived from the app's URL, created, dropped, kept, guarded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import typing as t
import unittest
from unittest import mock

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.pool import NullPool

from flask_dbcase import TransactionalTestCase
from flask_dbcase.backends import backend_class
from flask_dbcase.database import claim_key
from flask_dbcase.urls import describe_url
from flask_dbcase.urls import is_memory_sqlite
from flask_dbcase.urls import redact

from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import only_error
from .support import run_case
from .support import script_result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY = ENGINES[0]
SERVERS = [e for e in ENGINES if e.postgresql or e.mysql]


class DerivationTests(unittest.TestCase):
    def derive(self, url: str) -> str:
        parsed = sa.make_url(url)
        kind = backend_class(parsed, "'Tests'")
        return kind.derive(parsed).render_as_string(False)

    def test_server_databases_get_a_test_prefix(self) -> None:
        self.assertEqual(
            self.derive("postgresql+psycopg://u:pw@h:5433/shop?sslmode=require"),
            "postgresql+psycopg://u:pw@h:5433/test_shop?sslmode=require",
        )
        self.assertEqual(
            self.derive("mysql+pymysql://u@h/shop?charset=utf8mb4"),
            "mysql+pymysql://u@h/test_shop?charset=utf8mb4",
        )

    def test_no_name_makes_a_test_database(self) -> None:
        # Django's rule: whatever the name, the prefix is added.
        for name in ("test", "testing", "testimonials", "test_shop", "TestShop"):
            with self.subTest(name=name):
                self.assertEqual(
                    self.derive(f"postgresql://u@h/{name}"),
                    f"postgresql://u@h/test_{name}",
                )

    def test_sqlite_files_move_to_a_folder_of_the_library(self) -> None:
        folder = os.path.join(tempfile.gettempdir(), f"flask_dbcase-{os.getuid()}")
        for path in (
            "/srv/app/shop.db",
            f"{tempfile.gettempdir()}/shop.db",  # no folder makes a test database
            "/srv/app/test.db",
            f"{folder}/test_shop-01234567.db",
        ):
            with self.subTest(path=path):
                derived = sa.make_url(self.derive(f"sqlite:///{path}")).database
                assert derived is not None
                self.assertEqual(os.path.dirname(derived), folder)
                stem = os.path.splitext(os.path.basename(path))[0]
                self.assertRegex(
                    os.path.basename(derived), rf"^test_{stem}-[0-9a-f]{{8}}\.db$"
                )
                self.assertNotEqual(derived, path)
        other = self.derive("sqlite:////srv/other/shop.db")
        self.assertNotEqual(self.derive("sqlite:////srv/app/shop.db"), other)

    def test_sqlite_uri_forms(self) -> None:
        folder = os.path.realpath(
            os.path.join(tempfile.gettempdir(), f"flask_dbcase-{os.getuid()}")
        )
        plain = self.derive("sqlite:////srv/app/shop.db")
        for uri in (
            "sqlite:///file:/srv/app/shop.db?uri=true",
            "sqlite:///file://localhost/srv/app/shop.db?mode=rwc&uri=true",
        ):
            with self.subTest(uri=uri):
                derived = sa.make_url(self.derive(uri))
                assert derived.database is not None
                self.assertTrue(derived.database.startswith(f"file:{folder}/"))
                self.assertEqual(
                    derived.database[len("file:") :], sa.make_url(plain).database
                )
                self.assertEqual(derived.query["uri"], "true")

    def test_memory_forms(self) -> None:
        for url in (
            "sqlite://",
            "sqlite:///:memory:",
            "sqlite:///file::memory:?cache=shared&uri=true",
            "sqlite:///file:shop?mode=memory&cache=shared&uri=true",
        ):
            with self.subTest(url=url):
                self.assertTrue(is_memory_sqlite(sa.make_url(url)))
        self.assertFalse(is_memory_sqlite(sa.make_url("sqlite:///shop.db")))

    def test_long_names_are_cut_and_hashed(self) -> None:
        for scheme, limit in (("postgresql", 63), ("mysql+pymysql", 64)):
            with self.subTest(scheme=scheme):
                names = [f"{'a' * 60}{n}" for n in (1, 2)]
                derived = [
                    sa.make_url(self.derive(f"{scheme}://u@h/{name}")).database
                    for name in names
                ]
                self.assertNotEqual(derived[0], derived[1])
                for name in derived:
                    assert name is not None
                    self.assertLessEqual(len(name), limit - len("_template"))
                    self.assertTrue(name.startswith("test_aaaa"))
                short = f"{scheme}://u@h/{'a' * 40}"
                self.assertTrue(self.derive(short).endswith("/test_" + "a" * 40))

    def test_numbered_copies(self) -> None:
        def number(url: str, n: int) -> str:
            parsed = sa.make_url(url)
            kind = backend_class(parsed, "'Tests'")
            return kind.numbered(parsed, n).render_as_string(False)

        self.assertEqual(
            number("postgresql://u@h/test_shop", 1), "postgresql://u@h/test_shop"
        )
        self.assertEqual(
            number("postgresql://u@h/test_shop", 2), "postgresql://u@h/test_shop_2"
        )
        self.assertEqual(number("sqlite:////t/test.db", 3), "sqlite:////t/test_3.db")

    def test_allowed_from_the_environment(self) -> None:
        from flask_dbcase.database import allowed_databases

        with mock.patch.dict(os.environ, {"FLASK_DBCASE_WIPE_DATABASES": "a, b"}):
            self.assertEqual(allowed_databases(), {"a", "b"})


class MessageTests(unittest.TestCase):
    def test_passwords_are_hidden_in_the_user_info_and_the_query(self) -> None:
        url = sa.make_url(
            "postgresql+psycopg://shop:s3cret@db.example/shop"
            "?password=qs3cret&sslpassword=k3y&sslmode=require"
        )
        text = describe_url(url)
        self.assertEqual(
            text,
            "'postgresql+psycopg://shop:***@db.example/shop"
            "?password=***&sslmode=require&sslpassword=***'",
        )
        self.assertEqual(
            redact("failed for s3cret, qs3cret and k3y", url),
            "failed for ***, *** and ***",
        )


class GuardTests(unittest.TestCase):
    def test_refuses_connections_made_by_create_app(self) -> None:
        # In the temporary directory: no folder makes a test database.
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        path = os.path.join(folder, "shop.db")

        class FactoryTests(TransactionalTestCase):
            def create_app(self) -> Flask:
                app = make_app(MEMORY, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
                with app.app_context():
                    from .support import db

                    db.create_all()
                return app

            def test_a(self) -> None:
                pass

        result = run_case(FactoryTests)
        self.assertEqual(len(result.errors), 1, result.problems())
        error = result.errors[0][1]
        self.assertIn(
            f"'FactoryTests.create_app' connected to 'sqlite:///{path}' while"
            " building the app, before flask_dbcase could point it at a test"
            " database. Move database work such as 'db.create_all()' out of the app"
            " factory",
            error,
        )
        self.assertFalse(os.path.exists(path))

    def test_unreachable_database(self) -> None:
        # A creator that fails: the test database itself cannot be opened.
        url = "sqlite:////nonexistent-folder/shop.db"

        def fail() -> t.Any:
            import sqlite3

            return sqlite3.connect("/nonexistent-folder/shop.db")

        class UnreachableTests(TransactionalTestCase):
            def create_app(self) -> Flask:
                options = {"creator": fail}
                return make_app(
                    MEMORY,
                    SQLALCHEMY_DATABASE_URI=url,
                    SQLALCHEMY_ENGINE_OPTIONS=options,
                )

            def test_a(self) -> None:
                pass

        self.assertIn(
            f"'UnreachableTests' (the default database) cannot connect to '{url}':"
            " unable to open database file. Check that the server is running",
            only_error(UnreachableTests),
        )

    @unittest.skipUnless(SERVERS and SERVERS[0].postgresql, "needs PostgreSQL")
    def test_unreachable_server(self) -> None:
        url = "postgresql+psycopg://postgres:pw@127.0.0.1:1/shop"

        class ServerTests(TransactionalTestCase):
            def create_app(self) -> Flask:
                return make_app(MEMORY, SQLALCHEMY_DATABASE_URI=url)

            def test_a(self) -> None:
                pass

        error = only_error(ServerTests)
        self.assertIn(
            "'ServerTests' (the default database) cannot connect to"
            " 'postgresql+psycopg://postgres:***@127.0.0.1:1/postgres' to prepare its"
            " test database",
            error,
        )
        self.assertNotIn(":pw@", error)
        # The driver's words on one line, then the advice: no "?." between.
        message = error.strip().splitlines()[-1]
        self.assertRegex(message, r"refused\. Is the server running")
        self.assertRegex(message, r"connections\? Check that the server is running")

        class OtherTests(ServerTests):
            pass

        # The message names the class that met the server, not the first one.
        self.assertIn(
            "'OtherTests' (the default database) cannot connect", only_error(OtherTests)
        )


class PermissionTests(unittest.TestCase):
    """A user who may not create databases is told what to grant."""

    def check(self, engine: t.Any, create_user: str, grant: str) -> None:
        admin = sa.create_engine(
            engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.exec_driver_sql(create_user)
        admin.dispose()
        url = sa.make_url(engine.url).set(
            username=engine.own("dbcase_limited"),
            database=engine.own("dbcase_limited_shop"),
        )

        class LimitedTests(TransactionalTestCase):
            def create_app(self) -> Flask:
                uri = url.render_as_string(hide_password=False)
                return make_app(MEMORY, SQLALCHEMY_DATABASE_URI=uri)

            def test_a(self) -> None:
                pass

        result = run_case(LimitedTests)
        self.assertEqual(len(result.errors), 1, result.problems())
        error = result.errors[0][1]
        self.assertIn(
            "'LimitedTests' (the default database) needs the test database"
            f" 'test_{url.database}' on",
            error,
        )
        self.assertIn(grant, error)

    @unittest.skipUnless(any(e.postgresql for e in SERVERS), "needs PostgreSQL")
    def test_postgresql(self) -> None:
        engine = next(e for e in SERVERS if e.postgresql)
        role, shop = engine.own("dbcase_limited"), engine.own("dbcase_limited_shop")
        create = (
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname ="
            f" '{role}') THEN CREATE ROLE {role} LOGIN; END IF; END $$"
        )
        self.check(
            engine,
            create,
            f"permission denied to create database. Let '{role}' create"
            f" databases ('ALTER ROLE {role} CREATEDB;'), or create"
            f" 'test_{shop}' yourself",
        )

    @unittest.skipUnless(any(e.mysql for e in SERVERS), "needs MySQL")
    def test_mysql(self) -> None:
        engine = next(e for e in SERVERS if e.mysql)
        role, shop = engine.own("dbcase_limited"), engine.own("dbcase_limited_shop")
        create = f"CREATE USER IF NOT EXISTS '{role}'@'%%'"
        self.check(
            engine,
            create,
            f"Access denied for user '{role}'@'%' to database"
            f" 'test_{shop}'\"). Let '{role}' create databases"
            f" (\"GRANT ALL PRIVILEGES ON `test\\_%`.* TO '{role}'@'%';\")",
        )


SHOP_MODULE = textwrap.dedent(
    """
    import ast
    import json
    import logging
    import os
    import time
    import unittest

    import sqlalchemy as sa
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    from flask_dbcase import ClientTestCase
    from flask_dbcase import DatabaseTestCase
    from flask_dbcase import TransactionalTestCase

    ddl = []
    ddl_in = []
    used = set()
    hows = []


    class Hows(logging.Handler):
        def emit(self, record):
            label, url, how = record.args
            hows.append([sa.make_url(ast.literal_eval(url)).database, how])


    logging.getLogger("flask_dbcase").addHandler(Hows())
    logging.getLogger("flask_dbcase").setLevel(logging.DEBUG)


    @sa.event.listens_for(sa.Engine, "before_cursor_execute")
    def record(connection, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("CREATE TABLE", "DROP TABLE")):
            ddl.append(" ".join(statement.split()[:3]))
            ddl_in.append([connection.engine.url.database, ddl[-1]])


    db = SQLAlchemy()


    class Author(db.Model):
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(50))
        if os.environ.get("SHOP_EXTRA_COLUMN"):
            extra = db.Column(db.String(10))


    class Shop:
        @classmethod
        def create_app(cls):
            app = Flask(__name__)
            app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["SHOP_URL"]
            db.init_app(app)
            return app

        def test_write(self):
            used.add(db.engine.url.database)
            # Long enough for a second process to start while this one runs.
            time.sleep(float(os.environ.get("SHOP_HOLD", "0")))
            db.session.add(Author(name="from a test"))
            db.session.commit()
            self.assertEqual(db.session.query(Author).count(), 1)


    class DatabaseShop(Shop, DatabaseTestCase):
        pass


    class TransactionalShop(Shop, TransactionalTestCase):
        pass


    class ClientShop(Shop, ClientTestCase):
        pass


    if __name__ == "__main__":
        program = unittest.main(exit=False)
        ok = program.result.wasSuccessful()
        cloned = sorted({name for name, how in hows if how == "cloned"})
        print(
            "RESULT "
            + json.dumps(
                {
                    "ok": ok,
                    "used": sorted(used),
                    "ddl": ddl,
                    "ddl_in": ddl_in,
                    "cloned": cloned,
                    "hows": hows,
                }
            )
        )
    """
)


TWO_DATABASES_MODULE = textwrap.dedent(
    """
    import json
    import logging
    import os
    import unittest

    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    from flask_dbcase import TransactionalTestCase

    used = {}


    def factory(name):
        db = SQLAlchemy()

        class Note(db.Model):
            id = db.Column(db.Integer, primary_key=True)

        def create_app(cls):
            app = Flask(__name__)
            path = os.path.join(os.getcwd(), "data", name + ".db")
            app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + path
            db.init_app(app)
            return app

        return classmethod(create_app)


    class Kept(TransactionalTestCase):
        keepdb = True
        create_app = factory("kept")

        def test_it(self):
            used["Kept"] = self.db.engine.url.database


    class Dropped(TransactionalTestCase):
        create_app = factory("dropped")

        def test_it(self):
            used["Dropped"] = self.db.engine.url.database


    shared = factory("shared")


    class SharedA(TransactionalTestCase):  # runs first, and does not keep
        reuse_app = True
        create_app = shared

        def test_it(self):
            used["SharedA"] = self.db.engine.url.database


    class SharedB(TransactionalTestCase):  # the same app, and keeps
        reuse_app = True
        keepdb = True
        create_app = shared

        def test_it(self):
            used["SharedB"] = self.db.engine.url.database


    # One app object, which two factories of their own return.
    same_app = factory("same").__func__(None)


    class SameA(TransactionalTestCase):
        reuse_app = True

        def create_app(self):
            return same_app

        def test_it(self):
            used["SameA"] = self.db.engine.url.database


    class SameB(TransactionalTestCase):
        reuse_app = True
        keepdb = True

        def create_app(self):
            return same_app

        def test_it(self):
            used["SameB"] = self.db.engine.url.database


    class Hows(logging.Handler):
        def emit(self, record):
            label, url, how = record.args
            used.setdefault("hows", {}).setdefault(label.split("'")[1], []).append(how)


    logging.getLogger("flask_dbcase").addHandler(Hows())
    logging.getLogger("flask_dbcase").setLevel(logging.DEBUG)


    if __name__ == "__main__":
        program = unittest.main(exit=False)
        used["ok"] = program.result.wasSuccessful()
        print("RESULT " + json.dumps(used))
    """
)


STALE_MODULE = textwrap.dedent(
    """
    import os
    import unittest

    import sqlalchemy as sa
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    from flask_dbcase import TransactionalTestCase

    db = SQLAlchemy()
    ddl = []


    @sa.event.listens_for(sa.Engine, "before_cursor_execute")
    def record(connection, cursor, statement, *args):
        if statement.lstrip().upper().startswith("CREATE TABLE"):
            ddl.append(statement.split()[2].strip('"'))


    class Item(db.Model):
        id = db.Column(db.Integer, primary_key=True)
        if os.environ.get("BRANCH") == "b":  # the model on another branch
            extra = db.Column(db.String(20), nullable=False)


    def create_app():
        app = Flask(__name__)
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["SHOP_URL"]
        db.init_app(app)
        return app


    class APlain(TransactionalTestCase):
        create_app = staticmethod(create_app)

        def test_a(self):
            pass


    class BKept(TransactionalTestCase):
        keepdb = os.environ.get("KEEP", "1") == "1"
        create_app = staticmethod(create_app)

        def test_insert(self):
            db.session.add(Item(extra="x") if hasattr(Item, "extra") else Item())
            db.session.commit()


    if __name__ == "__main__":
        program = unittest.main(exit=False)
        print("RESULT", program.result.wasSuccessful(), sorted(set(ddl)))
    """
)


def start_shop(folder: str, url: str, **env: str) -> subprocess.Popen[str]:
    """Run the shop module's tests in a process of their own."""
    environ = dict(os.environ, PYTHONPATH=ROOT, SHOP_URL=url)
    environ.pop("FLASK_DBCASE_KEEPDB", None)
    environ.update(env)
    return subprocess.Popen(
        [sys.executable, "shop_tests.py"],
        cwd=folder,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def shop_result(test: unittest.TestCase, process: subprocess.Popen[str]) -> t.Any:
    """Wait for the shop run; check it passed and cleaned up; return its report."""
    stdout, stderr = process.communicate(timeout=120)
    output = stdout + stderr
    lines = [x for x in stdout.splitlines() if x.startswith("RESULT ")]
    test.assertEqual(len(lines), 1, output)
    result = json.loads(lines[0][len("RESULT ") :])
    test.assertTrue(result["ok"], output)
    test.assertNotIn("could not drop", output)
    return result


if t.TYPE_CHECKING:
    _Mixin = unittest.TestCase
else:
    _Mixin = object


class ShopTests(_Mixin):
    """A configured 'dbcase_shop_test' database, with a sentinel row in it."""

    engine: t.ClassVar[t.Any]

    def setUp(self) -> None:
        self.name = self.engine.own("dbcase_shop")
        self.folder = tempfile.mkdtemp(prefix="dbcase-shop-")
        self.addCleanup(shutil.rmtree, self.folder, ignore_errors=True)
        with open(os.path.join(self.folder, "shop_tests.py"), "w") as f:
            f.write(SHOP_MODULE)
        self.shop = self.make_shop()

    def make_shop(self) -> sa.URL:
        self.addCleanup(
            self.drop_databases,
            self.name,
            f"test_{self.name}",
            f"test_{self.name}_template",
        )
        url = sa.make_url(self.engine.url).set(database=self.name)
        admin = sa.create_engine(
            sa.make_url(self.engine.url),
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            quoted = connection.dialect.identifier_preparer.quote(self.name)
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
            connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
        admin.dispose()
        self.fill(url)
        return url

    def fill(self, url: sa.URL) -> None:
        engine = sa.create_engine(url, poolclass=NullPool)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE author (id INTEGER PRIMARY KEY, name VARCHAR(50))"
            )
            connection.exec_driver_sql("INSERT INTO author VALUES (1, 'sentinel')")
        engine.dispose()

    def sentinel(self) -> list[t.Any]:
        engine = sa.create_engine(self.shop, poolclass=NullPool)
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT id, name FROM author").all()
        engine.dispose()
        return [tuple(row) for row in rows]

    def database_exists(self, name: str) -> bool:
        admin = sa.create_engine(sa.make_url(self.engine.url), poolclass=NullPool)
        if self.engine.postgresql:
            sql = "SELECT 1 FROM pg_database WHERE datname = %(n)s"
        else:
            sql = "SELECT 1 FROM information_schema.schemata WHERE schema_name = %(n)s"
        with admin.connect() as connection:
            found = connection.exec_driver_sql(sql, {"n": name}).first()
        admin.dispose()
        return found is not None

    def drop_databases(self, *names: str) -> None:
        admin = sa.create_engine(
            sa.make_url(self.engine.url),
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            for name in names:
                quoted = connection.dialect.identifier_preparer.quote(name)
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
        admin.dispose()

    def run_shop(self, **env: str) -> dict[str, t.Any]:
        return self.finish(self.start(**env))

    def start(self, **env: str) -> subprocess.Popen[str]:
        return start_shop(self.folder, self.shop_url(), **env)

    def finish(self, process: subprocess.Popen[str]) -> dict[str, t.Any]:
        result: dict[str, t.Any] = shop_result(self, process)
        self.assertEqual(self.sentinel(), [(1, "sentinel")])
        return result

    def shop_url(self) -> str:
        return self.shop.render_as_string(hide_password=False)

    def test_configured_database_is_never_touched(self) -> None:
        result = self.run_shop()
        self.assertEqual(result["used"], [f"test_{self.name}"])
        self.assertFalse(self.database_exists(f"test_{self.name}"))
        # The first class created it, the next two found it.
        name = f"test_{self.name}"
        self.assertEqual(
            result["hows"], [[name, "created"], [name, "reused"], [name, "reused"]]
        )

    def test_concurrent_processes_get_their_own_database(self) -> None:
        first = self.start(SHOP_HOLD="1.5")
        time.sleep(0.7)
        second = self.start(SHOP_HOLD="0.5")
        one, two = self.finish(first), self.finish(second)
        used = one["used"] + two["used"]
        self.assertEqual(sorted(used), [f"test_{self.name}", f"test_{self.name}_2"])
        for name in [*used, f"test_{self.name}_template"]:
            self.assertFalse(self.database_exists(name))
        self.assertEqual(one["cloned"], [])
        if self.engine.postgresql:
            # The second process cloned a template instead of building tables.
            self.assertEqual(two["cloned"], [f"test_{self.name}_2"])
            built = {database for database, _ in two["ddl_in"]}
            self.assertEqual(built, {f"test_{self.name}_template"})
        else:
            self.assertEqual(two["cloned"], [])

    def test_template_of_another_schema_is_rebuilt(self) -> None:
        if not self.engine.postgresql:
            self.skipTest("templates are PostgreSQL's")
        template = f"test_{self.name}_template"
        # The first two hold their databases (and the second its template) long
        # enough for the third to start while both run.
        first = self.start(SHOP_HOLD="2.5")
        time.sleep(0.7)
        second = self.start(SHOP_HOLD="2")
        time.sleep(1.2)
        third = self.start(SHOP_EXTRA_COLUMN="1")
        results = [self.finish(p) for p in (first, second, third)]
        self.assertEqual(
            [r["cloned"] for r in results],
            [[], [f"test_{self.name}_2"], [f"test_{self.name}_3"]],
        )
        # The third process found the template built for the other columns, built
        # it again, and its own copy then had the right tables straight away.
        # ("DROP TABLE IF EXISTS author CASCADE": what depends on them goes too.)
        self.assertIn([template, "DROP TABLE IF"], results[2]["ddl_in"])
        self.assertIn([template, "CREATE TABLE author"], results[2]["ddl_in"])
        self.assertEqual({d for d, _ in results[2]["ddl_in"]}, {template})
        self.assertFalse(self.database_exists(template))

    def create_marked(self, *names: str) -> None:
        """Create databases as flask_dbcase does, marked as its own."""
        url = sa.make_url(self.engine.url)
        server = backend_class(url, "'Tests'")(url, "'Tests'")
        for name in names:
            server.create(name)
        server.close()

    def test_copies_left_by_a_killed_run_are_dropped(self) -> None:
        stale, foreign = f"test_{self.name}_2", f"test_{self.name}_3"
        self.addCleanup(self.drop_databases, stale, foreign)
        template = f"test_{self.name}_template"
        self.create_marked(stale, *([template] if self.engine.postgresql else []))
        admin = sa.create_engine(
            self.engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {foreign}")
        admin.dispose()
        self.run_shop()
        self.assertFalse(self.database_exists(stale))
        self.assertFalse(self.database_exists(template))
        self.assertTrue(self.database_exists(foreign))  # not made by flask_dbcase

    def test_keepdb_reuses_the_database_while_the_models_stay(self) -> None:
        first = self.run_shop(FLASK_DBCASE_KEEPDB="1")
        self.assertIn("CREATE TABLE author", first["ddl"])
        self.assertTrue(self.database_exists(f"test_{self.name}"))
        second = self.run_shop(FLASK_DBCASE_KEEPDB="1")
        self.assertEqual(second["ddl"], [])
        self.assertEqual({how for _, how in second["hows"]}, {"reused"})
        changed = self.run_shop(FLASK_DBCASE_KEEPDB="1", SHOP_EXTRA_COLUMN="1")
        self.assertIn("CREATE TABLE author", changed["ddl"])
        again = self.run_shop(FLASK_DBCASE_KEEPDB="1", SHOP_EXTRA_COLUMN="1")
        self.assertEqual(again["ddl"], [])
        self.run_shop()  # without keepdb: the kept database is flask_dbcase's
        self.assertFalse(self.database_exists(f"test_{self.name}"))

    def test_tables_of_another_app_that_depend_on_ours_are_dropped(self) -> None:
        # What a killed run of another suite leaves in a shared test database: a
        # table with a foreign key to a table of the same name as one of ours.
        test_db = self.shop.set(database=f"test_{self.name}")
        self.drop_databases(test_db.database or "")
        self.create_marked(test_db.database or "")
        self.fill(test_db)
        engine = sa.create_engine(test_db, poolclass=NullPool)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE review (id INTEGER PRIMARY KEY,"
                " author_id INTEGER REFERENCES author (id))"
            )
        engine.dispose()
        result = self.run_shop(FLASK_DBCASE_KEEPDB="1")  # to look at it after
        self.addCleanup(self.drop_databases, test_db.database or "")
        self.assertIn("CREATE TABLE author", result["ddl"])
        engine = sa.create_engine(test_db, poolclass=NullPool)
        tables = sa.inspect(engine).get_table_names()
        self.assertEqual(sorted(tables), ["author", "flask_dbcase_schema"])
        engine.dispose()

    def test_opt_in_uses_the_database_as_it_is(self) -> None:
        self.name = self.engine.own("dbcase_optin")
        self.shop = self.make_shop()
        process = start_shop(
            self.folder, self.shop_url(), FLASK_DBCASE_WIPE_DATABASES=self.name
        )
        self.assertEqual(shop_result(self, process)["used"], [self.name])
        self.assertFalse(self.database_exists(f"test_{self.name}"))

    def test_database_of_a_killed_run_is_taken_over_and_dropped(self) -> None:
        test_db = f"test_{self.name}"
        process = self.start(SHOP_HOLD="60")
        wait_until(lambda: self.database_exists(test_db) and self.has_tables(test_db))
        process.kill()  # SIGKILL: no exit handler runs
        process.communicate()
        self.assertTrue(self.database_exists(test_db))
        result = self.run_shop()
        self.assertEqual(result["used"], [test_db])  # the number was free again
        self.assertFalse(self.database_exists(test_db))

    def test_database_it_did_not_create_is_refused(self) -> None:
        test_db = f"test_{self.name}"
        self.drop_databases(test_db)
        self.fill_new(test_db)
        result = start_shop(self.folder, self.shop_url()).communicate(timeout=120)
        output = "".join(result)
        self.assertIn(
            f"would run on the test database {test_db!r} on", output.replace("\n", " ")
        )
        self.assertIn("which exists but was not created by flask_dbcase", output)
        engine = sa.create_engine(self.shop.set(database=test_db), poolclass=NullPool)
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT name FROM author").all()
        engine.dispose()
        self.assertEqual([tuple(r) for r in rows], [("sentinel",)])

    def fill_new(self, name: str) -> None:
        admin = sa.create_engine(
            self.engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        admin.dispose()
        self.addCleanup(self.drop_databases, name)
        self.fill(self.shop.set(database=name))

    def has_tables(self, name: str) -> bool:
        engine = sa.create_engine(self.shop.set(database=name), poolclass=NullPool)
        try:
            return bool(sa.inspect(engine).get_table_names())
        except sa.exc.DBAPIError:
            return False
        finally:
            engine.dispose()


def wait_until(condition: t.Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


class SqliteShopTests(unittest.TestCase):
    """A configured SQLite file outside the temporary directory."""

    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="dbcase-shop-")
        self.addCleanup(shutil.rmtree, self.folder, ignore_errors=True)
        for name in ("data", "tmp"):
            os.mkdir(os.path.join(self.folder, name))
        with open(os.path.join(self.folder, "shop_tests.py"), "w") as f:
            f.write(SHOP_MODULE)
        self.path = os.path.join(self.folder, "data", "shop.db")
        engine = sa.create_engine(f"sqlite:///{self.path}", poolclass=NullPool)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE author (id INTEGER PRIMARY KEY, name VARCHAR(50))"
            )
            connection.exec_driver_sql("INSERT INTO author VALUES (1, 'sentinel')")
        self.sentinel_engine = engine

    def run_shop(self, **env: str) -> dict[str, t.Any]:
        return self.finish(self.start(**env))

    def start(self, **env: str) -> subprocess.Popen[str]:
        # The run's temporary directory is not the folder of the configured file.
        temp = os.path.join(self.folder, "tmp")
        return start_shop(self.folder, f"sqlite:///{self.path}", **env, TMPDIR=temp)

    def finish(self, process: subprocess.Popen[str]) -> dict[str, t.Any]:
        result: dict[str, t.Any] = shop_result(self, process)
        with self.sentinel_engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT * FROM author").all()
        self.assertEqual([tuple(r) for r in rows], [(1, "sentinel")])
        return result

    def test_file_in_the_temporary_directory(self) -> None:
        result = self.run_shop()
        (used,) = result["used"]
        folder = os.path.join(self.folder, "tmp", f"flask_dbcase-{os.getuid()}")
        self.assertEqual(os.path.dirname(used), folder)
        self.assertRegex(os.path.basename(used), r"^test_shop-[0-9a-f]{8}\.db$")
        self.assertFalse(os.path.exists(used))  # removed at exit
        self.assertFalse(os.path.exists(folder))  # lock files and the folder too

    def test_concurrent_processes_get_their_own_file(self) -> None:
        first = self.start(SHOP_HOLD="1.5")
        time.sleep(0.7)
        second = self.start(SHOP_HOLD="0.5")
        used = self.finish(first)["used"] + self.finish(second)["used"]
        names = sorted(os.path.basename(path) for path in used)
        self.assertRegex(names[0], r"^test_shop-[0-9a-f]{8}\.db$")
        self.assertEqual(names[1], names[0].replace(".db", "_2.db"))

    def test_keepdb(self) -> None:
        first = self.run_shop(FLASK_DBCASE_KEEPDB="1")
        self.assertIn("CREATE TABLE author", first["ddl"])
        self.assertTrue(os.path.exists(first["used"][0]))
        second = self.run_shop(FLASK_DBCASE_KEEPDB="1")
        self.assertEqual(second["ddl"], [])

    def test_keepdb_of_one_class_keeps_its_databases_only(self) -> None:
        # Before, one class with keepdb kept every test database of the run.
        with open(os.path.join(self.folder, "two_tests.py"), "w") as f:
            f.write(TWO_DATABASES_MODULE)
        environ = dict(os.environ, PYTHONPATH=ROOT, TMPDIR=self.folder + "/tmp")
        environ.pop("FLASK_DBCASE_KEEPDB", None)
        result, output = script_result(self, self.folder, "two_tests.py", environ)
        self.assertTrue(result["ok"], output)
        self.assertTrue(os.path.exists(result["Kept"]))
        self.assertFalse(os.path.exists(result["Dropped"]))
        self.assertNotEqual(result["Kept"], result["Dropped"])
        # A class with keepdb that takes a shared app keeps its databases too,
        # and so does one whose create_app returns an app another class has.
        hows = result["hows"]
        for first, second in (("SharedA", "SharedB"), ("SameA", "SameB")):
            self.assertEqual(result[first], result[second])
            self.assertTrue(os.path.exists(result[second]))
            self.assertEqual(hows[first], ["created"])
            self.assertEqual(hows[second], ["reused"])

    def run_stale(self, *names: str, **env: str) -> tuple[bool, list[str]]:
        environ = dict(os.environ, PYTHONPATH=ROOT, TMPDIR=self.folder + "/tmp")
        environ.pop("FLASK_DBCASE_KEEPDB", None)
        environ.update(env, SHOP_URL=f"sqlite:///{self.path}")
        process = subprocess.run(
            [sys.executable, "stale_tests.py", *names],
            cwd=self.folder,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = process.stdout + process.stderr
        (line,) = [x for x in process.stdout.splitlines() if x.startswith("RESULT")]
        _, ok, ddl = line.split(" ", 2)
        return ok == "True" or self.fail(output), eval(ddl)

    def test_a_kept_database_tells_what_its_tables_are(self) -> None:
        with open(os.path.join(self.folder, "stale_tests.py"), "w") as f:
            f.write(STALE_MODULE)
        self.run_stale("BKept", BRANCH="a")
        # A class that does not keep builds the other branch's tables first;
        # the kept class then finds them, and says so for the next run.
        self.run_stale(BRANCH="b")
        _, ddl = self.run_stale("BKept", BRANCH="b")
        self.assertNotIn("item", ddl)  # reused as they are
        _, ddl = self.run_stale("BKept", BRANCH="a")  # not the stale tables
        self.assertIn("item", ddl)

    def test_a_database_used_as_it_is_keeps_nothing_of_the_library(self) -> None:
        with open(os.path.join(self.folder, "stale_tests.py"), "w") as f:
            f.write(STALE_MODULE)
        wipe = {"FLASK_DBCASE_WIPE_DATABASES": self.path}
        self.run_stale("BKept", KEEP="1", **wipe)
        self.run_stale("BKept", KEEP="0", **wipe)
        engine = sa.create_engine(f"sqlite:///{self.path}", poolclass=NullPool)
        self.addCleanup(engine.dispose)
        self.assertEqual(sa.inspect(engine).get_table_names(), ["author"])
        _, ddl = self.run_stale("BKept", KEEP="1", **wipe)
        self.assertIn("item", ddl)

    def test_file_of_a_killed_run_is_taken_over_and_removed(self) -> None:
        folder = os.path.join(self.folder, "tmp", f"flask_dbcase-{os.getuid()}")
        process = self.start(SHOP_HOLD="60")
        wait_until(lambda: any(n.endswith(".db") for n in _listdir(folder)))
        time.sleep(0.5)  # into the test
        process.kill()  # SIGKILL: no exit handler runs
        process.communicate()
        left = sorted(_listdir(folder), key=lambda n: os.path.splitext(n)[1])
        self.assertEqual([os.path.splitext(n)[1] for n in left], [".db", ".lock"])
        result = self.run_shop()
        self.assertEqual(result["used"], [os.path.join(folder, left[0])])
        self.assertFalse(os.path.exists(folder))

    def test_file_it_did_not_create_is_refused(self) -> None:
        # The derived name, taken by a file flask_dbcase did not mark.
        folder = os.path.join(self.folder, "tmp", f"flask_dbcase-{os.getuid()}")
        first = self.run_shop()
        (used,) = first["used"]
        os.makedirs(folder, exist_ok=True)
        engine = sa.create_engine(f"sqlite:///{used}", poolclass=NullPool)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE kept (id INTEGER)")
        engine.dispose()
        stdout, stderr = self.start().communicate(timeout=120)
        self.assertIn("which exists but was not created by flask_dbcase", stderr)
        self.assertTrue(os.path.exists(used))


class AllowedButMissingTests(unittest.TestCase):
    def test_a_missing_file_named_in_the_list_is_refused(self) -> None:
        folder = tempfile.mkdtemp(prefix="dbcase-allowed-")
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        path = os.path.join(folder, "ci.db")

        class Tests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                app = Flask(__name__)
                app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
                from .support import db

                db.init_app(app)
                return app

            def test_a(self) -> None:
                pass

        with mock.patch.dict(os.environ, {"FLASK_DBCASE_WIPE_DATABASES": path}):
            message = only_error(Tests)
        self.assertIn(
            "it is named in FLASK_DBCASE_WIPE_DATABASES), but it does", message
        )
        self.assertIn("never creates a database named there", message)
        self.assertFalse(os.path.exists(path))  # SQLite would have made it


def _listdir(folder: str) -> list[str]:
    return os.listdir(folder) if os.path.isdir(folder) else []


servers = [e for e in ENGINES if e.name in ("postgresql", "mysql")]
globals().update(engine_classes([ShopTests], servers))


class _NameClashes(_Mixin):
    """Configured names that differ by an ending ``_<number>``: ``clash`` and
    ``clash_2`` make ``test_clash_2`` the first of one and the second of the
    other. Another process is played by a connection of the test's own."""

    engine: t.ClassVar[t.Any]

    def setUp(self) -> None:
        url = sa.make_url(self.engine.url)
        self.server = backend_class(url, "test")(url, "test")
        self.addCleanup(self.server.close)

    def configured(self, name: str, copy: str = "") -> str:
        """The URL of a configured database of this run's own: ``name``, and
        ``copy`` after the configured database's name (``clash_test_2``)."""
        base = self.engine.url.rsplit("/", 1)[0]
        return f"{base}/{self.engine.own(name)}{copy}"

    def derived(self, name: str, copy: str = "") -> str:
        return f"test_{self.engine.own(name)}{copy}"

    def hold(self, name: str, number: int = 1) -> None:
        """Claim ``name``'s number as another process would."""
        key = claim_key(name, number)
        self.assertTrue(self.server.try_lock(key))
        self.addCleanup(self.server.unlock, key)

    def make(self, name: str) -> None:
        self.assertFalse(self.server.exists(name), "left by an earlier run")
        self.server.create(name)
        self.addCleanup(self.server.drop, name)

    def case(self, url: str, other: str | None = None) -> type[TransactionalTestCase]:
        engine = self.engine

        class Clash(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                binds = {"other": other or engine.other_url, "mirror": url}
                return make_app(
                    engine, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_BINDS=binds
                )

            def test_a(self) -> None:
                pass

        return Clash

    def test_two_binds_whose_names_clash_each_keep_their_database(self) -> None:
        # The bind's database is made first; claiming the default's first
        # copy dropped it, as a copy left by a killed run.
        case = self.case(self.configured("clasha"), self.configured("clasha", "_2"))
        self.assertEqual(run_case(case).problems(), "")

    def test_a_copy_held_as_another_database_is_not_swept(self) -> None:
        other = self.derived("clashb", "_2")
        self.make(other)
        self.hold(other)
        self.assertEqual(run_case(self.case(self.configured("clashb"))).problems(), "")
        self.assertTrue(self.server.exists(other))

    def test_a_copy_held_as_another_database_is_not_taken_over(self) -> None:
        mine, other = self.derived("clashc"), self.derived("clashc", "_2")
        self.hold(mine)  # the run's first process: this one gets copy 2
        self.make(other)
        self.hold(other)
        message = only_error(self.case(self.configured("clashc")))
        self.assertIn(f"would run on {other!r} as copy 2 of", message)
        self.assertIn("Rename one of them", message)

    def test_a_template_held_as_another_database_is_left_alone(self) -> None:
        if not self.server.clones:
            self.skipTest("no template: every copy is built")
        mine, other = self.derived("clashd"), self.derived("clashd", "_template")
        self.hold(mine)  # this one gets copy 2, cloned from the template
        self.make(other)
        self.hold(other)
        engine = sa.create_engine(
            self.configured("clashd").replace(self.engine.own("clashd"), other),
            poolclass=NullPool,
        )
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE sentinel (id integer)")
        self.assertEqual(run_case(self.case(self.configured("clashd"))).problems(), "")
        self.assertEqual(sa.inspect(engine).get_table_names(), ["sentinel"])

    def test_a_held_template_is_not_taken_over(self) -> None:
        if not self.server.clones:
            self.skipTest("no template: every copy is built")
        mine = self.derived("clashe")
        self.make(f"{mine}_template")
        self.hold(mine, 2)  # a process that clones from the template
        message = only_error(self.case(self.configured("clashe", "_template")))
        self.assertIn("as the test database", message)
        self.assertIn(f"template of the copies of the test database {mine!r}", message)

    def test_an_allowed_copy_held_as_another_database_is_not_shared(self) -> None:
        mine, other = self.derived("clashf"), self.derived("clashf", "_2")
        self.hold(mine)  # this one gets copy 2
        quoted = self.server.quote(other)
        self.server.connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
        self.addCleanup(self.server.drop, other)
        self.hold(other)  # a run that named it in the wipe list uses it
        with mock.patch.dict(os.environ, {"FLASK_DBCASE_WIPE_DATABASES": other}):
            message = only_error(self.case(self.configured("clashf")))
        self.assertIn(f"would run on {other!r} as copy 2 of", message)


class ReadingTests(unittest.TestCase):
    def test_the_names_a_copy_or_template_may_have(self) -> None:
        from flask_dbcase.database import _readings

        self.assertEqual(_readings("test_a_2", False), [("test_a_2", 1), ("test_a", 2)])
        self.assertEqual(_readings("test_a_65", False), [("test_a_65", 1)])
        # Not as numbered() writes them: a leading zero, a digit not ASCII
        # (which int() refused, failing the class).
        self.assertEqual(_readings("test_a_02", False), [("test_a_02", 1)])
        self.assertEqual(_readings("test_a_\u00b2", False), [("test_a_\u00b2", 1)])
        templates = [("test_a_template", 1), ("test_a", 0)]
        self.assertEqual(_readings("test_a_template", True), templates)
        self.assertEqual(_readings("test_a_template", False), templates[:1])


globals().update(engine_classes([_NameClashes], SERVERS))
