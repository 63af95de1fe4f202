"""A seated event's plan drawn to scale, one glyph per seat, live.

``SeatMapView(plan, states)`` is all it takes: ``plan`` is the venue's seats
(``Client.venue_seats`` or a ``tui.seating.Plan``), ``states`` the event's seat states
(``common.seatmap.SeatMap``; None draws every seat as unknown until ``apply`` gets a
snapshot). Feed it the live feed's ``LiveSeatMap`` / ``LiveSeatChanges`` with ``apply``.
With ``selectable=False`` it only shows (an admin's live dashboard): the arrows pan.

Selecting (the sell dialog): arrows move seat by seat, jumping aisles and gaps to the
nearest seat that way; space or a click chooses a seat; ``b`` picks the best ``wanted``
seats together; ``z`` shows one zone at a time; ``+``/``-`` zoom. The chosen seats are
``selected`` (in the order chosen); ``SelectionChanged``, ``Note`` and ``Taken`` messages
say what happened.

It draws with Textual's line API: only the lines on screen, each built once from the plan
and cached until a seat on it changes, so a 10,000-seat plan draws as fast as a small one
and a storm of live changes redraws only the lines they touch.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Offset, Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from common.models import LiveSeatChanges, SeatState, SeatStates, VenueSeats
from common.seatmap import STATES, SeatMap, expand

from ..formatting import money
from ..seating import Plan, Seat

# One colour a zone, in rank order: none of them the held seats' amber or the sold grey.
ZONE_COLOURS = ("#3b9cff", "#d16dde", "#33c481", "#21c7c7", "#ff7aa8", "#9d8cff", "#a3d936")
FREE, WHEELCHAIR, RESTRICTED = "●", "W", "◐"
HELD, SOLD, CHOSEN, TAKEN, UNKNOWN = "▒", "×", "◆", "!", "·"  # noqa: RUF001 (sold: crossed out)
HELD_STYLE = Style(color="#d7a300")
SOLD_STYLE = Style(color="#6c6c6c")
CHOSEN_STYLE = Style(color="#ffffff", bgcolor="#2a7a3a", bold=True)
TAKEN_STYLE = Style(color="#ffffff", bgcolor="#c01c28", bold=True)
FILTERED_STYLE = Style(color="#444444")
LABEL_STYLE = Style(color="#8a8a8a")
SECTION_STYLE = Style(color="#c0c0c0", bold=True)
CURSOR_STYLE = Style(reverse=True)
ZOOMS = (1, 2, 3)  # columns per grid position


def seat_labels(seats: list[Seat]) -> str:
    """Seats as a customer reads them, each section named once: ``Stalls F11, F12``."""
    out: list[str] = []
    section = None
    for seat in seats:
        name = f"{seat.row}{seat.number}"
        out.append(name if seat.section == section else f"{seat.section} {name}")
        section = seat.section
    return ", ".join(out)


def legend(plan: Plan, prices: dict[str, Decimal] | None = None) -> Text:
    """What the glyphs and colours mean, with each zone's price when given."""
    text = Text()
    for i, zone in enumerate(plan.zones):
        colour = Style(color=ZONE_COLOURS[i % len(ZONE_COLOURS)])
        price = prices.get(zone.code) if prices else None
        text.append(FREE, colour).append(f" {zone.name}")
        text.append(f" {money(price)}  " if price is not None else "  ")
    for glyph, style, meaning in (
        (CHOSEN, CHOSEN_STYLE, "chosen"),
        (HELD, HELD_STYLE, "held"),
        (SOLD, SOLD_STYLE, "sold"),
        (WHEELCHAIR, Style(), "wheelchair"),
        (RESTRICTED, Style(), "restricted view"),
    ):
        text.append(glyph, style).append(f" {meaning}  ")
    return text


class Line:
    """One line of the drawing: its fixed text (row labels, a section's name) and the
    seats on it as (column, seat index), left to right."""

    __slots__ = ("at", "seats", "text")

    def __init__(self, width: int) -> None:
        self.text = [" "] * width
        self.seats: list[tuple[int, int]] = []
        self.at: dict[int, int] = {}  # column -> seat index

    def write(self, col: int, words: str) -> None:
        for i, char in enumerate(words):
            if 0 <= col + i < len(self.text):
                self.text[col + i] = char


