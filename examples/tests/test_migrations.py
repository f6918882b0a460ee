"""The schema built from the Alembic migrations, not from the models."""

import sqlalchemy as sa
from bookshop import Author
from bookshop import Book
from bookshop import db

from flask_dbcase import TransactionalTestCase

from .base import BookshopApp


class MigratedSchemaTests(BookshopApp, TransactionalTestCase):
    # Run 'migrations/' (Flask-Migrate's folder) up to the head, and fail the class
    # if the result differs from the models: a migration someone forgot.
    migrations = True
    check_migrations = True

    def test_schema_is_at_the_head(self):
        version = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
        self.assertEqual(version, "6878145a46ab")

    def test_models_work_on_the_migrated_schema(self):
        db.session.add(
            Book(
                isbn="9780060850524",
                title="Brave New World",
                author=Author(name="Aldous Huxley"),
            )
        )
        db.session.commit()
        self.assertEqual(db.session.query(Book).count(), 1)

    def test_and_are_rolled_back(self):
        self.assertEqual(db.session.query(Book).count(), 0)
