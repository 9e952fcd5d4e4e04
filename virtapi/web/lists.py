"""Sortable, filterable, paged lists: one helper for every list page.

A page declares a ``ListSpec`` once, at import time::

    HOST_GROUPS = lists.ListSpec(
        endpoint="web.host_groups",                      # the page's own route
        columns=(
            lists.Column("name", "Name", HostGroup.name),  # ?sort=name / ?sort=-name
            lists.Column("members", "Members"),            # shown, not sortable
        ),
        controls=(
            lists.Control.contains("name", "Name contains", HostGroup.name),
            lists.Control.api("customer_id", "Customer", GROUPS.filters["customer_id"],
                              staff_only=True),            # the API's own parsing and SQL
            lists.Control("state", "State", HostGroup.state, choices=state_choices),
        ),
        default_sort="name",
        tiebreak=(HostGroup.id,),                          # makes the order total
    )

and its view reads the query string into a ``Listing`` and asks for one page::

    listing = HOST_GROUPS.read(staff=not me.is_customer)
    rows = listing.fetch(session, visible_rows_stmt)       # count + page: two statements
    return render_template("groups.html", listing=listing, rows=rows)

The template draws the pieces with the macros of ``_list.html``: ``filter_form(listing)``
(a GET form, no JavaScript), ``header(listing)`` (column links that sort, again to reverse),
``pager(listing)`` (offset pages, every link keeping the filters and the sort).

Rules the helper keeps for every page:

- A control's text is parsed by its marshmallow field (``Control.api`` takes the API filter's
  field and condition, so ``?state=`` means on a page what it means in the API); bad text is a
  400 page naming the control, never a 500.
- ``staff_only`` controls do not exist for customers (not drawn, not read): a customer cannot
  widen their view with ``?customer_id=``. Scoping rows to a customer stays the view's job (the
  statement passed to ``fetch``).
- Choices of a select are read once per page (one statement per control with ``choices``), so
  a page costs a fixed number of statements whatever the number of rows.
- ``Column.sort`` / ``Control.condition`` may name a model attribute (a string) instead of an
  SQL expression when one spec serves several models (IPv4 and IPv6 networks): ``order(model)``
  and ``where(model)`` resolve the names.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from flask import abort, request, url_for
from marshmallow import ValidationError, fields
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from ..api.filters import Filter
from ..db import get_session

MAX_PAGE_NUMBER = 10**6
_TEXT_MAX = 253
Choices = Callable[[Session], Sequence[tuple[str, str]]]  # (value, label) pairs


@dataclass(frozen=True)
class Column:
    """A table column: ``key`` in ``?sort=``; ``sort`` the SQL it orders by (None: fixed)."""

    key: str
    label: str
    sort: Any = None  # an SQL expression, an attribute name, or a tuple of either
    numeric: bool = False  # right-aligned
    staff_only: bool = False  # customers do not see this column (nor sort by it)
    staff_sort: bool = False  # customers see it but cannot sort by it (staff names)


@dataclass(frozen=True)
class Control:
    """A filter control: ``?name=text`` narrows the rows by ``condition(parsed text)``.

    ``condition`` is a callable, a mapped attribute (equality), an attribute name, or None for
    a control the view reads itself from ``Listing.values``. ``field`` parses the text
    (default: a string, at most 253 characters are read). ``choices`` makes it a select;
    ``kind`` is the input type otherwise ("text", "number", "date").
    """

    name: str
    label: str
    condition: Any
    field: fields.Field = field(default_factory=lambda: fields.String())
    choices: Choices | None = None
    kind: str = "text"
    staff_only: bool = False
    customer_only: bool = False
    placeholder: str = ""
    hint: str = ""  # what a good value looks like, in the 400 message
    aliases: tuple[str, ...] = ()  # older parameter names still read (old bookmarks)

    @classmethod
    def api(cls, name: str, label: str, api_filter: Filter, **kwargs: Any) -> Control:
        """A control that is one of a resource's API filters: same field, same SQL."""
        parser = copy.copy(api_filter.field)
        if isinstance(parser, fields.Integer):
            parser.strict = False  # a query string has no JSON types: "7" is 7 here
        if isinstance(parser, fields.Boolean) and "choices" not in kwargs:
            kwargs["choices"] = lambda _s: [("true", "yes"), ("false", "no")]
        if isinstance(parser, fields.Integer):
            kwargs.setdefault("kind", "number")
        return cls(name, label, api_filter.clause, parser, **kwargs)

    @classmethod
    def contains(cls, name: str, label: str, column: Any, *, lower: bool = False) -> Control:
        """A text control matching part of ``column`` (``lower``: the column holds lowercase
        names, hostnames and fqdns, so what is typed is lowered first)."""

        def condition(value: str) -> ColumnElement[bool]:
            return column.contains(value.lower() if lower else value, autoescape=True)

        return cls(name, label, condition)

    def clause(self, value: Any, model: Any = None) -> ColumnElement[bool]:
        if isinstance(self.condition, str):
            return getattr(model, self.condition) == value
        if callable(self.condition) and not hasattr(self.condition, "__clause_element__"):
            return self.condition(value)
        return self.condition == value


