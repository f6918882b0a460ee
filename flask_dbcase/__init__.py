"""Database test cases for Flask and Flask-SQLAlchemy, built on unittest."""

from .backends import TestDatabaseError as TestDatabaseError
from .config import override_config as override_config
from .fixtures import FixtureError as FixtureError
from .guard import DatabaseNotAllowedError as DatabaseNotAllowedError
from .skips import skipIfDialect as skipIfDialect
from .skips import skipUnlessDialect as skipUnlessDialect
from .skips import skipUnlessFeature as skipUnlessFeature
from .testcase import AppTestCase as AppTestCase
from .testcase import ClientTestCase as ClientTestCase
from .testcase import DatabaseTestCase as DatabaseTestCase
from .testcase import LiveServerTestCase as LiveServerTestCase
from .testcase import TransactionalTestCase as TransactionalTestCase
from .transaction import ConnectionLostError as ConnectionLostError
from .transaction import ImplicitCommitError as ImplicitCommitError
from .transaction import LockWaitError as LockWaitError

__version__ = "0.1.0.dev0"

__all__ = [
    "AppTestCase",
    "ClientTestCase",
    "ConnectionLostError",
    "DatabaseNotAllowedError",
    "DatabaseTestCase",
    "FixtureError",
    "ImplicitCommitError",
    "LiveServerTestCase",
    "LockWaitError",
    "TestDatabaseError",
    "TransactionalTestCase",
    "override_config",
    "skipIfDialect",
    "skipUnlessDialect",
    "skipUnlessFeature",
]
