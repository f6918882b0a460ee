import os

from flask import Flask
from flask import request
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


class Author(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), unique=True, nullable=False)


class Book(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(200), nullable=False)
    author_id = db.Column(db.ForeignKey(Author.id), nullable=False)
    author = db.relationship(Author, backref="books")


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get(
        "DATABASE_URL", "sqlite:///library.db"
    )
    db.init_app(app)

    @app.post("/books")
    def add_book():
        author = db.session.scalar(
            db.select(Author).filter_by(name=request.json["author"])
        )
        book = Book(
            title=request.json["title"],
            author=author or Author(name=request.json["author"]),
        )
        db.session.add(book)
        db.session.commit()
        return {"id": book.id, "title": book.title}, 201

    @app.get("/books")
    def list_books():
        books = db.session.scalars(db.select(Book).order_by(Book.title))
        return [{"title": b.title, "author": b.author.name} for b in books]

    return app
