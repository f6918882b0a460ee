"""The domain logic, on TransactionalTestCase with class-wide data."""

import sqlalchemy as sa
from bookshop import Author
from bookshop import Book
from bookshop import Customer
from bookshop import db
from bookshop import Order
from bookshop import OutOfStock
from bookshop import place_order

from flask_dbcase import skipIfDialect
from flask_dbcase import TransactionalTestCase

from .base import BookshopApp


class OrderTests(BookshopApp, TransactionalTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.author = Author(name="Ursula K. Le Guin")
        cls.book = Book(
            isbn="9780441478125",
            title="The Left Hand of Darkness",
            stock=3,
            author=cls.author,
        )
        cls.customer = Customer(email="reader@example.com")
        db.session.add_all([cls.book, cls.customer])

    def test_order_takes_books_from_stock(self):
        place_order(self.customer, self.book, 2)
        self.assertEqual(self.book.stock, 1)
        self.assertEqual(db.session.query(Order).count(), 1)

    def test_stock_is_back_for_the_next_test(self):
        self.assertEqual(self.book.stock, 3)
        self.assertEqual(db.session.query(Order).count(), 0)

    def test_out_of_stock_rolls_back(self):
        with self.assertRaises(OutOfStock):
            place_order(self.customer, self.book, 5)
        db.session.expire_all()
        self.assertEqual(db.session.get(Book, self.book.id).stock, 3)
        self.assertEqual(db.session.query(Order).count(), 0)

    def test_a_failed_order_does_not_undo_an_earlier_one(self):
        place_order(self.customer, self.book, 1)
        with self.assertRaises(OutOfStock):
            place_order(self.customer, self.book, 5)
        self.assertEqual(db.session.query(Order).count(), 1)
        self.assertEqual(db.session.get(Book, self.book.id).stock, 2)

    def test_changes_to_class_data_do_not_leak(self):
        self.author.name = "Someone Else"
        db.session.commit()
        self.assertEqual(db.session.scalar(sa.select(Author.name)), "Someone Else")

    def test_class_data_is_intact(self):
        self.assertEqual(self.author.name, "Ursula K. Le Guin")
        self.assertEqual(
            [b.title for b in self.author.books], ["The Left Hand of Darkness"]
        )


class ConstraintTests(BookshopApp, TransactionalTestCase):
    def test_isbn_is_unique(self):
        author = Author(name="A")
        db.session.add(Book(isbn="1", title="One", author=author))
        db.session.commit()
        db.session.add(Book(isbn="1", title="Again", author=author))
        with self.assertRaises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()
        self.assertEqual(db.session.query(Book).count(), 1)

    @skipIfDialect("sqlite")  # SQLite does not check a string's length
    def test_isbn_is_at_most_13_characters(self):
        author = Author(name="C")
        db.session.add(Book(isbn="97804414781250", title="Long", author=author))
        with self.assertRaises(sa.exc.DataError):
            db.session.flush()
        db.session.rollback()

    def test_savepoint_keeps_the_outer_work(self):
        author = Author(name="B")
        db.session.add(author)
        with db.session.begin_nested():
            db.session.add(Book(isbn="2", title="Kept", author=author))
        try:
            with db.session.begin_nested():
                db.session.add(Book(isbn="2", title="Duplicate", author=author))
        except sa.exc.IntegrityError:
            pass
        db.session.commit()
        self.assertEqual(db.session.scalars(sa.select(Book.title)).all(), ["Kept"])

    def test_core_statements_are_rolled_back_too(self):
        with db.engine.begin() as connection:
            connection.execute(sa.insert(Author.__table__), [{"name": "C"}])
        self.assertEqual(db.session.query(Author).count(), 1)

    def test_nothing_is_left_from_other_tests(self):
        self.assertEqual(db.session.query(Author).count(), 0)
        self.assertEqual(db.session.query(Book).count(), 0)
