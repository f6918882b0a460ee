import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "flask_dbcase"
author = "The flask_dbcase developers"
copyright = "2026, The flask_dbcase developers"
release = __import__("flask_dbcase").__version__

extensions = ["sphinx.ext.autodoc", "sphinx_copybutton"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = True
# No network here for intersphinx: names from other projects are left unlinked.
_external = [
    r"(flask|flask_sqlalchemy|sqlalchemy|werkzeug|unittest|contextvars|factory|multiprocessing)\b.*",
    r"(t|types)\.\w+",
    r"Flask|FlaskClient|AppContext|SQLAlchemy|TestCase|TestResponse",
    r"(.*\.)?_\w+",  # private type aliases: SQLAlchemy's signatures, ours
]
nitpick_ignore_regex = [("py:.*", pattern) for pattern in _external]
html_theme = "furo"
# Furo shows the title at the top of the sidebar: with the release, every page
# says which version it documents.
html_title = f"{project} {release}"
# The copy button copies commands, not their prompts ("$ ", ">>> ", "... ") nor
# the output printed after them.
copybutton_prompt_text = r"\$ |>>> |\.\.\. "
copybutton_prompt_is_regexp = True
copybutton_exclude = ".linenos, .gp, .go"
exclude_patterns = ["_build"]
