from app import Author
from app import Book
from app import create_app
from app import db

from flask_dbcase import ClientTestCase
from flask_dbcase import TransactionalTestCase


class ModelTests(TransactionalTestCase):
    def create_app(self):
        return create_app()

    @classmethod
    def setUpTestData(cls):
        cls.author = Author(name="Octavia E. Butler")
        db.session.add(cls.author)

    def test_add_a_book(self):
        db.session.add(Book(title="Kindred", author=self.author))
        db.session.commit()  # committed, and still rolled back after the test
        self.assertDatabaseCount(Book, 1)

    def test_each_test_starts_afresh(self):
        self.assertDatabaseCount(Book, 0)
        self.assertEqual(self.author.books, [])


class ApiTests(ClientTestCase):
    def create_app(self):
        return create_app()

    def test_add_then_list(self):
        response = self.client.post(
            "/books", json={"title": "Dawn", "author": "Octavia E. Butler"}
        )
        self.assert201(response)
        self.assertDatabaseHas(Author, name="Octavia E. Butler")
        self.assertJSONEqual(
            self.client.get("/books"),
            [{"title": "Dawn", "author": "Octavia E. Butler"}],
        )
