"""Class-wide test data that every test sees afresh."""

from __future__ import annotations

import copy
import typing as t

import sqlalchemy as sa
from sqlalchemy.ext.mutable import Mutable
from sqlalchemy.orm import InstanceState
from sqlalchemy.orm.attributes import set_committed_value

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

_MEMO = "_dbcase_test_data_memo"


class TestData:
    """Hand each test its own copy of a value that ``setUpTestData`` stored.

    Mapped instances are merged into the test's session without a query, so changes
    the test makes to them stay with that test; their mutable column values (a JSON
    dict or list) are copied too. Lists, tuples, sets and dicts are copied with
    their items; anything else is deep-copied.
    """

    __test__ = False  # not a test, whatever pytest's name matching thinks

    def __init__(self, name: str, value: t.Any, session: t.Callable[[], Session]):
        self.name = name
        self.value = value
        self.session = session

    def __get__(self, instance: t.Any, label: type | None = None) -> t.Any:
        if instance is None:
            return self.value
        memo = instance.__dict__.setdefault(_MEMO, {})
        value = _copy(self.value, self.session(), memo)
        # Later reads find the copy on the instance and skip this descriptor.
        instance.__dict__[self.name] = value
        return value


def _copy(value: t.Any, session: Session, memo: dict[int, t.Any]) -> t.Any:
    key = id(value)
    if key in memo:
        return memo[key]
    kind = type(value)
    result: t.Any
    state = sa.inspect(value, raiseerr=False)
    if isinstance(state, InstanceState):
        result = _merge(state, session)
    elif kind in (list, tuple, set, frozenset):
        result = kind(_copy(item, session, memo) for item in value)
    elif kind is dict:
        result = {k: _copy(v, session, memo) for k, v in value.items()}
    else:
        result = copy.deepcopy(value)
    memo[key] = result
    return result


def _merge(state: InstanceState[t.Any], session: Session) -> t.Any:
    """Merge an instance, and what merging cascades to, into ``session``, each
    with its own copies of mutable column values (a JSON dict or list)."""
    merged = session.merge(state.obj(), load=False)
    related = state.mapper.cascade_iterator("merge", state)
    for source in [state, *(found[2] for found in related)]:
        target = session.identity_map.get(source.key) if source.key else None
        if target is not None:
            _own_values(sa.inspect(target))
    return merged


def _own_values(state: InstanceState[t.Any]) -> None:
    columns = state.mapper.column_attrs
    for key, value in list(state.dict.items()):
        if isinstance(value, (dict, list, set, bytearray)) and key in columns:
            copied = copy.deepcopy(value)
            set_committed_value(state.obj(), key, copied)
            if isinstance(copied, Mutable):  # sqlalchemy.ext.mutable's tracking
                copied._parents[state] = key


def wrap_test_data(
    cls: type, before: dict[str, t.Any], session: t.Callable[[], Session]
) -> dict[str, t.Any]:
    """Replace what ``setUpTestData`` added to ``cls`` by :class:`TestData`.

    :param before: ``cls.__dict__`` as it was before ``setUpTestData`` ran.
    :return: The replaced attributes with their previous values, for
        :func:`unwrap_test_data`.
    """
    replaced: dict[str, t.Any] = {}
    for name, value in list(vars(cls).items()):
        if name in before and before[name] is value:
            continue
        if hasattr(value, "__get__"):  # methods, properties: not data
            continue
        replaced[name] = before.get(name, _MISSING)
        setattr(cls, name, TestData(name, value, session))
    return replaced


def forget_copies(instance: t.Any, names: t.Iterable[str]) -> None:
    """Drop the copies a test made, should the same instance run again."""
    for name in names:
        instance.__dict__.pop(name, None)
    instance.__dict__.pop(_MEMO, None)


def unwrap_test_data(cls: type, replaced: dict[str, t.Any]) -> None:
    """Restore the attributes :func:`wrap_test_data` replaced."""
    for name, previous in replaced.items():
        if previous is _MISSING:
            delattr(cls, name)
        else:
            setattr(cls, name, previous)


_MISSING = object()
