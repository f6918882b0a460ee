"""The app the benchmarks test: 5 tables with indexes and foreign keys, two binds."""

from __future__ import annotations

import typing as t

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


class Author(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), unique=True, nullable=False)


class Book(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(200), nullable=False, index=True)
    author_id = db.Column(db.ForeignKey(Author.id), nullable=False, index=True)


class Customer(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(120), unique=True, nullable=False)


class Order(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "orders"
    id = db.Column(db.Integer, primary_key=True)
    customer_id = db.Column(db.ForeignKey(Customer.id), nullable=False, index=True)
    book_id = db.Column(db.ForeignKey(Book.id), nullable=False, index=True)


class Review(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    book_id = db.Column(db.ForeignKey(Book.id), nullable=False, index=True)
    stars = db.Column(db.Integer, nullable=False)


class AuditEntry(db.Model):  # type: ignore[name-defined,misc]
    __bind_key__ = "audit"
    id = db.Column(db.Integer, primary_key=True)
    message = db.Column(db.String(200), nullable=False)


def create_app(url: str, audit_url: str) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["SQLALCHEMY_BINDS"] = {"audit": audit_url}
    db.init_app(app)

    @app.get("/books")
    def books() -> list[str]:
        return list(db.session.scalars(sa.select(Book.title).order_by(Book.title)))

    return app


def typical_work(client: t.Any) -> None:
    """What a typical test does: a few rows, a query, a request."""
    author = Author(name="Ursula")
    db.session.add(author)
    db.session.flush()
    db.session.add_all([Book(title=f"Book {i}", author_id=author.id) for i in range(3)])
    db.session.add(AuditEntry(message="added"))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Book.id))) == 3
    assert len(client.get("/books").json) == 3
