"""Test data: fixture files, factories, and configuration for one test."""

import factory
from bookshop import Author
from bookshop import Book
from bookshop import Customer

from flask_dbcase import ClientTestCase
from flask_dbcase import override_config
from flask_dbcase.factory import ModelFactory

from .base import BookshopApp


class AuthorFactory(ModelFactory):
    class Meta:
        model = Author

    name = factory.Sequence(lambda n: f"Author {n}")


class BookFactory(ModelFactory):
    class Meta:
        model = Book

    isbn = factory.Sequence(lambda n: f"{9780000000000 + n}")
    title = factory.Sequence(lambda n: f"Book {n}")
    author = factory.SubFactory(AuthorFactory)


class CatalogueTests(BookshopApp, ClientTestCase):
    # Found in tests/fixtures/, loaded once for the class, in its transaction.
    fixtures = ["catalogue.json", "customers.yaml"]

    def test_fixture_rows(self):
        self.assertDatabaseCount(Book, 2)
        self.assertDatabaseHas(Book, title="The Dispossessed", stock=3)
        self.assertDatabaseHas(Customer, email="ada@example.com")

    def test_factories_add_to_the_test_session(self):
        BookFactory.create_batch(3, stock=1)
        self.assertDatabaseCount(Book, 5)
        response = self.client.get("/api/books")
        self.assertEqual(len(response.json), 5)

    def test_and_are_rolled_back(self):
        self.assertDatabaseCount(Book, 2)

    def test_an_api_that_saves(self):
        with self.assertCommits(1):
            response = self.client.post(
                "/api/books",
                json={
                    "isbn": "9780553380958",
                    "title": "Snow Crash",
                    "author": "Neal Stephenson",
                },
            )
        self.assert201(response)
        self.assertJSONSubset(response, {"title": "Snow Crash", "stock": 0})
        self.assertDatabaseHas(Author, name="Neal Stephenson")

    @override_config(BOOKSHOP_EAGER_LOADING=False)
    def test_lazy_loading_costs_a_query_per_author(self):
        AuthorFactory()  # an author of no book: no query for it
        with self.assertNumQueries(2):  # the books, then their one author
            self.client.get("/api/books")
