"""Pages that need no database, on AppTestCase: no test database, no
transaction, and any query fails the test."""

from flask import url_for

from flask_dbcase import AppTestCase

from .base import BookshopApp


class LoginPageTests(BookshopApp, AppTestCase):
    def test_login_form(self):
        response = self.client.get(url_for("login"))
        self.assert200(response)
        self.assertTemplateUsed("login.html")
        self.assertContains(response, 'name="password"')

    def test_logging_out_leads_to_the_login_page(self):
        self.assertRedirects(self.client.post("/logout"), url_for("login"))
