"""What every test class of the bookshop shares: how to build the app."""

import os

from bookshop import create_app

# SQLite in memory by default; CI points this at PostgreSQL or MariaDB too.
DATABASE_URL = os.environ.get("BOOKSHOP_DATABASE_URL", "sqlite://")


class BookshopApp:
    @classmethod
    def create_app(cls):
        return create_app({"SQLALCHEMY_DATABASE_URI": DATABASE_URL, "TESTING": True})
