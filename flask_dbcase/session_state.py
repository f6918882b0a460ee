"""Connection settings a test changes that a rollback does not undo.

Rolling back to the test's savepoint undoes rows, and on PostgreSQL also
``SET``, temporary tables and transaction-level advisory locks. It does not
undo MySQL's session variables, user variables, ``GET_LOCK`` locks and
temporary tables, SQLite's ``PRAGMA`` settings, or PostgreSQL's session-level
advisory locks: they stay with the connection, which the class's next tests
share. :class:`SessionState` sees the statements that change them as they pass
(a few string checks per statement), saves what a setting was before the
test's first change, and puts it back when the test ends. A test that changes
none of them costs nothing more.
"""

from __future__ import annotations

import re
import typing as t

#: Where a statement may change the session: its head, upper-cased.
HEADS = ("SET", "PRAGMA", "CREATE", "USE", "PREPARE")

#: A call to a lock function: MySQL's ``GET_LOCK``, PostgreSQL's
#: ``pg_advisory_lock`` and ``pg_try_advisory_lock``.
_LOCK_CALL = re.compile(r"(?:get_lock|advisory_lock(?:_shared)?)[`\"]?\s*\(", re.I)

#: The variables a MySQL ``SET`` assigns (``@user``, ``@@session.name``,
#: ``SESSION name``, ``name``), one per assignment.
#: A user variable's name, quoted or not.
_USER = r"@(?:\w+|`[^`]*`|'[^']*'|\"[^\"]*\")"
_ASSIGNED = re.compile(
    r"(?:^|,)\s*(?:(?:SESSION|LOCAL)\s+|@@(?:(?:SESSION|LOCAL)\s*\.\s*)?)?"
    rf"({_USER}|\w+)\s*:?=",
    re.I,
)
_CHARSET = re.compile(r"SET\s+(?:NAMES|CHARACTER\s+SET|CHARSET)\b", re.I)
_CHARSET_VARIABLES = (
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
)
_NOT_SESSION = re.compile(r"SET\s+(?:GLOBAL|PERSIST|@@GLOBAL\.|TRANSACTION)", re.I)
_SESSION_TRANSACTION = re.compile(r"SET\s+(?:SESSION|LOCAL)\s+TRANSACTION\b", re.I)
#: What ``SET SESSION TRANSACTION`` changes, under MariaDB's names and MySQL's.
_TRANSACTION_VARIABLES = (
    "@@tx_isolation",
    "@@tx_read_only",
    "@@transaction_isolation",
    "@@transaction_read_only",
)
#: User variables assigned outside SET: ``SELECT @x := 1``, ``SELECT 1 INTO @x``.
_SELECT_ASSIGNED = re.compile(rf"({_USER})\s*:=", re.I)
_INTO = re.compile(rf"\bINTO\s+({_USER}(?:\s*,\s*{_USER})*)", re.I)
_INTO_NAME = re.compile(_USER)
#: The word USE anywhere: whatever the spelling, the database is asked after.
_USE_WORD = re.compile(r"\bUSE\b", re.I)
_PREPARE = re.compile(r"\bPREPARE\s+(\"[^\"]+\"|\w+)", re.I)
_TEMPORARY = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?TEMPORARY\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(`[^`]+`|\"[^\"]+\"|[\w.$]+)",
    re.I,
)
_PRAGMA_NAME = r"(?:\w+|\"[^\"]+\"|`[^`]+`|\[[^\]]+\])"
_PRAGMA = re.compile(
    rf"PRAGMA\s+(?:({_PRAGMA_NAME})\s*\.\s*)?({_PRAGMA_NAME})\s*[=(]", re.I
)
_NAME = re.compile(r"\w+")


def _bare(name: str) -> str:
    """A SQLite name without its quotes or brackets, lower-cased."""
    return name.strip('"`[]').lower()


class UseRefused(RuntimeError):
    """A test tried to move its connection to another database."""


