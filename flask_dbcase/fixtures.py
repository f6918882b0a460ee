"""Load rows from JSON or YAML fixture files, as Django's ``fixtures`` does.

A fixture file holds a list of items, each naming a model (its class name, or a
table name) and the values of its fields::

    [
        {"model": "Author", "fields": {"id": 1, "name": "Ursula K. Le Guin"}},
        {"model": "Book", "fields": {"title": "The Dispossessed", "author_id": 1}}
    ]

Rows are inserted with SQLAlchemy Core, in file order, without ORM events.
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import typing as t

import sqlalchemy as sa

from .changes import format_row as _shown

if t.TYPE_CHECKING:
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy


class FixtureError(Exception):
    """A fixture file could not be found, read or loaded.

    .. versionadded:: 0.1
    """


class _Row(t.NamedTuple):
    table: sa.Table
    values: dict[str, t.Any]
    where: str


def search_path(
    app: Flask, owner_file: str | None, declared: t.Iterable[str]
) -> list[str]:
    """The folders searched for fixture files, in order.

    The class's ``fixture_dirs`` (relative to the test module), the app's
    ``DBCASE_FIXTURE_DIRS``, ``fixtures/`` beside the test module, and
    ``fixtures/`` in the app's root path.
    """
    here = os.path.dirname(os.path.abspath(owner_file)) if owner_file else os.getcwd()
    folders = [os.path.join(here, d) for d in declared]
    folders += [
        os.path.join(app.root_path, d)
        for d in app.config.get("DBCASE_FIXTURE_DIRS", ())
    ]
    folders += [os.path.join(here, "fixtures"), os.path.join(app.root_path, "fixtures")]
    unique: list[str] = []
    for folder in folders:
        folder = os.path.normpath(folder)
        if folder not in unique:
            unique.append(folder)
    return unique


def find(name: str, folders: list[str], label: str) -> str:
    if os.path.isabs(name):
        if os.path.isfile(name):
            return name
        raise FixtureError(f"{label}: fixture {name!r} does not exist.")
    for folder in folders:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    searched = "".join(f"\n  {folder}" for folder in folders)
    raise FixtureError(
        f"{label}: fixture {name!r} not found. Searched:{searched}\nPut it in one of"
        " these folders, or name more in the class's 'fixture_dirs'."
    )


def read(path: str, label: str) -> list[t.Any]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    name = os.path.basename(path)
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise FixtureError(
                f"{label}: reading the YAML fixture {name!r} needs PyYAML."
                " Install it ('pip install PyYAML', or flask-dbcase[yaml])."
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise FixtureError(
                f"{label}: fixture {name!r} is not valid YAML: {error}"
            ) from None
    elif path.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as error:
            raise FixtureError(
                f"{label}: fixture {name!r} is not valid JSON: {error}"
            ) from None
    else:
        raise FixtureError(
            f"{label}: fixture {name!r} has an unknown format; name it .json, .yaml"
            " or .yml."
        )
    if data is None:
        return []
    if not isinstance(data, list):
        raise FixtureError(
            f"{label}: fixture {name!r} must hold a list of items, each"
            ' {"model": ..., "fields": {...}}.'
        )
    return data


class Loader:
    """Turn fixture files into rows of the app's tables, and insert them."""

    def __init__(self, db: SQLAlchemy, label: str) -> None:
        self.db = db
        self.label = label
        self.models: dict[str, t.Any] = {}
        for mapper in t.cast(t.Any, db.Model).registry.mappers:
            cls = mapper.class_
            self.models.setdefault(cls.__name__, mapper)
            self.models[f"{cls.__module__}.{cls.__qualname__}"] = mapper
        self.tables: dict[str, sa.Table] = {}
        for metadata in db.metadatas.values():
            for table in metadata.tables.values():
                self.tables.setdefault(table.name, table)
                self.tables.setdefault(table.fullname, table)

    def rows(self, names: t.Iterable[str], folders: list[str]) -> list[_Row]:
        rows = []
        for name in names:
            path = find(name, folders, self.label)
            for index, item in enumerate(read(path, self.label), 1):
                where = f"fixture {name!r}, item {index}"
                rows.append(self._row(item, where))
        return rows

    # radon C, essential: one branch per malformed fixture item it explains.
    def _row(self, item: t.Any, where: str) -> _Row:
        if not isinstance(item, dict) or "model" not in item:
            raise FixtureError(
                f"{self.label}: {where} is not an object with a 'model' key: {item!r}."
            )
        unknown_keys = set(item) - {"model", "fields", "pk"}
        if unknown_keys:
            raise FixtureError(
                f"{self.label}: {where} has unknown keys {sorted(unknown_keys)};"
                " an item has 'model', 'fields' and optionally 'pk'."
            )
        model = item["model"]
        fields = dict(item.get("fields") or {})
        mapper = self.models.get(model)
        if mapper is not None:
            table = mapper.local_table
            columns = {
                prop.key: prop.columns[0]
                for prop in mapper.column_attrs
                if prop.columns[0].table is table
            }
        elif model in self.tables:
            table = self.tables[model]
            columns = {column.key: column for column in table.columns}
        else:
            known = ", ".join(sorted(n for n in self.models if "." not in n))
            raise FixtureError(
                f"{self.label}: {where} names the model {model!r}, which the app"
                f" does not have. Models: {known}; or give a table name."
            )
        if "pk" in item:
            keys = list(table.primary_key.columns)
            if len(keys) != 1:
                raise FixtureError(
                    f"{self.label}: {where} gives 'pk', but {table.name!r} has"
                    f" {len(keys)} primary key columns; give them in 'fields'."
                )
            key = next(k for k, c in columns.items() if c is keys[0])
            fields.setdefault(key, item["pk"])
        values = {}
        for key, value in fields.items():
            column = columns.get(key)
            if column is None:
                known = ", ".join(columns)
                raise FixtureError(
                    f"{self.label}: {where}: {model!r} has no field {key!r}."
                    f" Its fields: {known}."
                )
            values[column.key] = _convert(column, value)
        return _Row(table, values, f"{where} ({model} {_shown(fields)})")

    def insert(self, rows: list[_Row]) -> None:
        session = self.db.session
        for row in rows:
            try:
                session.execute(row.table.insert().values(row.values))
            except sa.exc.DBAPIError as error:
                session.rollback()
                if isinstance(error, sa.exc.IntegrityError):
                    problem = "breaks a constraint of"
                else:
                    problem = "could not be inserted into"
                raise FixtureError(
                    f"{self.label}: {row.where} {problem} {row.table.name!r}:"
                    f" {error.orig}"
                ) from None
        _reset_sequences(session, {row.table for row in rows})