class SeatMapView(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("left", "move(-1, 0)", "Seat left", show=False),
        Binding("right", "move(1, 0)", "Seat right", show=False),
        Binding("up", "move(0, -1)", "Row in front", show=False),
        Binding("down", "move(0, 1)", "Row behind", show=False),
        Binding("space", "toggle", "Choose seat", id="seat-toggle"),
        Binding("b", "best", "Best seats", id="seat-best"),
        Binding("z", "zone", "Zone", id="seat-zone"),
        Binding("plus,equals_sign", "zoom(1)", "Zoom in", show=False),
        Binding("minus", "zoom(-1)", "Zoom out", show=False),
    ]

    class SelectionChanged(Message):
        """The chosen seats changed (``view.selected``): ``by_hand`` a seat at a time
        (space, a click), else all at once (``b``, ``select``)."""

        def __init__(self, view: SeatMapView, by_hand: bool) -> None:
            super().__init__()
            self.view, self.by_hand = view, by_hand

    class Note(Message):
        """Something to tell the clerk: a seat that cannot be chosen, no block free."""

        def __init__(self, view: SeatMapView, text: str) -> None:
            super().__init__()
            self.view, self.text = view, text

    class Taken(Message):
        """Live changes came: ``seats`` are the chosen seats now held or sold by others
        (empty: none are, any more)."""

        def __init__(self, view: SeatMapView, seats: list[Seat]) -> None:
            super().__init__()
            self.view, self.seats = view, seats

    def __init__(
        self,
        plan: Plan | VenueSeats,
        states: SeatMap | None = None,
        *,
        selectable: bool = True,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.states = states
        self.selectable = selectable
        self.selected: list[int] = []
        """The chosen seats' ids, in the order chosen."""
        self._chosen: set[int] = set()
        self.wanted = 1
        """How many seats ``b`` picks (the sell dialog keeps it at the quantity asked)."""
        self.zone: str | None = None
        """Only this zone's seats are shown (and picked); None: every zone."""
        self._zoom: int | None = None  # None: the largest that fits
        self._pad = 0
        self._cache: dict[int, Strip] = {}
        self._style_cache: dict[object, Style] | None = None
        self._plain: set[Style] = set()  # styles without a background of their own
        self._taken: list[int] = []
        self.cursor: int | None = None  # the seat index under the cursor
        self._set_plan(plan if isinstance(plan, Plan) else Plan(plan))
        self._cursor_to_best()

    def _cursor_to_best(self) -> None:
        """Start on the best free seat (once the states are known)."""
        if self.states is not None and (best := self.plan.best(self.states.state, 1)):
            self.cursor = self._index[best[0]]

    # --- the plan and its drawing --------------------------------------------------------

    def _set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self._index = {seat.id: i for i, seat in enumerate(plan.seats)}
        self._colour = {
            zone.code: Style(color=ZONE_COLOURS[i % len(ZONE_COLOURS)])
            for i, zone in enumerate(plan.zones)
        }
        xs = [seat.x for seat in plan.seats] or [0]
        self._min_x, self._span = min(xs), max(xs) - min(xs) + 1
        self._label_width = max((len(seat.row) for seat in plan.seats), default=1)
        self.selected = [s for s in self.selected if s in self._index]
        self._chosen = set(self.selected)
        if self.cursor is None or self.cursor >= len(plan.seats):
            self.cursor = self._front_centre()
        self._layout(self._zoom or 1)

    def set_plan(self, plan: Plan | VenueSeats) -> None:
        """The venue's plan changed: draw the new one (chosen seats no longer in it go)."""
        self._set_plan(plan if isinstance(plan, Plan) else Plan(plan))
        self._fit()
        self.refresh()

    def _width(self, zoom: int) -> int:
        # Row labels on both sides; at the tightest zoom, on the left only.
        sides = 2 if zoom > 1 else 1
        return sides * (self._label_width + 1) + (self._span - 1) * zoom + 1

    def _layout(self, zoom: int) -> None:
        """Lay the plan out on lines at ``zoom`` columns per grid position: a stage line,
        then each grid line of seats, a section's name over its first row, one blank line
        where the plan leaves a gap."""
        self.zoom = zoom
        seats = self.plan.seats
        width = self._width(zoom)
        left = self._label_width + 1
        lines: list[Line] = []
        stage = Line(width)
        stage.write(max(0, (width - 7) // 2), "─STAGE─")
        lines += [stage, Line(width)]
        by_y: dict[int, list[int]] = {}
        for i, seat in enumerate(seats):
            by_y.setdefault(seat.y, []).append(i)
        starts: dict[int, dict[str, tuple[int, int]]] = {}  # y -> section -> x extent
        extent: dict[str, tuple[int, int, int]] = {}
        for seat in seats:
            top, lo, hi = extent.get(seat.section, (seat.y, seat.x, seat.x))
            extent[seat.section] = (min(top, seat.y), min(lo, seat.x), max(hi, seat.x))
        for name, (top, lo, hi) in extent.items():
            starts.setdefault(top, {})[name] = (lo, hi)
        self._line_of: list[int] = [0] * len(seats)
        self._rows: list[list[int]] = []  # per line, its seat indexes left to right
        previous = None

        def col(x: int) -> int:
            return left + (x - self._min_x) * zoom

        for y in sorted(by_y):
            if y in starts:
                head = Line(width)
                for name, (lo, hi) in starts[y].items():
                    span = col(hi) - col(lo) + 1
                    shown = name[:span]
                    head.write(col(lo) + (span - len(shown)) // 2, shown)
                lines.append(head)
            elif previous is not None and y - previous > 1:
                lines.append(Line(width))
            previous = y
            line = Line(width)
            row = sorted(by_y[y], key=lambda i: seats[i].x)
            first = seats[row[0]]
            line.write(col(first.x) - 1 - len(first.row), first.row)
            if zoom > 1:
                line.write(col(seats[row[-1]].x) + 2, seats[row[-1]].row)
            for i in row:
                c = col(seats[i].x)
                line.seats.append((c, i))
                for spread in range(c, c + zoom):
                    line.at[spread] = i
                self._line_of[i] = len(lines)
            lines.append(line)
        self._lines = lines
        self._text = ["".join(line.text) for line in lines]
        # Per line, what _draw walks: each seat with the text before it (and whether that
        # is blank), then the text after the last seat.
        self._parts: list[tuple[list[tuple[str, bool, int]], str]] = []
        for text in self._text:
            parts, at = [], 0
            for col, i in lines[len(self._parts)].seats:
                gap = text[at:col]
                parts.append((gap, gap.isspace() or not gap, i))
                at = col + 1
            self._parts.append((parts, text[at:]))
        self._looks: list[tuple[str, Style] | None] = [None] * len(seats)
        self._cache.clear()
        self.virtual_size = Size(width, len(lines))

    def _front_centre(self) -> int | None:
        """The seat nearest the middle of the front row of the first zone."""
        if not self.plan.rows:
            return None
        row = self.plan.rows[0]
        seat = min(row.seats, key=lambda s: row.centre[s.id])
        return self._index[seat.id]

    def _fit(self) -> None:
        """The largest zoom whose drawing fits the width, unless the clerk chose one."""
        width = self.scrollable_content_region.width or self.size.width
        zoom = self._zoom or next((z for z in reversed(ZOOMS) if self._width(z) <= width), ZOOMS[0])
        if zoom != getattr(self, "zoom", None):
            self._layout(zoom)
        self._pad = max(0, (width - self._width(zoom)) // 2)
        self._cache.clear()

    def on_resize(self, event: events.Resize) -> None:
        self._fit()
        self._show_cursor()

    def on_mount(self) -> None:
        self._describe()

    # --- drawing (the line API) ---------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        styles = self._styles()
        base = styles["base"]
        if index >= len(self._lines):
            return Strip.blank(width, base)
        strip = self._cache.get(index)
        if strip is None:
            strip = self._cache[index] = self._draw(index)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _styles(self) -> dict[object, Style]:
        """Every style a line uses, over the widget's own (its background): made once,
        not per seat, and shared, so a run of seats alike is one segment."""
        if self._style_cache is None:
            base = self.rich_style
            styles: dict[object, Style] = {
                "base": base,
                "label": base + LABEL_STYLE,
                "section": base + SECTION_STYLE,
                "held": base + HELD_STYLE,
                "sold": base + SOLD_STYLE,
                "chosen": base + CHOSEN_STYLE,
                "taken": base + TAKEN_STYLE,
                "filtered": base + FILTERED_STYLE,
            }
            for zone, colour in self._colour.items():
                styles[zone] = base + colour
            self._style_cache = styles
            self._plain = {style for key, style in styles.items() if key not in ("chosen", "taken")}
        return self._style_cache

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache = None  # the theme or the focus changed the widget's colours
        if hasattr(self, "plan"):  # (not while being constructed)
            self._redraw_all()

    def _draw(self, index: int) -> Strip:
        """One line, whole: runs of characters alike in style as one segment each. Spaces
        between seats take the run's style when it has no background of its own, so a row
        of seats alike is one segment. Each seat's glyph and style are kept until it
        changes (``_looks``): a line redrawn for one seat costs little for the others."""
        styles = self._styles()
        plain, looks = self._plain, self._looks
        parts, tail = self._parts[index]
        label = styles["label" if parts else "section"]
        segments: list[Segment] = []
        run: list[str] = [" " * self._pad]
        run_style = styles["base"]
        for gap, blank, i in parts:
            if gap:
                if label is not run_style and not (blank and run_style in plain):
                    segments.append(Segment("".join(run), run_style))
                    run, run_style = [], label
                run.append(gap)
            look = looks[i]
            if look is None:
                look = looks[i] = self._look(i, styles)
            if look[1] is not run_style:
                segments.append(Segment("".join(run), run_style))
                run, run_style = [], look[1]
            run.append(look[0])
        if tail:
            if label is not run_style and not (tail.isspace() and run_style in plain):
                segments.append(Segment("".join(run), run_style))
                run, run_style = [], label
            run.append(tail)
        segments.append(Segment("".join(run), run_style))
        return Strip(segments, self._pad + len(self._text[index]))

    def _look(self, i: int, styles: dict[object, Style]) -> tuple[str, Style]:
        seat = self.plan.seats[i]
        state = self._state(seat.id)
        if seat.id in self._chosen:
            glyph, key = (CHOSEN, "chosen") if state in ("free", None) else (TAKEN, "taken")
        elif state == "held":
            glyph, key = HELD, "held"
        elif state == "sold":
            glyph, key = SOLD, "sold"
        else:
            glyph = WHEELCHAIR if seat.wheelchair else RESTRICTED if seat.restricted else FREE
            glyph = UNKNOWN if state is None else glyph
            key = seat.zone if self.zone is None or seat.zone == self.zone else "filtered"
        style = styles.get(key, styles["base"])
        if i == self.cursor and self.selectable and self.has_focus:
            style = style + CURSOR_STYLE
        return glyph, style

    def _redraw_seats(self, seat_ids: Iterable[int]) -> None:
        indexes = [self._index[s] for s in seat_ids if s in self._index]
        for i in indexes:
            self._looks[i] = None
        for line in {self._line_of[i] for i in indexes}:
            self._cache.pop(line, None)
            self.refresh_line(line)

    def _redraw_all(self) -> None:
        self._looks = [None] * len(self.plan.seats)
        self._cache.clear()
        self.refresh()

    def on_focus(self) -> None:
        self._redraw_cursor()

    def on_blur(self) -> None:
        self._redraw_cursor()

    def _redraw_cursor(self) -> None:
        if self.cursor is not None:
            self._redraw_seats([self.plan.seats[self.cursor].id])

    # --- live states ---------------------------------------------------------------------

    def apply(self, message: SeatStates | LiveSeatChanges) -> bool:
        """Apply a snapshot or live changes of the event (``SeatMap.apply``: False when it
        is not newer; ``SeatMapGap`` when changes were missed: subscribe again). Posts
        ``Taken`` when chosen seats are taken by others, or no longer are."""
        if self.states is None:
            if not isinstance(message, SeatStates):
                return False
            self.states = SeatMap(message)
            self._cursor_to_best()
            changed: list[int] | None = None
        else:
            if not self.states.apply(message):
                return False
            changed = (
                None
                if isinstance(message, SeatStates)
                else [s for state in STATES for s in expand(getattr(message, state))]
            )
        if changed is None:
            self._redraw_all()
        else:
            self._redraw_seats(changed)
        taken = [s for s in self.selected if self._state(s) != "free"]
        if taken != self._taken:
            self._taken = taken
            self.post_message(self.Taken(self, [self.plan.by_id[s] for s in taken]))
        under = self.plan.seats[self.cursor].id if self.cursor is not None else None
        if changed is None or under in changed:
            self._describe()  # the seat under the cursor changed
        return True

    def _state(self, seat_id: int) -> SeatState | None:
        """The seat's state; None before the first snapshot (or for a seat it lacks)."""
        if self.states is None:
            return None
        try:
            return self.states.state(seat_id)
        except KeyError:
            return None

    @property
    def taken(self) -> list[Seat]:
        """Chosen seats that are held or sold (by another sale)."""
        return [self.plan.by_id[s] for s in self.selected if self._state(s) != "free"]

    # --- choosing ------------------------------------------------------------------------

    def select(self, seat_ids: list[int], *, by_hand: bool = False, announce: bool = True) -> None:
        """Choose exactly these seats (the order given); ``announce``: post
        ``SelectionChanged``."""
        before = self.selected
        self.selected = [s for s in seat_ids if s in self._index]
        self._chosen = set(self.selected)
        self._taken = [s for s in self.selected if self._state(s) != "free"]
        self._redraw_seats(set(before) | set(self.selected))
        if announce:
            self.post_message(self.SelectionChanged(self, by_hand))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle", "best", "zone"):
            return self.selectable or action == "zone"
        return True

    def action_move(self, dx: int, dy: int) -> None:
        if not self.selectable:
            self.scroll_to(
                self.scroll_x + dx * 4, self.scroll_y + dy, animate=False, immediate=True
            )
            return
        if self.cursor is None:
            return
        target = self._neighbour(self.cursor, dx, dy)
        if target is not None:
            self._move_to(target)

    def _shown(self, i: int) -> bool:
        return self.zone is None or self.plan.seats[i].zone == self.zone

    def _neighbour(self, i: int, dx: int, dy: int) -> int | None:
        """The nearest seat from seat ``i`` that way: along its line, or on the nearest line
        in front or behind that has a seat (the one nearest across)."""
        seats, line = self.plan.seats, self._line_of[i]
        if dx:
            row = [j for _, j in self._lines[line].seats if self._shown(j)]
            x = seats[i].x
            ahead = [j for j in row if (seats[j].x - x) * dx > 0]
            return min(ahead, key=lambda j: abs(seats[j].x - x)) if ahead else None
        step = line + dy
        while 0 <= step < len(self._lines):
            row = [j for _, j in self._lines[step].seats if self._shown(j)]
            if row:
                return min(row, key=lambda j: (abs(seats[j].x - seats[i].x), seats[j].x))
            step += dy
        return None

    def _move_to(self, i: int) -> None:
        before, self.cursor = self.cursor, i
        if before is not None:
            self._redraw_seats([self.plan.seats[before].id])
        self._redraw_cursor()
        self._show_cursor()
        self._describe()

    def _show_cursor(self) -> None:
        if self.cursor is None or not self.selectable:
            return
        col = self._pad + self._column(self.cursor)
        line = self._line_of[self.cursor]
        self.scroll_to_region(
            Region(max(0, col - 4), max(0, line - 1), 9, 3), animate=False, immediate=True
        )

    def seat_offset(self, seat_id: int) -> Offset | None:
        """Where the seat is drawn, from the widget's top left (borders included); None
        when it is scrolled out of sight. For a click, or a tooltip."""
        i = self._index[seat_id]
        x = self._pad + self._column(i) - self.scroll_offset.x
        y = self._line_of[i] - self.scroll_offset.y
        region = self.scrollable_content_region
        if not (0 <= x < region.width and 0 <= y < region.height):
            return None
        return Offset(x, y) + self.gutter.top_left

    def drawn(self, seat_id: int) -> str:
        """The glyph the seat is drawn with, from the line as it is (or would be) on
        screen: what a check of the screen against the database reads."""
        i = self._index[seat_id]
        line = self._line_of[i]
        strip = self._cache.get(line) or self._draw(line)
        col = self._pad + self._column(i)
        return strip.crop(col, col + 1).text

    def _column(self, i: int) -> int:
        return next(c for c, j in self._lines[self._line_of[i]].seats if j == i)

    def action_toggle(self) -> None:
        if self.cursor is not None:
            self.toggle(self.plan.seats[self.cursor].id)

    def toggle(self, seat_id: int) -> None:
        """Choose the seat, or put it back; a seat taken by others cannot be chosen."""
        seat = self.plan.by_id[seat_id]
        if seat_id in self.selected:
            self.select([s for s in self.selected if s != seat_id], by_hand=True)
            return
        state = self._state(seat_id)
        if state != "free":
            self.post_message(self.Note(self, f"{seat.label} is {state or 'not known yet'}."))
            return
        self.select([*self.selected, seat_id], by_hand=True)

    def action_best(self) -> None:
        if self.states is None:
            return
        count = self.wanted
        if count < 1:
            self.post_message(self.Note(self, "How many seats? Type a quantity first."))
            return
        block = self.plan.best(self.states.state, count, zone=self.zone)
        if block is None:
            where = f" in {self.plan.zone_names[self.zone]}" if self.zone else ""
            largest = self.plan.largest_block(self.states.state, zone=self.zone)
            self.post_message(
                self.Note(
                    self,
                    f"No {count} seats together{where}: the most side by side is {largest}. "
                    "Choose them one by one (space).",
                )
            )
            return
        self.select(block)
        self._move_to(self._index[block[0]])

    def action_zone(self) -> None:
        """Show the next zone alone (and pick only in it); after the last, every zone."""
        codes = [None, *(zone.code for zone in self.plan.zones)]
        self.zone = codes[(codes.index(self.zone) + 1) % len(codes)]
        if self.cursor is not None and not self._shown(self.cursor):
            row = next(r for r in self.plan.rows if r.zone == self.zone)
            seat = min(row.seats, key=lambda s: row.centre[s.id])
            self.cursor = self._index[seat.id]
            self._show_cursor()
        self._redraw_all()
        self._describe()

    def action_zoom(self, step: int) -> None:
        at = ZOOMS.index(self.zoom)
        self._zoom = ZOOMS[max(0, min(len(ZOOMS) - 1, at + step))]
        self._fit()
        self.refresh()
        self._show_cursor()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        line = offset.y + self.scroll_offset.y
        col = offset.x + self.scroll_offset.x - self._pad
        if not 0 <= line < len(self._lines):
            return
        i = self._lines[line].at.get(col)
        if i is None or not self.selectable:
            return
        self.focus()
        self._move_to(i)
        self.toggle(self.plan.seats[i].id)

    # --- words ---------------------------------------------------------------------------

    def _describe(self) -> None:
        """The title says which zones show; the subtitle the seat under the cursor."""
        zone = self.plan.zone_names.get(self.zone or "", "")
        title = f"{zone} only (z: next)" if zone else "All zones"
        if self.border_title != title:
            self.border_title = title
        if self.cursor is None or not self.selectable:
            return
        seat = self.plan.seats[self.cursor]
        flags = [
            flag
            for flag, on in (
                ("wheelchair", seat.wheelchair),
                ("companion", seat.companion),
                ("restricted view", seat.restricted),
            )
            if on
        ]
        state = self._state(seat.id) or "?"
        chosen = "chosen" if seat.id in self.selected else state
        subtitle = " · ".join(
            [seat.label, self.plan.zone_names.get(seat.zone, seat.zone), *flags, chosen]
        )
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
