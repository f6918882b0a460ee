"""The JSON API, on ClientTestCase: each request in a context of its own."""

from bookshop import Author
from bookshop import Book
from bookshop import Customer
from bookshop import db
from bookshop import Order

from flask_dbcase import ClientTestCase
from flask_dbcase import override_config

from .base import BookshopApp


class BookApiTests(BookshopApp, ClientTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.book = Book(
            isbn="9780553283686",
            title="Hyperion",
            stock=1,
            author=Author(name="Dan Simmons"),
        )
        db.session.add(cls.book)

    def test_list(self):
        response = self.client.get("/api/books")
        self.assertEqual(response.status_code, 200)
        self.assertEqual([b["title"] for b in response.json], ["Hyperion"])

    def test_list_takes_two_queries_however_many_books(self):
        for n in range(3):
            author = Author(name=f"Author {n}")
            db.session.add(
                Book(isbn=f"978000000000{n}", title=f"Book {n}", author=author)
            )
        db.session.commit()
        with self.assertNumQueries(2):
            response = self.client.get("/api/books")
        self.assert200(response)
        self.assertEqual(len(response.json), 4)

    def test_show(self):
        response = self.client.get(f"/api/books/{self.book.id}")
        self.assertEqual(response.json["author"], "Dan Simmons")

    def test_show_missing(self):
        self.assertEqual(self.client.get("/api/books/999999").status_code, 404)

    def test_add(self):
        response = self.client.post(
            "/api/books",
            json={
                "isbn": "9780553288209",
                "title": "The Fall of Hyperion",
                "author": "Dan Simmons",
            },
        )
        self.assertEqual(response.status_code, 201)
        self.assertEqual(db.session.query(Book).count(), 2)
        self.assertEqual(db.session.query(Author).count(), 1)

    def test_add_duplicate_isbn_rolls_back(self):
        response = self.client.post(
            "/api/books",
            json={"isbn": "9780553283686", "title": "Copy", "author": "New Author"},
        )
        self.assertEqual(response.status_code, 409)
        self.assertEqual(db.session.query(Author).count(), 1)

    def test_add_invalid(self):
        response = self.client.post("/api/books", json={"title": "No ISBN"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json, {"error": "missing: isbn, author"})

    def test_delete(self):
        book_id = self.book.id
        response = self.client.delete(f"/api/books/{book_id}")
        self.assertEqual(response.status_code, 204)
        # The test's session was expired after the request: it sees the deletion.
        self.assertIsNone(db.session.get(Book, book_id))

    def test_deleted_book_is_back(self):
        self.assertIsNotNone(db.session.get(Book, self.book.id))


class OrderApiTests(BookshopApp, ClientTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.book = Book(
            isbn="9780345391803",
            title="The Hitchhiker's Guide",
            stock=2,
            author=Author(name="Douglas Adams"),
        )
        cls.customer = Customer(email="arthur@example.com")
        db.session.add_all([cls.book, cls.customer])

    def test_order(self):
        response = self.client.post(
            "/api/orders",
            json={
                "email": "arthur@example.com",
                "book_id": self.book.id,
                "quantity": 2,
            },
        )
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.json["stock"], 0)
        # The request committed; the test's session sees it.
        self.assertEqual(self.book.stock, 0)

    def test_order_rows(self):
        order = {"email": "arthur@example.com", "book_id": self.book.id, "quantity": 2}
        with self.assertChanges({Order: +1, Book: 0}) as changes:
            self.client.post("/api/orders", json=order)
        [(before, after)] = changes[Book].updated
        self.assertEqual((before["stock"], after["stock"]), (2, 0))
        self.assertEqual(changes[Order].inserted[0]["quantity"], 2)

    def test_refused_order_changes_nothing(self):
        order = {"email": "arthur@example.com", "book_id": self.book.id, "quantity": 3}
        with self.captureChanges() as changes:
            response = self.client.post("/api/orders", json=order)
        self.assertEqual(response.status_code, 409)
        self.assertFalse(changes, changes.listing())

    def test_order_too_many(self):
        response = self.client.post(
            "/api/orders",
            json={
                "email": "arthur@example.com",
                "book_id": self.book.id,
                "quantity": 3,
            },
        )
        self.assertEqual(response.status_code, 409)
        self.assertEqual(db.session.query(Order).count(), 0)
        self.assertEqual(self.book.stock, 2)

    def test_unknown_customer(self):
        response = self.client.post(
            "/api/orders", json={"email": "nobody@example.com", "book_id": self.book.id}
        )
        self.assertEqual(response.status_code, 404)

    def test_author_page(self):
        response = self.client.get(f"/api/authors/{self.book.author_id}")
        self.assertEqual(
            response.json,
            {"name": "Douglas Adams", "books": ["The Hitchhiker's Guide"]},
        )


class BookApiQueryTests(BookshopApp, ClientTestCase):
    # Any request of these tests in which one query runs twice fails: N+1
    # queries are caught wherever they hide, with no assertion to write.
    max_queries_per_request = 1

    @classmethod
    def setUpTestData(cls):
        for n in range(3):
            author = Author(name=f"Author {n}")
            db.session.add(
                Book(isbn=f"978000000000{n}", title=f"Book {n}", author=author)
            )

    def test_list(self):
        self.assert200(self.client.get("/api/books"))

    @override_config(BOOKSHOP_EAGER_LOADING=False)
    def test_list_without_eager_loading_is_caught(self):
        with self.assertRaises(self.failureException) as raised:
            self.client.get("/api/books")
        self.assertIn("ran 3 times", str(raised.exception))
