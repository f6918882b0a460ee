"""Work done in another thread commits for real: DatabaseTestCase."""

from bookshop import Author
from bookshop import Book
from bookshop import db
from bookshop import restock_later

from flask_dbcase import DatabaseTestCase

from .base import BookshopApp


class RestockTests(BookshopApp, DatabaseTestCase):
    def setUp(self):
        self.book = Book(
            isbn="9780765326355",
            title="The Way of Kings",
            stock=0,
            author=Author(name="Brandon Sanderson"),
        )
        db.session.add(self.book)
        db.session.commit()
        self.book_id = self.book.id

    def stock(self):
        # End the test's own transaction first: under REPEATABLE READ (MySQL's
        # default) it would keep showing the rows as they were before the worker.
        db.session.rollback()
        return db.session.get(Book, self.book_id).stock

    def test_restock_from_a_thread(self):
        restock_later(self.app, self.book_id, 5).join()
        self.assertEqual(self.stock(), 5)

    def test_two_restocks(self):
        # One after the other: on SQLite in memory, the default here, every
        # thread shares the one connection, which two at once would break.
        restock_later(self.app, self.book_id, 1).join()
        restock_later(self.app, self.book_id, 2).join()
        self.assertEqual(self.stock(), 3)

    def test_tables_were_emptied_between_tests(self):
        self.assertEqual(db.session.query(Book).count(), 1)
        self.assertEqual(db.session.query(Author).count(), 1)
