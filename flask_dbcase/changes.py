"""The rows a block inserted, updated and deleted, table by table.

The tables are read before and after the block through the test's own session,
on each table's bind: what the test's connection sees, its uncommitted rows and
what the app committed included. Rows are matched by primary key; a table
without one is compared as a collection of whole rows.
"""

from __future__ import annotations

import collections
import typing as t

import sqlalchemy as sa

# A failure points at the test's line: unittest, and pytest, leave the frames of
# modules that set this out of its traceback.
__unittest = True

_Row = dict[str, t.Any]


class TableChanges(t.NamedTuple):
    """What a block did to one table's rows. Each row is a ``dict`` of column
    names and values.

    .. versionadded:: 0.1
    """

    #: The table.
    table: sa.Table
    #: The rows that were not there before, in primary key order.
    inserted: list[_Row]
    #: ``(before, after)`` for each row whose values changed.
    updated: list[tuple[_Row, _Row]]
    #: The rows that are no longer there.
    deleted: list[_Row]

    @property
    def difference(self) -> int:
        """How many more rows the table has than before (negative for fewer).

        .. versionadded:: 0.1
        """
        return len(self.inserted) - len(self.deleted)

    def listing(self, indent: str = "  ") -> str:
        """The changed rows, one per line: ``+`` inserted, ``~`` updated with
        the columns that changed, ``-`` deleted.

        .. versionadded:: 0.1
        """
        lines = [f"{indent}+ {format_row(row)}" for row in self.inserted]
        for before, after in self.updated:
            changed = ", ".join(
                f"{name}: {before[name]!r} -> {after[name]!r}"
                for name in after
                if before.get(name) != after[name]
            )
            lines.append(f"{indent}~ {format_row(_key(self.table, after))}: {changed}")
        lines += [f"{indent}- {format_row(row)}" for row in self.deleted]
        return "\n".join(lines)

    def __bool__(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted)


class CapturedChanges(t.Mapping[sa.Table, TableChanges]):
    """The tables a :meth:`~flask_dbcase.assertions.DatabaseAssertions.captureChanges`
    block changed, each with its :class:`TableChanges`; filled when the block
    ends without an error.

    Look a table up by its model (``changes[Book]``), its ``Table`` or its name.
    A table that was watched but not changed gives empty changes.

    .. versionadded:: 0.1
    """

    def __init__(self) -> None:
        self._tables: dict[sa.Table, TableChanges] = {}
        self._watched: list[sa.Table] = []

    def __getitem__(self, key: t.Any) -> TableChanges:
        table = self._find(key)
        return self._tables.get(table) or TableChanges(table, [], [], [])

    def __iter__(self) -> t.Iterator[sa.Table]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def __contains__(self, key: object) -> bool:
        try:
            return self._find(key) in self._tables
        except KeyError:
            return False

    def _find(self, key: t.Any) -> sa.Table:
        if isinstance(key, str):
            for table in self._watched:
                if key in (table.name, table.fullname):
                    return table
        else:
            found = (
                key if isinstance(key, sa.Table) else getattr(key, "__table__", None)
            )
            if found in self._watched:
                return t.cast(sa.Table, found)
        watched = ", ".join(repr(table.fullname) for table in self._watched)
        raise KeyError(
            f"{key!r} was not watched; the block watched {watched or 'none'}."
        )

    def listing(self) -> str:
        """Each changed table and its rows, as :meth:`TableChanges.listing`.

        .. versionadded:: 0.1
        """
        if not self._tables:
            return "No rows changed."
        return "\n".join(
            f"{table.fullname}: {signed(changes.difference)}\n"
            + changes.listing("    ")
            for table, changes in self._tables.items()
        )

    def __repr__(self) -> str:
        return f"<CapturedChanges {self.listing()!r}>"


class Snapshot:
    """The rows of some tables at one moment, by primary key, each table read
    with ``read``.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        tables: t.Sequence[sa.Table],
        read: t.Callable[[sa.Table], t.Iterable[t.Mapping[t.Any, t.Any]]],
    ) -> None:
        self.tables = list(tables)
        self._read = read
        self.rows = {table: self._rows(table) for table in self.tables}

    def _rows(self, table: sa.Table) -> dict[t.Any, list[_Row]]:
        by_key: dict[t.Any, list[_Row]] = collections.defaultdict(list)
        for mapping in self._read(table):
            row = {column.name: mapping[column] for column in table.columns}
            by_key[_identity(table, row)].append(row)
        return by_key

    def compare(self, captured: CapturedChanges) -> None:
        """Read the tables again and put into ``captured`` what changed since.

        .. versionadded:: 0.1
        """
        captured._watched = self.tables
        for table in self.tables:
            before, after = self.rows[table], self._rows(table)
            inserted: list[_Row] = []
            updated: list[tuple[_Row, _Row]] = []
            deleted: list[_Row] = []
            for key in _ordered(set(before) | set(after)):
                old, new = before.get(key, []), after.get(key, [])
                if len(old) == len(new) == 1:
                    if not _same(old[0], new[0]):
                        updated.append((old[0], new[0]))
                    continue
                # New or gone, or, without a primary key, more or fewer copies.
                inserted += new[len(old) :]
                deleted += old[len(new) :]
            changes = TableChanges(table, inserted, updated, deleted)
            if changes:
                captured._tables[table] = changes


def _same(one: _Row, other: _Row) -> bool:
    """Whether two readings of a row hold the same values; a NaN is itself."""
    return one.keys() == other.keys() and all(
        value == other[name] or (value != value and other[name] != other[name])
        for name, value in one.items()
    )


def _identity(table: sa.Table, row: _Row) -> t.Any:
    columns = table.primary_key.columns or table.columns
    return tuple(_hashable(row[column.name]) for column in columns)


def _hashable(value: t.Any) -> t.Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _ordered(keys: t.Iterable[t.Any]) -> list[t.Any]:
    """The keys in their order where they compare (integers, strings), else in
    the order of their text."""
    keys = list(keys)
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=repr)


def _key(table: sa.Table, row: _Row) -> _Row:
    columns = table.primary_key.columns or table.columns
    return {column.name: row[column.name] for column in columns}


def differences(captured: CapturedChanges, expected: t.Mapping[t.Any, int]) -> str:
    """Say, for each table whose row count did not change by the number
    ``expected`` gives, by how much it did and which rows changed; ``""`` if
    all did.

    .. versionadded:: 0.1
    """
    problems = []
    for key, difference in expected.items():
        changes = captured[key]
        if changes.difference != difference:
            rows = f":\n{changes.listing('    ')}" if changes else "."
            problems.append(
                f"{changes.table.fullname}: {signed(changes.difference)} row(s),"
                f" expected {signed(difference)}{rows}"
            )
    return "\n".join(problems)


def signed(number: int) -> str:
    """``+1``, ``0``, ``-2``.

    .. versionadded:: 0.1
    """
    return f"{number:+d}" if number else "0"


def format_row(values: t.Mapping[str, t.Any]) -> str:
    """``{id=1, title='Dune'}``: a row, or the values an assertion asked for.

    .. versionadded:: 0.1
    """
    return "{" + ", ".join(f"{k}={v!r}" for k, v in values.items()) + "}"
