"""HTML compared as a browser would read it: parsed into nested tuples that
compare equal when the HTML differs only in whitespace, attribute order or the
order of class names, as ``assertContains(..., html=True)`` compares it."""

from __future__ import annotations

import html.parser
import typing as t

_VOID = frozenset(
    "area base br col embed hr img input link meta source track wbr".split()
)

#: An element: its tag, its sorted attributes, and its children.
_Element = tuple[str, tuple[tuple[str, str], ...], tuple[t.Any, ...]]


class _TreeBuilder(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, tuple[tuple[str, str], ...], list[t.Any]]] = [
            ("", (), [])
        ]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        normal = []
        for key, value in attrs:
            value = value or ""
            if key == "class":
                value = " ".join(sorted(value.split()))
            normal.append((key, value))
        self.stack.append((tag, tuple(sorted(normal)), []))
        if tag in _VOID:
            self._close()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self._close()

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        # Close up to the matching element; an unmatched end tag is ignored.
        if any(open_tag == tag for open_tag, _, _ in self.stack[1:]):
            while self.stack[-1][0] != tag:
                self._close()
            self._close()

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if not text:
            return
        children = self.stack[-1][2]
        if children and isinstance(children[-1], str):
            children[-1] = f"{children[-1]} {text}"
        else:
            children.append(text)

    def _close(self) -> None:
        tag, attrs, children = self.stack.pop()
        self.stack[-1][2].append((tag, attrs, tuple(children)))

    def root(self) -> tuple[t.Any, ...]:
        self.close()
        while len(self.stack) > 1:
            self._close()
        return tuple(self.stack[0][2])


def parse_html(text: str) -> tuple[t.Any, ...]:
    """Parse HTML into nested tuples that compare equal when the HTML is the same
    but for whitespace, attribute order and the order of class names.

    .. versionadded:: 0.1
    """
    builder = _TreeBuilder()
    builder.feed(text)
    return builder.root()


def count(haystack: tuple[t.Any, ...], needle: tuple[t.Any, ...]) -> int:
    """How many times ``needle`` occurs in ``haystack``, both parsed by
    :func:`parse_html`: as whole elements, or as text within one.

    .. versionadded:: 0.1
    """
    if not needle:
        return 0
    if len(needle) == 1 and isinstance(needle[0], str):
        return sum(
            child.count(needle[0])
            if isinstance(child, str)
            else count(child[2], needle)
            for child in haystack
        )
    size = len(needle)
    found = sum(
        haystack[i : i + size] == needle for i in range(len(haystack) - size + 1)
    )
    for child in haystack:
        if not isinstance(child, str):
            found += count(child[2], needle)
    return found
