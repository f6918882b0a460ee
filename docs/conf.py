import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "flask_dbcase"
author = "The flask_dbcase developers"
copyright = "2026, The flask_dbcase developers"
release = __import__("flask_dbcase").__version__

extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = True
# No network here for intersphinx: names from other projects are left unlinked.
nitpick_ignore_regex = [
    ("py:.*", r"(flask|flask_sqlalchemy|sqlalchemy|werkzeug|unittest|contextvars)\b.*"),
    ("py:.*", r"(t\.ClassVar|t\.Any|t\.Callable|t\.Iterable|t\.Hashable|Flask|FlaskClient)"),
    ("py:.*", r"(AppContext|SQLAlchemy|TestCase)"),
]
html_theme = "alabaster"
exclude_patterns = ["_build"]
