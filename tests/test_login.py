"""The Flask-Login helper: login() and logout() of the test client."""

from __future__ import annotations

import typing as t

import flask_login

from flask_dbcase import ClientTestCase

from .support import ENGINES
from .support import make_app


class User(flask_login.UserMixin):
    def __init__(self, id: str, active: bool = True) -> None:
        self.id = id
        self.active = active

    @property
    def is_active(self) -> bool:
        return self.active


def login_app(protection: str) -> t.Any:
    app = make_app(ENGINES[0], SECRET_KEY="test")
    manager = flask_login.LoginManager(app)
    manager.session_protection = protection
    users = {"ann": User("ann"), "bob": User("bob", active=False)}
    manager.user_loader(users.get)

    @app.post("/login/<id>")
    def login(id: str) -> str:
        flask_login.login_user(users[id])
        return "in"

    @app.get("/me")
    @flask_login.login_required
    def me() -> dict[str, t.Any]:
        return {"id": flask_login.current_user.id, "fresh": flask_login.login_fresh()}

    return app


class Login(ClientTestCase):
    def create_app(self) -> t.Any:
        return login_app("strong")

    def test_login_and_logout(self) -> None:
        self.assert401(self.client.get("/me"))
        self.login(User("ann"))
        # 'strong' session protection logs out a session made elsewhere; this one
        # was made for the client's own address and agent.
        self.assertJSONEqual(self.client.get("/me"), {"id": "ann", "fresh": True})
        self.assertJSONEqual(self.client.get("/me"), {"id": "ann", "fresh": True})
        self.logout()
        self.assert401(self.client.get("/me"))

    def test_logout_after_the_apps_own_login(self) -> None:
        # No login(): logout() removes the keys Flask-Login writes.
        self.client.post("/login/ann")
        self.assertJSONEqual(self.client.get("/me"), {"id": "ann", "fresh": True})
        self.logout()
        with self.client.session_transaction() as session:
            for key in ("_user_id", "_fresh", "_id"):
                self.assertNotIn(key, session)
        self.assert401(self.client.get("/me"))

    def test_not_fresh(self) -> None:
        self.login(User("ann"), fresh=False)
        self.assertJSONEqual(self.client.get("/me"), {"id": "ann", "fresh": False})

    def test_inactive_user(self) -> None:
        with self.assertRaises(RuntimeError) as raised:
            self.login(User("bob", active=False))
        self.assertIn(
            "its 'is_active' is false. Pass force=True", str(raised.exception)
        )
        self.login(User("bob", active=False), force=True)
        with self.client.session_transaction() as session:
            self.assertEqual(session["_user_id"], "bob")

    def test_test_context_stays_anonymous(self) -> None:
        from flask import g

        self.login(User("ann"))
        self.assertNotIn("_login_user", g)  # login_user ran in a context of its own


class LoginWithoutManager(ClientTestCase):
    def create_app(self) -> t.Any:
        return make_app(ENGINES[0], SECRET_KEY="test")

    def test_clear_error(self) -> None:
        with self.assertRaises(RuntimeError) as raised:
            self.login(User("ann"))
        self.assertEqual(
            str(raised.exception),
            "'LoginWithoutManager.login()': the app has no Flask-Login LoginManager."
            " Call 'login_manager.init_app(app)' in the app factory.",
        )
