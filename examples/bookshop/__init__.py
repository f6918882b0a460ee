"""A small bookshop: authors, books, customers and orders, with a JSON API."""

from __future__ import annotations

import os
import threading
import typing as t

import flask_login
import sqlalchemy as sa
from flask import abort
from flask import flash
from flask import Flask
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_mail import Mail
from flask_mail import Message
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

db = SQLAlchemy()
migrate = Migrate()
mail = Mail()
login_manager = flask_login.LoginManager()
login_manager.login_view = "login"
MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


class Author(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), unique=True, nullable=False)
    books = db.relationship("Book", back_populates="author", order_by="Book.title")


class Book(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    isbn = db.Column(db.String(13), unique=True, nullable=False)
    title = db.Column(db.String(200), nullable=False)
    stock = db.Column(db.Integer, nullable=False, default=0)
    author_id = db.Column(db.ForeignKey(Author.id), nullable=False, index=True)
    author = db.relationship(Author, back_populates="books")

    def to_json(self) -> dict[str, t.Any]:
        return {
            "id": self.id,
            "isbn": self.isbn,
            "title": self.title,
            "stock": self.stock,
            "author": self.author.name,
        }


class Customer(flask_login.UserMixin, db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(120), unique=True, nullable=False)
    password_hash = db.Column(db.String(256))

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(
            self.password_hash, password
        )


@login_manager.user_loader
def load_customer(customer_id: str) -> Customer | None:
    return db.session.get(Customer, int(customer_id))


class Order(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    customer_id = db.Column(db.ForeignKey(Customer.id), nullable=False, index=True)
    book_id = db.Column(db.ForeignKey(Book.id), nullable=False, index=True)
    quantity = db.Column(db.Integer, nullable=False)
    customer = db.relationship(Customer)
    book = db.relationship(Book)


class OutOfStock(Exception):
    pass


def place_order(customer: Customer, book: Book, quantity: int) -> Order:
    """Take books from stock and record the order, all or nothing."""
    order = Order(customer=customer, book=book, quantity=quantity)
    db.session.add(order)
    book.stock -= quantity
    db.session.flush()
    if book.stock < 0:
        db.session.rollback()
        raise OutOfStock(book.title)
    db.session.commit()
    return order


def restock_later(app: Flask, book_id: int, amount: int) -> threading.Thread:
    """Add stock from a worker thread with its own session, as a job queue would."""

    def work() -> None:
        with app.app_context():
            db.session.execute(
                sa.update(Book)
                .where(Book.id == book_id)
                .values(stock=Book.stock + amount)
            )
            db.session.commit()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def create_app(config: dict[str, t.Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///bookshop.db"
    app.config["BOOKSHOP_EAGER_LOADING"] = True
    app.config["SECRET_KEY"] = "dev"  # set a real one in production
    app.config["MAIL_DEFAULT_SENDER"] = "shop@example.com"
    app.config.update(config or {})
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS)
    mail.init_app(app)
    login_manager.init_app(app)
    add_pages(app)

    @app.get("/api/books")
    def list_books() -> list[dict[str, t.Any]]:
        query = sa.select(Book).order_by(Book.title)
        if app.config["BOOKSHOP_EAGER_LOADING"]:
            # One query for the books, one for all their authors. Without it, each
            # book's author would cost a query of its own: N+1 queries.
            query = query.options(sa.orm.selectinload(Book.author))
        return [book.to_json() for book in db.session.scalars(query)]

    @app.get("/api/books/<int:book_id>")
    def show_book(book_id: int) -> dict[str, t.Any]:
        return db.get_or_404(Book, book_id).to_json()  # type: ignore[no-any-return]

    @app.post("/api/books")
    def add_book() -> tuple[dict[str, t.Any], int]:
        data = request.get_json(silent=True) or {}
        missing = [k for k in ("isbn", "title", "author") if not data.get(k)]
        if missing:
            return {"error": f"missing: {', '.join(missing)}"}, 400
        author = db.session.scalar(sa.select(Author).filter_by(name=data["author"]))
        if author is None:
            author = Author(name=data["author"])
        book = Book(isbn=data["isbn"], title=data["title"], stock=data.get("stock", 0))
        book.author = author
        db.session.add(book)
        try:
            db.session.commit()
        except sa.exc.IntegrityError:
            db.session.rollback()
            return {"error": f"ISBN {data['isbn']} is already listed"}, 409
        return book.to_json(), 201

    @app.delete("/api/books/<int:book_id>")
    def remove_book(book_id: int) -> tuple[str, int]:
        book = db.get_or_404(Book, book_id)
        db.session.delete(book)
        db.session.commit()
        return "", 204

    @app.post("/api/orders")
    def order_book() -> tuple[dict[str, t.Any], int]:
        data = request.get_json(silent=True) or {}
        customer = db.session.scalar(
            sa.select(Customer).filter_by(email=data.get("email"))
        )
        book = db.session.get(Book, data.get("book_id"))
        if customer is None or book is None:
            abort(404)
        try:
            order = place_order(customer, book, int(data.get("quantity", 1)))
        except OutOfStock:
            return {"error": f"not enough copies of {book.title!r}"}, 409
        return {"id": order.id, "stock": book.stock}, 201

    @app.get("/api/authors/<int:author_id>")
    def show_author(author_id: int) -> dict[str, t.Any]:
        author = db.get_or_404(Author, author_id)
        return {"name": author.name, "books": [b.title for b in author.books]}

    return app


def add_pages(app: Flask) -> None:
    """The HTML side: log in, browse the books, order one."""

    @app.route("/login", methods=["GET", "POST"])
    def login() -> t.Any:
        if request.method == "POST":
            customer = db.session.scalar(
                sa.select(Customer).filter_by(email=request.form.get("email", ""))
            )
            if customer and customer.check_password(request.form.get("password", "")):
                flask_login.login_user(customer)
                flash(f"Welcome, {customer.email}.", "success")
                return redirect(url_for("books"))
            flash("Wrong email or password.", "error")
        return render_template("login.html")

    @app.post("/logout")
    def logout() -> t.Any:
        flask_login.logout_user()
        return redirect(url_for("login"))

    @app.get("/books")
    def books() -> str:
        q = request.args.get("q", "").strip()
        query = sa.select(Book).order_by(Book.title)
        if q:
            query = query.where(Book.title.ilike(f"%{q}%"))
        query = query.options(sa.orm.selectinload(Book.author))
        found = db.session.scalars(query).all()
        return render_template("books.html", books=found, q=q)

    @app.post("/books/<int:book_id>/order")
    @flask_login.login_required
    def order(book_id: int) -> t.Any:
        book = db.get_or_404(Book, book_id)
        quantity = request.form.get("quantity", "1")
        if not quantity.isdigit() or int(quantity) < 1:
            flash("Order at least one copy.", "error")
            return redirect(url_for("books"))
        try:
            place_order(flask_login.current_user, book, int(quantity))
        except OutOfStock:
            flash(f"Not enough copies of {book.title}.", "error")
            return redirect(url_for("books"))
        flash(f"Ordered {quantity} of {book.title}.", "success")
        customer = flask_login.current_user
        mail.send(
            Message(
                f"Your order: {book.title}",
                recipients=[customer.email],
                body=f"{quantity} of {book.title} will be on their way.",
            )
        )
        return redirect(url_for("orders"))

    @app.get("/orders")
    @flask_login.login_required
    def orders() -> str:
        mine = db.session.scalars(
            sa.select(Order)
            .filter_by(customer_id=flask_login.current_user.id)
            .order_by(Order.id)
            .options(sa.orm.joinedload(Order.book))
        ).all()
        return render_template("orders.html", orders=mine)
