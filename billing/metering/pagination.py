"""The call log's pages: DRF's cursor pagination, its position one event's (occurred_at, id).

DRF's own cursor holds one ordering field plus an offset for the rows that share its value,
capped at 1,000: a gateway that reports times to the second at a few thousand calls a
second would make such a page repeat. A position naming one event needs no offset, so DRF's
next and previous links (which look for the first position that differs) work unchanged,
and every page is one index range read (billing.metering.selectors.calls_after).
"""

import re

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination

from billing.metering.selectors import calls_after

NOT_A_CURSOR = _("Not a cursor of this list.")


class CallCursorPagination(CursorPagination):
    ordering = ("-occurred_at", "-id")  # what the links and the schema say; calls_after reads it
    page_size = 50
    page_size_query_param = "limit"
    page_size_query_description = _("Calls per page, 1 to 500; default 50.")
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.cursor = self.decode_cursor(request)
        newer = bool(self.cursor and self.cursor.reverse)
        current = self.cursor.position if self.cursor else None
        rows = list(calls_after(queryset, _parsed(current), size=self.page_size + 1, newer=newer))
        self.page = rows[: self.page_size]
        following = self.position(rows[-1]) if len(rows) > self.page_size else None
        if newer:  # a "previous" link: read backwards from the position, shown newest first
            self.page.reverse()
            self.has_next, self.next_position = current is not None, current
            self.has_previous, self.previous_position = following is not None, following
        else:
            self.has_next, self.next_position = following is not None, following
            self.has_previous, self.previous_position = current is not None, current
        self.display_page_controls = self.has_previous or self.has_next
        return self.page

    def get_page_size(self, request):
        """`limit`, or the default; anything but 1 to max_page_size is a 400 at `limit`."""
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= self.max_page_size:
            message = _("An integer from 1 to %(max)d.") % {"max": self.max_page_size}
            raise ValidationError({self.page_size_query_param: [message]})
        return int(value)

    def decode_cursor(self, request):
        """DRF's cursor, which here always names a position and never an offset; a cursor
        that does not is a 400 at its parameter."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = Cursor(offset=0, reverse=False, position=None)
        if cursor is not None and (cursor.position is None or cursor.offset):
            raise ValidationError({self.cursor_query_param: [NOT_A_CURSOR]})
        return cursor

    @staticmethod
    def position(event) -> str:
        return f"{event.occurred_at.isoformat()}|{event.id}"

    def _get_position_from_instance(self, instance, ordering):
        return self.position(instance)


def _parsed(position: str | None) -> tuple | None:
    """(occurred_at, id) of a position; ValidationError if it names no event's place."""
    if position is None:
        return None
    text, _bar, pk = position.partition("|")
    try:
        at = parse_datetime(text)
    except ValueError:  # the shape of a time, but no such time
        at = None
    # An id fits a bigint: 18 digits at most.
    if at is None or at.tzinfo is None or not re.fullmatch(r"[0-9]{1,18}", pk):
        raise ValidationError({"cursor": [NOT_A_CURSOR]})
    return at, int(pk)
