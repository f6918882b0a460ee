"""Time a suite of realistic size serially and on two workers, on PostgreSQL.

    python benchmarks/large_suite.py [--classes 100] [--per-class 10] [--workers 2]

The suite is generated: an app of 60 tables with foreign keys and indexes, and
100 TransactionalTestCase classes of 10 tests each. Every test commits several
times, runs two jobs in application contexts of their own (as CLI commands and
task functions do), and sends a request through the test client. It runs with
``python -m unittest``, ``unittest-parallel -j N`` and ``pytest -n N``, each in a
fresh process, unchanged: each worker gets a test database of its own. The
databases each run leaves are counted (unittest-parallel kills its workers,
whose databases the next run drops); after a short run that follows, none may
be left.

Needs DBCASE_POSTGRESQL_URL (the database named in it is replaced by
'bench_large'), unittest-parallel and pytest-xdist. Wall times include the
interpreter's start-up; compare the ratios, the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import sqlalchemy as sa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

APP = textwrap.dedent(
    """
    import sqlalchemy as sa
    from flask import Flask, request
    from flask_sqlalchemy import SQLAlchemy

    db = SQLAlchemy()
    TABLES = {tables}


    class Customer(db.Model):
        id = db.Column(db.Integer, primary_key=True)
        email = db.Column(db.String(120), unique=True, nullable=False)
        balance = db.Column(db.Integer, nullable=False, default=0)


    class Entry(db.Model):
        id = db.Column(db.Integer, primary_key=True)
        customer_id = db.Column(db.ForeignKey(Customer.id), nullable=False, index=True)
        amount = db.Column(db.Integer, nullable=False)


    # The rest of a large schema: tables the tests barely touch.
    for i in range(TABLES - 2):
        columns = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(80), nullable=False, index=True),
            sa.Column("customer_id", sa.ForeignKey("customer.id"), index=True),
        ]
        sa.Table(f"extra_{{i}}", db.metadata, *columns)


    def credit(app, customer_id, amount):
        # A job: its own application context, its own session, and a commit.
        with app.app_context():
            customer = db.session.get(Customer, customer_id)
            customer.balance += amount
            db.session.add(Entry(customer_id=customer_id, amount=amount))
            db.session.commit()


    def create_app():
        app = Flask(__name__)
        app.config["SQLALCHEMY_DATABASE_URI"] = {url!r}
        db.init_app(app)

        @app.post("/customers/<int:id>/debit")
        def debit(id):
            customer = db.session.get(Customer, id)
            customer.balance -= int(request.json["amount"])
            db.session.add(Entry(customer_id=id, amount=-int(request.json["amount"])))
            db.session.commit()
            return {{"balance": customer.balance}}

        return app
    """
)

TESTS = textwrap.dedent(
    """
    from flask_dbcase import ClientTestCase

    from app import Customer, Entry, create_app, credit, db


    class Base(ClientTestCase):
        create_app = staticmethod(create_app)
        reuse_app = True

        @classmethod
        def setUpTestData(cls):
            cls.customer = Customer(email="ann@example.com", balance=100)
            db.session.add(cls.customer)
    """
)

CLASS = textwrap.dedent(
    """

    class Ledger{number}Tests(Base):
    {tests}
    """
)

TEST = """
    def test_{number}(self):
        for amount in range(5):
            db.session.add(Entry(customer_id=self.customer.id, amount=amount))
            db.session.commit()
        credit(self.app, self.customer.id, 50)
        credit(self.app, self.customer.id, 25)
        self.assertEqual(self.customer.balance, 175)
        response = self.client.post(
            f"/customers/{{self.customer.id}}/debit", json={{"amount": 75}}
        )
        self.assertEqual(response.json, {{"balance": 100}})
        self.assertEqual(self.customer.balance, 100)
        self.assertDatabaseCount(Entry, 8)
"""


def write_suite(folder: str, url: str, classes: int, per_class: int) -> None:
    with open(os.path.join(folder, "app.py"), "w") as f:
        f.write(APP.format(tables=60, url=url))
    with open(os.path.join(folder, "test_ledger.py"), "w") as f:
        f.write(TESTS)
        for number in range(classes):
            tests = "".join(TEST.format(number=n) for n in range(per_class))
            f.write(CLASS.format(number=number, tests=tests))


def leftovers(server: sa.URL) -> list[str]:
    engine = sa.create_engine(server.set(database="postgres"))
    with engine.connect() as connection:
        found = connection.exec_driver_sql(
            "SELECT datname FROM pg_database WHERE strpos(datname, 'bench_large') > 0"
        )
        names = sorted(found.scalars())
    engine.dispose()
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    base = os.environ.get("DBCASE_POSTGRESQL_URL")
    if not base:
        raise SystemExit("set DBCASE_POSTGRESQL_URL")
    url = sa.make_url(base).set(database="bench_large")
    folder = tempfile.mkdtemp(prefix="dbcase-large-")
    tests = args.classes * args.per_class
    write_suite(folder, url.render_as_string(False), args.classes, args.per_class)
    workers = str(args.workers)
    python = sys.executable
    commands = {
        "serial (unittest)": [python, "-m", "unittest", "-q", "test_ledger"],
        f"unittest-parallel -j {workers}": [
            *(python, "-m", "unittest_parallel", "-j", workers),
            *("--level", "class", "-s", ".", "-t", "."),
        ],
        f"pytest -n {workers}": [
            *(python, "-m", "pytest", "-q", "-n", workers),
            *("-p", "no:cacheprovider", "test_ledger.py"),
        ],
    }
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([folder, ROOT]))
    serial = None
    failed = False
    print(f"{tests} tests in {args.classes} classes, 60 tables, on PostgreSQL:")
    try:
        for label, command in commands.items():
            start = time.perf_counter()
            done = subprocess.run(
                command, cwd=folder, env=env, capture_output=True, text=True
            )
            elapsed = time.perf_counter() - start
            serial = serial or elapsed
            left = leftovers(url)
            status = "ok" if done.returncode == 0 else "FAILED"
            print(
                f"  {label:24} {elapsed:6.1f} s wall, x{serial / elapsed:.2f}"
                f" against serial; databases left: {len(left)} ({status})"
            )
            if status != "ok":
                failed = True
                print((done.stdout + done.stderr)[-3000:])
        # unittest-parallel kills its workers, whose databases outlive them: the
        # next run drops them, as this short one must.
        sweep = [python, "-m", "unittest", "-q", "-k", "Ledger0Tests", "test_ledger"]
        subprocess.run(sweep, cwd=folder, env=env, capture_output=True, check=True)
        left = leftovers(url)
        print(f"  after a short run that follows: databases left: {len(left)}")
        failed = failed or bool(left)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