class SessionState:
    """Undo, at the end of each test, what it changed in the connection's
    session and a rollback keeps.

    :param run: Runs a statement on the real connection, returning its first
        row (``None`` for a statement without rows).
    :param run_all: The same, returning all its rows.
    :param family: ``"mysql"``, ``"postgresql"`` or ``"sqlite"``.
    """

    def __init__(
        self,
        run: t.Callable[[str, tuple[t.Any, ...]], t.Any],
        family: str,
        run_all: t.Callable[[str, tuple[t.Any, ...]], t.Any] | None = None,
    ) -> None:
        self._run = run
        self._run_all = run_all or (lambda sql, parameters: [])
        self._family = family
        #: What each changed setting was before the test: MySQL variables by
        #: ``@name`` or ``@@name``, SQLite pragmas by name (``schema.name``
        #: where the test named a schema).
        self.saved: dict[str, t.Any] = {}
        #: MySQL temporary tables the test created.
        self.temporary: set[str] = set()
        #: The test called a lock function.
        self.locks = False
        #: PostgreSQL prepared statements the test made.
        self.prepared: set[str] = set()

    @property
    def changed(self) -> bool:
        return bool(self.saved or self.temporary or self.locks or self.prepared)

    # radon C, essential: one branch per engine and kind of setting statement.
    def note(self, statement: str, head: str) -> None:
        """Look at a statement about to run; save what it will change.

        :param head: The statement's first characters, upper-cased.
        """
        family = self._family
        if family == "mysql":
            if head.startswith("SET"):
                self._save_variables(statement)
            elif head.startswith("CREATE"):
                found = _TEMPORARY.search(statement)
                if found is not None:
                    self.temporary.add(found[1])
            if "@" in statement and not head.startswith("SET"):
                names = _SELECT_ASSIGNED.findall(statement)
                for found in _INTO.findall(statement):
                    names += _INTO_NAME.findall(found)
                if names:
                    self._save_variables(f"SET {' = 1, '.join(names)} = 1")
        elif family == "sqlite" and head.startswith("PRAGMA"):
            self._save_pragma(statement)
        elif family == "postgresql":
            for name in _PREPARE.findall(statement):
                quoted = name.startswith('"')
                self.prepared.add(name.strip('"') if quoted else name.lower())
        if family != "sqlite" and _LOCK_CALL.search(statement):
            self.locks = True

    def before(self, statement: str, head: str) -> str | None:
        """Look at a statement about to run (comments removed).

        :return: On MySQL, for a statement that says ``USE``, the database the
            connection is on, for :meth:`after`.
        """
        if (
            head.startswith(HEADS)
            # Cheap looks before the real ones: lock functions, MySQL's user
            # variables, prepared statements anywhere in the statement.
            or "ock" in statement
            or "OCK" in statement
            or "@" in statement
            or "REPARE" in statement
            or "repare" in statement
        ):
            self.note(statement, head)
        if self._family == "mysql" and _USE_WORD.search(statement):
            return str(self._run("SELECT DATABASE()", ())[0] or "")
        return None

    def after(self, database: str) -> None:
        """Refuse a ``USE`` of another database, however it was spelled: move
        the connection back to its test database, and raise."""
        now = str(self._run("SELECT DATABASE()", ())[0] or "")
        if now != database:
            quoted = database.replace("`", "``")
            self._run(f"USE `{quoted}`", ())
            raise UseRefused(
                f"flask_dbcase refused 'USE {now}': a test's connection stays on"
                f" its test database {database!r}. Code that needs another"
                " database should use a bind of its own (SQLALCHEMY_BINDS), which"
                " gets its own test database."
            )

    # radon C, essential: per engine, the kinds of session variables to save.
    def _save_variables(self, statement: str) -> None:
        statement = statement.strip()
        if _NOT_SESSION.match(statement):
            return  # not this session's, or only the next transaction's
        if _CHARSET.match(statement):
            names = [f"@@{name}" for name in _CHARSET_VARIABLES]
        elif _SESSION_TRANSACTION.match(statement):
            names = list(_TRANSACTION_VARIABLES)
        else:
            assigned = _ASSIGNED.findall(statement[3:])
            names = [name if name[0] == "@" else f"@@{name}" for name in assigned]
        names = [name.lower() for name in names if name.lower() not in self.saved]
        if not names:
            return
        expressions = ", ".join(
            f"@@SESSION.{name[2:]}" if name.startswith("@@") else name for name in names
        )
        try:
            values = self._run(f"SELECT {expressions}", ())
        except Exception:
            # Not a variable after all ("SET @a = 'x, y = 1'"): one at a time,
            # and the statement itself will say what is wrong with it.
            if len(names) > 1:
                for name in names:
                    self._save_variables(f"SET {name} = NULL")
            return
        self.saved.update(zip(names, values, strict=True))

    def _save_pragma(self, statement: str) -> None:
        found = _PRAGMA.match(statement.lstrip())
        if found is None:
            return  # a query, not a setting
        # Some pragmas belong to the connection, which a schema before their
        # name silently leaves unchanged: spelled as the test spelled it.
        schema, name = (_bare(part) if part else "" for part in found.groups())
        key = f"{schema}.{name}" if schema else name
        if key in self.saved:
            return
        try:
            row = self._run(f"PRAGMA {key}", ())
        except Exception:
            return
        if row is not None:  # a pragma without a value to read cannot be put back
            self.saved[key] = row[0]

    # radon C, essential: per engine, each kind of setting put back.
    def reset(self) -> None:
        """Put back what the test changed; forget it."""
        if not self.changed:
            return
        saved, temporary, locks = self.saved, self.temporary, self.locks
        prepared = self.prepared
        self.forget()
        if self._family == "mysql":
            if saved:
                assignments = ", ".join(
                    f"@@SESSION.{name[2:]} = %s"
                    if name.startswith("@@")
                    else f"{name} = %s"
                    for name in saved
                )
                self._run(f"SET {assignments}", tuple(saved.values()))
            if temporary:
                self._run(f"DROP TEMPORARY TABLE IF EXISTS {', '.join(temporary)}", ())
            if locks:
                self._run("SELECT RELEASE_ALL_LOCKS()", ())
        elif self._family == "postgresql":
            if locks:
                self._run("SELECT pg_advisory_unlock_all()", ())
            if prepared:
                # Only those still there: an error would end the transaction.
                for (name,) in self._run_all(
                    "SELECT name FROM pg_prepared_statements WHERE name = ANY(%s)",
                    (sorted(prepared),),
                ):
                    self._run(f'DEALLOCATE "{name}"', ())
        else:
            for key, value in saved.items():
                if isinstance(value, str) and not _NAME.fullmatch(value):
                    continue  # not a value a pragma can be set to
                self._run(f"PRAGMA {key} = {value}", ())

    def detach(self) -> SessionState:
        """Hand what was noted to a new instance, and forget it here."""
        other = SessionState(self._run, self._family, self._run_all)
        other.saved, other.temporary = self.saved, self.temporary
        other.locks, other.prepared = self.locks, self.prepared
        self.forget()
        return other

    def forget(self) -> None:
        """Forget what was noted: the connection is gone, or starts the tests."""
        self.saved, self.temporary, self.locks = {}, set(), False
        self.prepared = set()
