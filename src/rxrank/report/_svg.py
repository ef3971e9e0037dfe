"""A small SVG chart builder for the reports: linear axes, bars, steps, points, bands, heatmaps.

Why not matplotlib: its SVG backend costs about 0.1 s per figure, which at six figures per patient
made report generation the slowest stage of the workflow (about 2 hours for 10,000 patients). The
report figures need only a handful of primitives, which this module writes directly as SVG text in
well under a millisecond each. Output is an HTML5-inline ``<svg>`` (no namespace URLs, no IDs, no
scripts), and every user string is escaped, cleaned of invisible characters and shortened.

Display text: :func:`clean_text` shows every invisible or direction-changing character (bidi
overrides such as U+202E, zero-width spaces, other format and control characters) escaped as
``\\u202e``, so that a name cannot pose as another ("Ven\\u202egnp.exe" would read "Venexe.png")
and a tumour board sees that something odd is there. :func:`short_text` then shortens a string to
a maximum length with an ellipsis. The HTML filter of the reports uses the same two functions.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np

FONT = 11.0  # px, every label of every figure (figures are shown at their natural size, so this
#: is the size on screen: 11 px is the smallest the reports use anywhere); titles are 12 px bold
TITLE_FONT = 12.0
CHAR_W = 0.6  # average glyph width as a fraction of the font size (DejaVu Sans), for layout only
ELLIPSIS = "\u2026"
TEXT_MAX = 48  # characters of a text label before it is shortened (the full text is its tooltip)
LABEL_MAX = 30  # category labels on an axis
LEGEND_MAX = 28  # legend entries (``legend_width`` sizes the room for them)
TITLE_MAX = 50  # chart titles
TIP_MAX = 80  # each name inside a tooltip
NAME_MAX = 200  # a figure's accessible name

#: characters that are not plain printable ASCII: only these are looked at more closely
_NON_ASCII = re.compile(r"[^\t\n\r\x20-\x7e]")
#: categories shown escaped: format (bidi controls, zero-width characters, ...), control,
#: surrogate, line and paragraph separators
_HIDDEN = frozenset({"Cf", "Cc", "Cs", "Zl", "Zp"})
_PARTIAL_ESCAPE = re.compile(r"\\(?:u[0-9a-f]{0,3}|U[0-9a-f]{0,7})$")


def _escape_char(match: re.Match) -> str:
    char = match.group(0)
    if unicodedata.category(char) not in _HIDDEN:
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def clean_text(value: object) -> str:
    """``str(value)`` with invisible and direction-changing characters shown escaped.

    Unicode format characters (category Cf: the bidi embeddings, overrides and isolates U+202A-E
    and U+2066-9, the marks U+200E, U+200F and U+061C, zero-width spaces and joiners, U+FEFF,
    ...), control characters other than tab and newlines, lone surrogates and the line and
    paragraph separators become their escape, e.g. ``"\\u202e"``. Idempotent.
    """
    text = str(value)
    if text.isascii() and text.isprintable():  # the common case: nothing to look at
        return text
    return _NON_ASCII.sub(_escape_char, text)


def short_text(value: object, max_len: int | None) -> tuple[str, str]:
    """``(shown, full)``: the cleaned text shortened to ``max_len`` characters, and in full.

    A text longer than ``max_len`` keeps at most its first ``max_len - 1`` characters (never half
    an escape) and ends in an ellipsis; ``shown == full`` when nothing was cut or ``max_len`` is
    None.
    """
    full = clean_text(value)
    if max_len is None or len(full) <= max_len:
        return full, full
    cut = _PARTIAL_ESCAPE.sub("", full[: max(max_len - 1, 1)])
    return cut.rstrip() + ELLIPSIS, full


def svg_label(value: object, max_len: int | None = TEXT_MAX) -> str:
    """SVG element content for a label: cleaned, shortened and escaped; a shortened label carries
    its full text as a ``<title>`` tooltip."""
    shown, full = short_text(value, max_len)
    if shown == full:
        return escape(shown)
    return f"{escape(shown)}<title>{escape(full)}</title>"


def escape(text: object) -> str:
    """Escape text for SVG/HTML element content and double-quoted attributes (and clean it)."""
    return (
        clean_text(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


#: glyph widths as a fraction of the font size, by class, close to DejaVu Sans (the font of a bare
#: Linux machine, wider than most): enough to size margins so that labels are not clipped
_NARROW, _SEMI, _WIDE = frozenset("ijl.,:;|!'`"), frozenset("frt-()[]/ "), frozenset("mwMW@%")


def _glyph(c: str) -> float:
    if c in _NARROW:
        return 0.3
    if c in _SEMI:
        return 0.42
    if c in _WIDE:
        return 0.95
    if c.isupper():
        return 0.74
    return 0.64 if c.isdigit() else CHAR_W + 0.03


def text_width(text: str, size: float = FONT, max_len: int | None = None) -> float:
    """Approximate rendered width in px (layout only: margins and legends) of ``text`` as drawn,
    shortened to ``max_len`` characters."""
    return size * sum(_glyph(c) for c in short_text(text, max_len)[0])


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """About ``n`` round tick values (steps of 1, 2, 2.5 or 5 x 10^k) inside [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([lo]) if math.isfinite(lo) else np.array([])
    raw = (hi - lo) / max(n, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * 0.999)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = np.arange(start, hi + step * 1e-6, step)
    return np.round(ticks, 10)


def fmt_tick(value: float) -> str:
    text = f"{value:.6g}"
    return "0" if text in ("-0", "0") else text.replace("-", "\u2212")


def expand(lo: float, hi: float, frac: float = 0.04) -> tuple[float, float]:
    """Limits padded by ``frac`` of the span (a unit span around a single value)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi <= lo:
        return lo - 0.5, hi + 0.5
    pad = (hi - lo) * frac
    return lo - pad, hi + pad


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if math.isfinite(v) else "0"


def _coords(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in zip(xs, ys, strict=True))


def _rectilinear(xs: np.ndarray, ys: np.ndarray) -> str:
    """Path data through pixel vertices, mostly horizontal and vertical runs (step curves).

    A run along one axis is ``H x`` or ``V y`` (half the text of a point list), repeated vertices
    are dropped and consecutive runs in the same direction merged; any other segment is ``L x y``.
    Coordinates are rounded as in :func:`_coords`, so the drawing is the same as a polyline's.
    """
    sx, sy = [_num(x) for x in xs], [_num(y) for y in ys]
    out = [f"M{sx[0]} {sy[0]}"]
    last = ""  # the previous command's axis and direction ("H+", "V-", ...), to merge runs
    for i in range(1, len(sx)):
        x, y, px, py = sx[i], sy[i], sx[i - 1], sy[i - 1]
        if x == px and y == py:
            continue
        if y == py:
            run, text = "H+" if float(x) > float(px) else "H-", f"H{x}"
        elif x == px:
            run, text = "V+" if float(y) > float(py) else "V-", f"V{y}"
        else:
            run, text = "", f"L{x} {y}"
        if run and run == last:
            out[-1] = text
        else:
            out.append(text)
        last = run
    return "".join(out)


class Chart:
    """One chart: a plotting area of ``width`` x ``height`` px inside margins, with linear scales.

    Drawing methods take data coordinates; elements are kept in order and serialised by
    :meth:`svg`. ``margins`` are (left, bottom, right, top) in px.
    """

    def __init__(
        self,
        width: float,
        height: float,
        *,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        margins: tuple[float, float, float, float] = (50, 36, 10, 20),
    ) -> None:
        self.width, self.height = float(width), float(height)
        self.left, self.bottom, self.right, self.top = (float(m) for m in margins)
        self.xlim, self.ylim = xlim, ylim
        self.parts: list[str] = []

    # -- scales ------------------------------------------------------------------------------------

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:  # bottom of the plotting area (SVG y grows downwards)
        return self.height - self.bottom

    @property
    def y1(self) -> float:
        return self.top

    def sx(self, x) -> np.ndarray:
        lo, hi = self.xlim
        span = (hi - lo) or 1.0
        return self.x0 + (np.asarray(x, dtype=float) - lo) / span * (self.x1 - self.x0)

    def sy(self, y) -> np.ndarray:
        lo, hi = self.ylim
        span = (hi - lo) or 1.0
        return self.y0 - (np.asarray(y, dtype=float) - lo) / span * (self.y0 - self.y1)

    # -- primitives (data coordinates) -------------------------------------------------------------

    def raw(self, fragment: str) -> None:
        """Append an already built SVG fragment (for parts shared by many charts)."""
        self.parts.append(fragment)

    def rects(
        self,
        x0: Sequence[float],
        x1: Sequence[float],
        y0: Sequence[float],
        y1: Sequence[float],
        *,
        fill: str | Sequence[str],
        opacity: float = 1.0,
        stroke: str | None = None,
        titles: Sequence[str] | None = None,
    ) -> None:
        ax0, ax1 = self.sx(x0), self.sx(x1)
        ay0, ay1 = self.sy(y0), self.sy(y1)
        fills = [fill] * len(ax0) if isinstance(fill, str) else list(fill)
        extra = f' fill-opacity="{opacity:g}"' if opacity != 1.0 else ""
        extra += f' stroke="{stroke}" stroke-width="0.5"' if stroke else ""
        out = []
        for i in range(len(ax0)):
            x, w = min(ax0[i], ax1[i]), abs(ax1[i] - ax0[i])
            y, h = min(ay0[i], ay1[i]), abs(ay1[i] - ay0[i])
            tip = f"<title>{escape(titles[i])}</title></rect>" if titles else "/>"
            out.append(
                f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" '
                f'fill="{fills[i]}"{extra}{">" + tip if titles else tip}'
            )
        self.parts.append("".join(out))

    def vline(self, x: float, *, colour: str, width: float = 1.0, dash: str | None = None) -> None:
        if not math.isfinite(x):
            return
        px = _num(float(self.sx(x)))
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{px}" x2="{px}" y1="{_num(self.y0)}" y2="{_num(self.y1)}" '
            f'stroke="{colour}" stroke-width="{width:g}"{dashed}/>'
        )

    def vspan(self, lo: float, hi: float, *, colour: str, opacity: float = 0.25) -> None:
        if math.isfinite(lo) and math.isfinite(hi):
            self.rects([lo], [hi], [self.ylim[0]], [self.ylim[1]], fill=colour, opacity=opacity)

    def line(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        *,
        colour: str,
        width: float = 1.2,
        step: bool = False,
        opacity: float = 1.0,
    ) -> None:
        xs, ys = _finite_pairs(xs, ys)
        if not len(xs):
            return
        alpha = f' stroke-opacity="{opacity:g}"' if opacity != 1.0 else ""
        style = f'fill="none" stroke="{colour}" stroke-width="{width:g}" stroke-linejoin="round"'
        if step:  # horizontal and vertical runs only: path data says each in one number
            xs, ys = _steps(xs, ys)
            d = _rectilinear(self.sx(xs), self.sy(ys))
            self.parts.append(f'<path d="{d}" {style}{alpha}/>')
            return
        self.parts.append(
            f'<polyline points="{_coords(self.sx(xs), self.sy(ys))}" {style}{alpha}/>'
        )

    def band(
        self,
        xs: Sequence[float],
        lo: Sequence[float],
        hi: Sequence[float],
        *,
        colour: str,
        opacity: float = 0.12,
        step: bool = False,
    ) -> None:
        x = np.asarray(xs, dtype=float)
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        keep = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
        x, lo, hi = x[keep], lo[keep], hi[keep]
        if not len(x):
            return
        if step:
            (x_s, lo), (_, hi) = _steps(x, lo), _steps(x, hi)
            x = x_s
        px = np.concatenate([self.sx(x), self.sx(x[::-1])])
        py = np.concatenate([self.sy(hi), self.sy(lo[::-1])])
        fill = f'fill="{colour}" fill-opacity="{opacity:g}"'
        if step:
            self.parts.append(f'<path d="{_rectilinear(px, py)}Z" {fill}/>')
            return
        self.parts.append(f'<polygon points="{_coords(px, py)}" {fill}/>')

    def points(self, xs: Sequence[float], ys: Sequence[float], *, colour: str, r: float) -> None:
        """Many small square markers (side ``2 r``) as one path: each a zero-length stroke with
        square caps, about 13 characters a point, so thousands of points stay small."""
        xs, ys = _finite_pairs(xs, ys)
        if not len(xs):
            return
        cmds = "".join(
            f"M{_num(x)} {_num(y)}h0" for x, y in zip(self.sx(xs), self.sy(ys), strict=True)
        )
        self.parts.append(
            f'<path d="{cmds}" fill="none" stroke="{colour}" stroke-width="{2 * r:g}" '
            'stroke-linecap="square"/>'
        )

    def star(self, x: float, y: float, *, size: float = 7.0, colour: str = "#000") -> None:
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        self.parts.append(_star(float(self.sx(x)), float(self.sy(y)), size, colour))

    def text(
        self,
        x: float,
        y: float,
        label: str,
        *,
        anchor: str = "start",
        size: float = FONT,
        weight: str | None = None,
        rotate: bool = False,
        baseline: str | None = None,
        max_len: int | None = TEXT_MAX,
    ) -> None:
        """Text at pixel coordinates (not data coordinates), shortened to ``max_len`` characters
        (the full text is then its tooltip)."""
        attrs = f'x="{_num(x)}" y="{_num(y)}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if size != FONT:
            attrs += f' font-size="{size:g}"'
        if weight:
            attrs += f' font-weight="{weight}"'
        if baseline:
            attrs += f' dominant-baseline="{baseline}"'
        if rotate:
            attrs += f' transform="rotate(-90 {_num(x)} {_num(y)})"'
        self.parts.append(f"<text {attrs}>{svg_label(label, max_len)}</text>")

    # -- axes, labels, legend ----------------------------------------------------------------------

    def frame(self) -> None:
        """Left and bottom axis lines."""
        self.parts.append(
            f'<polyline points="{_num(self.x0)},{_num(self.y1)} {_num(self.x0)},{_num(self.y0)} '
            f'{_num(self.x1)},{_num(self.y0)}" fill="none" stroke="#333" stroke-width="0.7"/>'
        )

    def xaxis(self, label: str = "", *, ticks: Iterable[float] | None = None) -> None:
        values = nice_ticks(*self.xlim) if ticks is None else np.asarray(list(ticks), float)
        values = values[(values >= min(self.xlim) - 1e-9) & (values <= max(self.xlim) + 1e-9)]
        y = self.y0
        for v, px in zip(values, self.sx(values), strict=True):
            self.parts.append(
                f'<line x1="{_num(px)}" x2="{_num(px)}" y1="{_num(y)}" y2="{_num(y + 3)}" '
                'stroke="#333" stroke-width="0.7"/>'
            )
            self.text(px, y + 14, fmt_tick(v), anchor="middle")
        if label:
            self.text((self.x0 + self.x1) / 2, self.height - 4, label, anchor="middle")

    def yaxis(self, label: str = "", *, ticks: Iterable[float] | None = None) -> None:
        values = nice_ticks(*self.ylim, n=4) if ticks is None else np.asarray(list(ticks), float)
        values = values[(values >= min(self.ylim) - 1e-9) & (values <= max(self.ylim) + 1e-9)]
        x = self.x0
        for v, py in zip(values, self.sy(values), strict=True):
            self.parts.append(
                f'<line x1="{_num(x - 3)}" x2="{_num(x)}" y1="{_num(py)}" y2="{_num(py)}" '
                'stroke="#333" stroke-width="0.7"/>'
            )
            self.text(x - 5, py + 4, fmt_tick(v), anchor="end")
        if label:
            self.text(12, (self.y0 + self.y1) / 2, label, anchor="middle", rotate=True)

    def ylabels(
        self, positions: Sequence[float], labels: Sequence[str], *, max_len: int = LABEL_MAX
    ) -> None:
        """Category labels on the y axis (horizontal bar charts), shortened to ``max_len``."""
        for py, label in zip(self.sy(positions), labels, strict=True):
            self.text(self.x0 - 4, py + 4, label, anchor="end", max_len=max_len)

    def title(self, label: str) -> None:
        self.text(self.x0, 13, label, size=TITLE_FONT, weight="600", max_len=TITLE_MAX)

    def legend(self, items: Sequence[tuple[str, str, str]], *, x: float, y: float) -> None:
        """Entries (label, colour, kind) stacked downwards from pixel (x, y); kind: line|box|star."""
        for i, (label, colour, kind) in enumerate(items):
            yy = y + i * (FONT + 5)
            if kind == "line":
                self.parts.append(
                    f'<line x1="{_num(x)}" x2="{_num(x + 12)}" y1="{_num(yy - 3)}" '
                    f'y2="{_num(yy - 3)}" stroke="{colour}" stroke-width="1.6"/>'
                )
            elif kind == "star":  # the same star the plot draws
                self.parts.append(_star(x + 6, yy - 4, 5.5, colour))
            else:
                self.parts.append(
                    f'<rect x="{_num(x + 2)}" y="{_num(yy - 7)}" width="8" height="8" '
                    f'fill="{colour}"/>'
                )
            self.text(x + 16, yy, label, max_len=LEGEND_MAX)

    def svg(self, title: str) -> str:
        """The finished ``<svg>`` element; ``title`` is its accessible name."""
        name = escape(short_text(title, NAME_MAX)[0])
        return (
            f'<svg role="img" class="figure" aria-label="{name}" '
            f'viewBox="0 0 {_num(self.width)} {_num(self.height)}" width="{_num(self.width)}" '
            f'height="{_num(self.height)}" font-size="{FONT:g}">'
            f"<title>{name}</title>{''.join(self.parts)}</svg>"
        )


def _star(cx: float, cy: float, size: float, colour: str) -> str:
    """A white five-pointed star with a ``colour`` outline, centred on pixel (cx, cy)."""
    angles = np.pi / 2 + np.arange(10) * np.pi / 5
    radius = np.where(np.arange(10) % 2 == 0, size, size * 0.45)
    px, py = cx + radius * np.cos(angles), cy - radius * np.sin(angles)
    return f'<polygon points="{_coords(px, py)}" fill="#fff" stroke="{colour}" stroke-width="1.3"/>'


def legend_width(labels: Iterable[str]) -> float:
    """Pixels a :meth:`Chart.legend` of these labels needs, marker included."""
    return 16 + max((text_width(str(s), FONT, LEGEND_MAX) for s in labels), default=0.0)


def _finite_pairs(xs, ys) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _steps(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of a right-continuous step function through (xs, ys)."""
    if len(xs) < 2:
        return xs, ys
    sx = np.repeat(xs, 2)[1:]
    sy = np.repeat(ys, 2)[:-1]
    return sx, sy
