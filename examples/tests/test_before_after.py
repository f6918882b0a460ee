"""The same tests written by hand, as many Flask tutorials show, and with
flask_dbcase. The docs' migration guide shows both; both run here."""

import unittest

from bookshop import Author
from bookshop import Book
from bookshop import create_app
from bookshop import db

from flask_dbcase import ClientTestCase

from .base import BookshopApp


class HandWrittenBookTests(unittest.TestCase):
    # Before: an app, its context and every table built and dropped per test, on
    # SQLite in memory whatever the production database is.
    def setUp(self):
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
        self.app_context = self.app.app_context()
        self.app_context.push()
        db.create_all()
        self.client = self.app.test_client()
        author = Author(name="Mary Shelley")
        db.session.add(Book(isbn="9780141439471", title="Frankenstein", author=author))
        db.session.commit()

    def tearDown(self):
        db.session.remove()
        db.drop_all()
        self.app_context.pop()

    def test_list(self):
        response = self.client.get("/api/books")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json[0]["author"], "Mary Shelley")

    def test_remove(self):
        book = db.session.scalar(db.select(Book))
        response = self.client.delete(f"/api/books/{book.id}")
        self.assertEqual(response.status_code, 204)
        self.assertEqual(db.session.query(Book).count(), 0)


class BookTests(BookshopApp, ClientTestCase):
    # After: the app built once for the class, the schema once for the run, the
    # data once for the class; each test rolled back; any database.
    @classmethod
    def setUpTestData(cls):
        author = Author(name="Mary Shelley")
        cls.book = Book(isbn="9780141439471", title="Frankenstein", author=author)
        db.session.add(cls.book)

    def test_list(self):
        response = self.client.get("/api/books")
        self.assert200(response)
        self.assertEqual(response.json[0]["author"], "Mary Shelley")

    def test_remove(self):
        response = self.client.delete(f"/api/books/{self.book.id}")
        self.assert204(response)
        self.assertDatabaseCount(Book, 0)
