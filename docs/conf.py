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
_external = [
    r"(flask|flask_sqlalchemy|sqlalchemy|werkzeug|unittest|contextvars|factory|multiprocessing)\b.*",
    r"(t|types)\.\w+",
    r"Flask|FlaskClient|AppContext|SQLAlchemy|TestCase|TestResponse",
    r"_\w+",  # the private type aliases of SQLAlchemy's signatures
]
nitpick_ignore_regex = [("py:.*", pattern) for pattern in _external]
html_theme = "alabaster"
exclude_patterns = ["_build"]
