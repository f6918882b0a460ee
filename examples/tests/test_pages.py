"""The HTML pages, tested the way Flask-Testing's documentation shows.

This module was written for Flask-Testing. Moving it to flask_dbcase changed two
lines: the import below, and the base class (Flask-Testing's TestCase). Every
assertion kept its name and meaning; each test now also runs in a transaction
that is rolled back, and each request in an application context of its own.
"""

from bookshop import Author
from bookshop import Book
from bookshop import Customer
from bookshop import db
from bookshop import Order
from flask import url_for

from flask_dbcase import (
    ClientTestCase as TestCase,  # was: from flask_testing import TestCase
)

from .base import BookshopApp


class PageTests(BookshopApp, TestCase):  # was: class PageTests(TestCase)
    def setUp(self):
        self.customer = Customer(email="ada@example.com")
        self.customer.set_password("correct horse")
        self.book = Book(
            isbn="9780441172719",
            title="Dune",
            stock=2,
            author=Author(name="Frank Herbert"),
        )
        db.session.add_all([self.customer, self.book])
        db.session.commit()

    def log_in(self, password="correct horse"):
        form = {"email": "ada@example.com", "password": password}
        return self.client.post("/login", data=form)

    def test_books_page(self):
        response = self.client.get("/books?q=dune")
        self.assert200(response)
        self.assertTemplateUsed("books.html")
        self.assertContext("q", "dune")
        self.assertIn(b"Frank Herbert", response.data)

    def test_each_page_its_template(self):
        with self.assertRendersTemplate("login.html"):
            self.client.get(url_for("login"))
        response = self.client.get(url_for("books"))
        self.assertTemplateUsed(response, "books.html")
        self.assertTemplateNotUsed(response, "login.html")

    def test_login_redirects_and_welcomes(self):
        response = self.log_in()
        self.assertRedirects(response, url_for("books"))
        self.assertMessageFlashed("Welcome, ada@example.com.", "success")

    def test_wrong_password(self):
        response = self.log_in(password="wrong")
        self.assert200(response)
        self.assertTemplateUsed("login.html")
        self.assertMessageFlashed("Wrong email or password.", "error")

    def test_ordering_needs_a_login(self):
        response = self.client.post(f"/books/{self.book.id}/order")
        # 302 until Werkzeug 3.2, whose redirect() answers 303 See Other.
        self.assertIn(response.status_code, (302, 303))
        self.assertTrue(response.location.startswith("/login"))

    def test_order(self):
        self.log_in()
        response = self.client.post(
            f"/books/{self.book.id}/order", data={"quantity": "2"}
        )
        self.assertRedirects(response, "/orders")
        self.assertMessageFlashed("Ordered 2 of Dune.", "success")
        self.assertEqual(db.session.get(Book, self.book.id).stock, 0)
        self.assertEqual(db.session.query(Order).count(), 1)
        # Kept in the outbox, not sent: flask_dbcase holds Flask-Mail's mail.
        self.assertEmailSent(to="ada@example.com", subject="Your order: Dune")

    def test_out_of_stock(self):
        self.log_in()
        response = self.client.post(
            f"/books/{self.book.id}/order", data={"quantity": "3"}
        )
        self.assertRedirects(response, "/books")
        self.assertMessageFlashed("Not enough copies of Dune.", "error")
        self.assertEqual(db.session.get(Book, self.book.id).stock, 2)

    def test_missing_book(self):
        self.log_in()
        self.assert404(self.client.post("/books/999999/order"))

    def test_wrong_method(self):
        self.assert405(self.client.get(f"/books/{self.book.id}/order"))


class FastPageTests(BookshopApp, TestCase):
    # Flask-Testing's switch: templates are not rendered, but still recorded.
    render_templates = False

    def test_orders_page_lists_mine(self):
        customer = Customer(email="bob@example.com")
        book = Book(
            isbn="9780261103252", title="The Hobbit", author=Author(name="Tolkien")
        )
        db.session.add_all([customer, Order(customer=customer, book=book, quantity=1)])
        db.session.commit()
        # flask_dbcase's helper: logged in without posting the form.
        self.login(customer)
        response = self.client.get("/orders")
        self.assert200(response)
        self.assertEqual(response.data, b"")
        self.assertTemplateUsed("orders.html")
        self.assertEqual(
            [o.book.title for o in self.rendered_templates[0].context["orders"]],
            ["The Hobbit"],
        )