@dataclass(frozen=True)
class ListSpec:
    """What one list page offers: its columns, its filter controls, its default order."""

    endpoint: str
    columns: tuple[Column, ...]
    default_sort: str
    tiebreak: tuple[Any, ...] = ()
    controls: tuple[Control, ...] = ()
    page_size: int = 50

    def read(self, *, staff: bool = True, **url_values: Any) -> Listing:
        """The sort, filters and page in this request's query string (400 when one is bad).

        ``url_values`` are the route's own arguments (``path=`` of an inventory page), kept in
        every link the page draws.
        """
        controls = tuple(
            c
            for c in self.controls
            if (not c.staff_only or staff) and (not c.customer_only or not staff)
        )
        columns = tuple(
            c if staff or not c.staff_sort else replace(c, sort=None)
            for c in self.columns
            if staff or not c.staff_only
        )
        sort = (request.args.get("sort") or self.default_sort)[:40]
        column = next((c for c in columns if c.key == sort.removeprefix("-")), None)
        if column is None or column.sort is None:
            keys = ", ".join(c.key for c in columns if c.sort is not None)
            abort(400, f"sort by one of {keys} (prefix - for descending), not {sort!r}")
        chosen: dict[str, str] = {}
        values: dict[str, Any] = {}
        for control in controls:
            names = (control.name, *control.aliases)
            text = next((t for n in names if (t := request.args.get(n, "").strip())), "")
            text = text[:_TEXT_MAX]
            if not text:
                continue
            if "\x00" in text:  # PostgreSQL refuses NUL in text parameters
                abort(400, f"{control.label}: a NUL character is no value")
            chosen[control.name] = text
            try:
                values[control.name] = control.field.deserialize(text)
            except ValidationError as exc:
                messages = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
                hint = f" ({control.hint})" if control.hint else ""
                said = " ".join(map(str, messages))
                abort(400, f"{control.label}{hint}: {said} (not {text[:40]!r})")
        raw_page = request.args.get("page", "1")
        page = (
            min(int(raw_page), MAX_PAGE_NUMBER) if raw_page.isdigit() and len(raw_page) < 8 else 1
        )
        return Listing(
            self, controls, columns, sort, column, chosen, values, max(page, 1), url_values
        )


@dataclass
class Listing:
    """One request's view of a list: what it is sorted and filtered by, and which page."""

    spec: ListSpec
    controls: tuple[Control, ...]  # those this reader has
    columns: tuple[Column, ...]  # those this reader sees
    sort: str  # as in the URL: "ram" or "-ram"
    column: Column
    chosen: dict[str, str]  # control name → text as typed (kept in the form and the links)
    values: dict[str, Any]  # control name → parsed value
    page: int
    url_values: dict[str, Any] = field(default_factory=dict)
    total: int = 0
    _choices: dict[str, Sequence[tuple[str, str]]] | None = None

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def limit(self) -> int:
        return self.spec.page_size

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.spec.page_size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.spec.page_size))

    def where(self, model: Any = None, *, skip: Sequence[str] = ()) -> list[ColumnElement[bool]]:
        """The chosen filters as SQL conditions (``skip``: controls the view applies itself)."""
        by_name = {c.name: c for c in self.controls}
        return [
            by_name[k].clause(v, model)
            for k, v in self.values.items()
            if k not in skip and by_name[k].condition is not None
        ]

    def order(self, model: Any = None) -> list[Any]:
        """ORDER BY: the chosen column, then the default column and the tiebreak."""
        default = next(c for c in self.spec.columns if c.key == self.spec.default_sort.lstrip("-"))
        out: list[Any] = []
        for column, descending in ((self.column, self.descending),
                                   (default, self.spec.default_sort.startswith("-"))):  # fmt: skip
            sorts = column.sort if isinstance(column.sort, tuple) else (column.sort,)
            for s in sorts:
                expr = getattr(model, s) if isinstance(s, str) else s
                out.append(expr.desc() if descending else expr.asc())
        return out + [getattr(model, t) if isinstance(t, str) else t for t in self.spec.tiebreak]

    def fetch(self, session: Session, stmt: Select, model: Any = None) -> list[Any]:
        """Count the filtered rows of ``stmt`` and return this page of them (two statements)."""
        stmt = stmt.where(*self.where(model))
        self.total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        page = stmt.order_by(*self.order(model)).limit(self.limit).offset(self.offset)
        return list(session.scalars(page).unique())

    def url(self, **changes: Any) -> str:
        """This list's URL with the filters and sort kept, and ``changes`` (``page=2``) applied."""
        args: dict[str, Any] = {**self.url_values, **self.chosen}
        if self.sort != self.spec.default_sort:
            args["sort"] = self.sort
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = value
        if args.get("page") == 1:
            del args["page"]
        return url_for(self.spec.endpoint, **args)

    def base_url(self) -> str:
        """The page without any query string: a GET form's action (the form sends its own)."""
        return url_for(self.spec.endpoint, **self.url_values)

    def sort_url(self, column: Column) -> str:
        """Sort by ``column``; on the column already sorted ascending, descending."""
        key = f"-{column.key}" if self.sort == column.key else column.key
        return self.url(sort=key, page=None)

    def choices(self) -> dict[str, Sequence[tuple[str, str]]]:
        """Each select's options, read once per request (one statement per select)."""
        if self._choices is None:
            session = get_session()
            self._choices = {
                c.name: c.choices(session) for c in self.controls if c.choices is not None
            }
        return self._choices
