"""A real browser against the live server: headless Chromium driven by Selenium.

Needs Debian's (or your system's) Chromium and its driver, and Selenium:

    apt-get install chromium chromium-driver
    pip install selenium

Without them these tests are skipped, unless BOOKSHOP_REQUIRE_BROWSER=1 (as CI
sets) makes that an error. Nothing is downloaded at run time: Selenium is given
the browser and the driver installed on the machine.
"""

import os
import shutil
import unittest

from bookshop import Author
from bookshop import Book
from bookshop import Customer
from bookshop import db
from bookshop import Order

from flask_dbcase import LiveServerTestCase

from .base import BookshopApp

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait
except ImportError:
    webdriver = None

MISSING = [
    name
    for name, found in [
        ("chromium", BROWSER),
        ("chromedriver", DRIVER),
        ("selenium", webdriver),
    ]
    if not found
]
REQUIRED = os.environ.get("BOOKSHOP_REQUIRE_BROWSER") == "1"


@unittest.skipIf(MISSING and not REQUIRED, f"not installed: {', '.join(MISSING)}")
class BrowserTests(BookshopApp, LiveServerTestCase):
    @classmethod
    def setUpClass(cls):
        if MISSING:
            raise RuntimeError(f"BOOKSHOP_REQUIRE_BROWSER=1, but missing: {MISSING}")
        super().setUpClass()
        options = webdriver.ChromeOptions()
        options.binary_location = BROWSER
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
            options.add_argument(argument)
        service = webdriver.ChromeService(executable_path=DRIVER)
        cls.browser = webdriver.Chrome(options=options, service=service)
        cls.addClassCleanup(cls.browser.quit)

    def setUp(self):
        customer = Customer(email="ada@example.com")
        customer.set_password("correct horse")
        author = Author(name="Ursula K. Le Guin")
        book = Book(
            isbn="9780060512750", title="The Dispossessed", stock=3, author=author
        )
        db.session.add_all([customer, book])
        db.session.commit()  # for real: the server runs in another thread
        self.book_id = book.id

    def wait_for(self, css):
        wait = WebDriverWait(self.browser, 10)
        return wait.until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    def log_in(self):
        self.browser.delete_all_cookies()
        self.browser.get(self.live_url("login"))
        self.browser.find_element(By.NAME, "email").send_keys("ada@example.com")
        self.browser.find_element(By.NAME, "password").send_keys("correct horse")
        self.browser.find_element(By.CSS_SELECTOR, "#login button").click()
        return self.wait_for("p.flash.success")

    def test_log_in_through_the_form_and_see_the_books(self):
        welcome = self.log_in()
        self.assertEqual(welcome.text, "Welcome, ada@example.com.")
        row = self.wait_for(f"#book-{self.book_id}")
        self.assertEqual(
            row.find_element(By.CLASS_NAME, "title").text, "The Dispossessed"
        )
        self.assertEqual(row.find_element(By.CLASS_NAME, "stock").text, "3")

    def test_order_a_book(self):
        self.log_in()
        row = self.wait_for(f"#book-{self.book_id}")
        row.find_element(By.TAG_NAME, "button").click()
        self.wait_for("#orders")  # the next page, not the flash of the one before
        flash = self.browser.find_element(By.CSS_SELECTOR, "p.flash.success")
        self.assertEqual(flash.text, "Ordered 1 of The Dispossessed.")
        self.assertEqual(
            self.browser.find_element(By.ID, "orders").text, "1 × The Dispossessed"
        )
        # The server committed. End the test's own transaction, which under
        # REPEATABLE READ (MySQL's default) still shows the rows as they were.
        db.session.rollback()
        self.assertDatabaseHas(Order, book_id=self.book_id, quantity=1)
        self.assertEqual(db.session.get(Book, self.book_id).stock, 2)