def _convert(column: sa.Column[t.Any], value: t.Any) -> t.Any:
    """Turn a JSON string into the date, time or decimal the column holds."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return value
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return value
    if isinstance(value, str):
        if kind is datetime.datetime:
            return datetime.datetime.fromisoformat(value)
        if kind is datetime.date:
            return datetime.date.fromisoformat(value)
        if kind is datetime.time:
            return datetime.time.fromisoformat(value)
    if kind is decimal.Decimal:
        return decimal.Decimal(str(value))
    return value


def _reset_sequences(session: t.Any, tables: set[sa.Table]) -> None:
    """Move PostgreSQL's sequences past the ids the fixtures gave explicitly.

    Otherwise the next row the test adds gets an id a fixture row already has.
    """
    for table in tables:
        bind = {"clause": table}
        dialect = session.get_bind(**bind).dialect
        if dialect.name != "postgresql":
            continue
        name = dialect.identifier_preparer.format_table(table)
        for column in table.primary_key.columns:
            if column.autoincrement is False or not isinstance(column.type, sa.Integer):
                continue
            find = sa.select(sa.func.pg_get_serial_sequence(name, column.name))
            sequence = session.execute(find, bind_arguments=bind).scalar()
            if sequence is None:
                continue
            top = sa.func.max(column)
            move = sa.select(
                sa.func.setval(sequence, sa.func.coalesce(top, 1), top.is_not(None))
            ).select_from(table)
            session.execute(move, bind_arguments=bind)
