"""Slider explorers: a slider per knob of a precomputed Sweep and one figure.

A move only looks the point up and shows its picture; nothing is trained. Each
grid point's figure is drawn once to PNG and kept, so a move swaps the bytes of
one ipywidgets.Image: no flicker, no figures piling up, and the same speed for
every move however slow matplotlib is. The explorer's display also carries the
default point's PNG as a plain image, so nbval and a static HTML export show it.

A slider that moves without a kernel is the explorer's own HTML, to_html(): every
figure embedded, a range input per knob, a few lines of JavaScript. The display
offers it as text/html (beside the live widget, which JupyterLab shows; a page
without widgets shows the HTML) only when asked: static_html=True for one
explorer, or STATIC_EXPORT = True for every explorer a kernel makes, which a
static export's kernel sets before the notebook runs (tools/handout.py does, in a
startup line). It is off by default because to_html() draws every figure first:
about 0.1 s each, seconds for a large grid, before the slider would show.

When the figures are drawn: in a notebook, only the default point's figure
before the slider shows; the others while the kernel is idle, nearest grid
points first, one figure at a time on the kernel's event loop once it has been
idle for a moment, so a slider move or a queued cell waits for at most one
figure. A point the slider reaches before its figure is drawn is drawn then.
(JupyterLab runs the slider's callback in a kernel subshell, another thread: a
lock keeps the explorer's one Figure to one drawing at a time.) Without a
running event loop (a script, a test) every figure the sliders can reach is
drawn up front, behind a progress bar.

    >>> import numpy as np
    >>> from mtl_lessons.sweep import Sweep
    >>> sweep = Sweep({"lam": (0.1, 1.0, 10.0)}, seeds=(0, 1), results={"err": np.array([[3., 4], [1, 2], [5, 6]])})
    >>> def draw(axes, point):  # one grid point's figure, from looked-up results
    ...     axes[0].bar(["seed 0", "seed 1"], sweep.at("err", **point))
    ...     axes[0].set_title(f"lam = {point['lam']:g}")
    >>> explorer = SweepExplorer(sweep, draw, value={"lam": 1.0}, ncols=1, figsize=(3, 2))
    >>> explorer              # in a notebook: the slider and the figure
    SweepExplorer(knobs=['lam'], point={'lam': 1.0})
    >>> explorer.to_html().count("<img data-key=")  # kernel-free: all three figures embedded
    3
"""

from __future__ import annotations

import asyncio
import base64
import gc
import html
import io
import json
import math
import threading
import uuid
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from tqdm.auto import tqdm

from mtl_lessons._checks import check_bool, check_figsize, check_int, check_sequence, check_size
from mtl_lessons.plots import PRESENTER_DPI, PRESENTER_WIDTH_IN, presenter_on, presenter_style, raise_to_presenter_floor
from mtl_lessons.sweep import Sweep
from mtl_lessons.train import PROGRESS_DELAY_S

DPI = 80  # the learner figures' resolution (the presenter style sets its own)
MAX_PRERENDER = 1_000  # figures a slider can reach, all kept (about 50 kB each)
IDLE_TICK_S = 0.05   # how often the background drawing checks that the kernel is idle
IDLE_QUIET_S = 0.25  # idle this long (every check on time, no slider move) before a figure is drawn
# A static export's switches (see the module docstring), for explorers made with static_html=None:
STATIC_EXPORT = False  # True: every explorer's display carries its kernel-free slider (to_html) as text/html
PRESENTER_COPY = False  # True (with STATIC_EXPORT): and a presenter-style twin's, under PRESENTER_HTML_MIME,
# so one execution of a notebook serves the handout (text/html) and the slides (this type) alike
PRESENTER_HTML_MIME = "application/vnd.mtl-lessons.presenter+html"


def grid_value(sweep: Sweep, knob: str, preferred):
    """`preferred` if it is on the knob's grid, else the grid value nearest to it (the first for non-numbers).

    For an explorer's *default* slider position, so a parameters cell may use any grid.
    """
    values = sweep.knobs[knob]
    if preferred in values:
        return preferred
    try:
        return min(values, key=lambda v: abs(v - preferred))
    except TypeError:
        return values[0]


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _checked_knobs(sweep: Sweep, draw: Callable, knobs, value) -> tuple[list[str], dict]:
    """An explorer's slider knobs and starting point ({knob: value}, each grid's first value unless given)."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep, got {type(sweep).__name__}")
    if not callable(draw):
        raise TypeError(f"draw must be a function draw(axes, point), got {type(draw).__name__}")
    knobs = list(sweep.knobs) if knobs is None else list(check_sequence("knobs", knobs, min_len=0))
    for k in knobs:
        if k not in sweep.knobs:
            raise ValueError(f"knobs names {k!r}, which is not a knob of the sweep (allowed: {list(sweep.knobs)})")
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"value={value!r} must be a dict {{knob: value}}, e.g. {{{list(sweep.knobs)[0]!r}: "
                        f"{sweep.knobs[list(sweep.knobs)[0]][0]!r}}}")
    for k in value or {}:
        if k not in sweep.knobs:
            raise ValueError(f"value names {k!r}, which is not a knob of the sweep (allowed: {list(sweep.knobs)})")
    return knobs, {**{k: v[0] for k, v in sweep.knobs.items()}, **(value or {})}


class SweepExplorer:
    """Sliders over knobs of `sweep`; on every move, `draw(axes, point)` redraws from looked-up results.

    draw receives the list of Axes (already cleared) and the point, a {knob: value} dict.
    Knobs not given a slider stay at their value in `value` (default: each grid's first value).
    prerender=True draws every point the sliders can reach: while the kernel is idle in a notebook,
    up front elsewhere (see the module docstring); prerender=False draws each point on first visit.
    With MTL_PRESENTER=1 set when the explorer is made, its figures use the presenter style (plots.py).
    to_html() is a kernel-free copy (every figure embedded). static_html=True: the display carries it too, as
    text/html beside the live widget (JupyterLab shows the widget, a page without widgets the HTML);
    False: never; None: as the module's STATIC_EXPORT switch says (off unless a static export sets it).
    """

    def __init__(self, sweep: Sweep, draw: Callable, *, knobs: Sequence[str] | None = None,
                 value: dict | None = None, ncols: int = 2, figsize=(10, 3.6),
                 descriptions: dict[str, str] | None = None, prerender: bool = True,
                 static_html: bool | None = None, presenter: bool | None = None):
        self.knobs, self.point = _checked_knobs(sweep, draw, knobs, value)
        ncols = check_int("ncols", ncols, low=1, high=8)
        figsize, _ = check_figsize(figsize, DPI)
        self._layout = {"ncols": ncols, "figsize": figsize}  # as asked, for twin()
        prerender = check_bool("prerender", prerender)
        self.static_html = None if static_html is None else check_bool("static_html", static_html)
        # read when the explorer is made, never at import: a projector-ready style (plots.presenter_style)
        self.presenter = presenter_on() if presenter is None else check_bool("presenter", presenter)
        if descriptions is not None and not isinstance(descriptions, dict):
            raise TypeError(f"descriptions must be a dict {{knob: label}}, got {type(descriptions).__name__}")
        self.sweep, self.draw = sweep, draw
        sweep.index(**self.point)  # raises if a value is off the grid
        if prerender:
            n_reachable = math.prod(len(sweep.knobs[k]) for k in self.knobs)
            check_size("the number of figures the sliders can reach (each drawn once and kept)", n_reachable,
                       MAX_PRERENDER,
                       advice="use fewer slider values, or prerender=False to draw each on first visit")
        self.descriptions = descriptions or {}
        self._make_figure(ncols, figsize)
        self.sliders = {k: self._make_slider(k) for k in self.knobs}
        self.image = widgets.Image(format="png")
        if self.presenter:
            self.image.layout = widgets.Layout(width="100%", max_width=f"{round(PRESENTER_WIDTH_IN * 100)}px")
        self.widget = widgets.VBox([*self.sliders.values(), self.image])
        self._pngs: dict[tuple, bytes] = {}  # grid index -> rendered figure
        # JupyterLab runs widget callbacks in a kernel subshell (a thread of its own) while the background
        # drawing runs on the main thread: the lock keeps the explorer's one Figure to one drawing at a time
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None  # the kernel's loop, when drawing in the background
        self.update(**self.point)
        # the points the sliders can reach: knobs without a slider stay where they are
        self.reachable = [p for p in sweep.points()
                          if all(p[k] == self.point[k] for k in sweep.knobs if k not in self.knobs)]
        if prerender:
            try:
                loop = asyncio.get_running_loop()  # a notebook kernel's loop
            except RuntimeError:
                self.render_all()
            else:
                self._loop, self._quiet_since = loop, loop.time()
                self._schedule_tick()

    def _make_figure(self, ncols: int, figsize: tuple[float, float]) -> None:
        """The explorer's one Figure, drawn again for every grid point (into PNGs, never shown itself)."""
        dpi = DPI
        if self.presenter:  # 1920 px wide (a 16:9 slide, crisp at 2x zoom), the learner figure's aspect;
            # a figure wider than PRESENTER_WIDTH_IN keeps its width, so its panels and legends still fit
            width = max(PRESENTER_WIDTH_IN, figsize[0])
            figsize, dpi = (width, width * figsize[1] / figsize[0]), round(PRESENTER_WIDTH_IN * PRESENTER_DPI / width)
        with plt.ioff(), presenter_style(self.presenter):
            self.fig, axes = plt.subplots(1, ncols, figsize=figsize, dpi=dpi, layout="constrained")
        plt.close(self.fig)  # drawn only into PNGs: a later plt.show() must not show it again
        self.axes = list(axes) if ncols > 1 else [axes]

    def _make_slider(self, knob: str) -> widgets.SelectionSlider:
        slider = widgets.SelectionSlider(
            options=[(_label(v), v) for v in self.sweep.knobs[knob]], value=self.point[knob],
            description=self.descriptions.get(knob, knob), continuous_update=True,
            style={"description_width": "initial"}, layout=widgets.Layout(width="420px"))
        slider.observe(self._on_change, names="value")
        return slider

    def _on_change(self, change) -> None:
        knob = next(k for k, s in self.sliders.items() if s is change["owner"])
        if change["new"] != self.point[knob]:  # not an echo of update() moving the slider
            self.update(**{knob: change["new"]})
        if self._loop is not None:  # a learner at the slider: the background waits
            self._quiet_since = self._loop.time()

    def render(self, point: dict) -> bytes:
        """The PNG of one grid point, drawn on first request and kept."""
        key = self.sweep.index(**point)  # raises a clear error for an unknown knob or an off-grid value
        with self._lock:  # one drawing at a time, whichever thread asks
            if key not in self._pngs:
                self._pngs[key] = self._draw_png(point)
        return self._pngs[key]

    def _draw_png(self, point: dict) -> bytes:
        gc.disable()  # a full collection in the middle of a figure costs more than the figure's garbage
        try:
            with presenter_style(self.presenter):  # rcParams are read while drawing, so drawing is inside
                for ax in self.axes:
                    ax.clear()
                self.draw(self.axes, point)
                if self.presenter:
                    raise_to_presenter_floor(self.fig)
                buffer = io.BytesIO()
                self.fig.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
        finally:
            gc.enable()
        # the first figure fixes the layout for all: panels do not jump, and later figures are drawn once
        # (None, not "none": "none" keeps a placeholder engine, and savefig then draws every figure twice)
        self.fig.set_layout_engine(None)
        return buffer.getvalue()

    def render_all(self, progress: bool = True) -> None:
        """Draw every figure the sliders can reach that is not drawn yet."""
        todo = [p for p in self.reachable if self.sweep.index(**p) not in self._pngs]
        for p in tqdm(todo, desc="drawing the slider's figures", delay=PROGRESS_DELAY_S, leave=False, disable=not progress):
            self.render(p)

    @property
    def all_drawn(self) -> bool:
        """Whether every figure the sliders can reach is drawn."""
        return all(self.sweep.index(**p) in self._pngs for p in self.reachable)

    def _next_to_draw(self) -> dict | None:
        """The undrawn reachable point fewest grid steps from the current one (the likeliest next visit)."""
        here = self.sweep.index(**self.point)
        todo = [(sum(abs(a - b) for a, b in zip(key, here)), n, p) for n, p in enumerate(self.reachable)
                if (key := self.sweep.index(**p)) not in self._pngs]
        return min(todo, key=lambda t: t[:2])[2] if todo else None

    def _schedule_tick(self) -> None:
        due = self._loop.time() + IDLE_TICK_S
        self._loop.call_at(due, self._tick, due)

    def _tick(self, due: float) -> None:
        # A check that runs late means the loop was busy (a cell, a message, a starved CPU): wait for
        # quiet again. Only after IDLE_QUIET_S of on-time checks is one figure drawn, so a slider move
        # or a queued cell waits for at most one figure, even on a busy machine.
        now = self._loop.time()
        if now - due > IDLE_TICK_S / 2:
            self._quiet_since = now
        elif now - self._quiet_since >= IDLE_QUIET_S:
            point = self._next_to_draw()
            if point is None:
                return  # every figure drawn: the checks stop
            self.render(point)
        self._schedule_tick()

    def update(self, **values) -> None:
        """Move to new knob values (each must be on the grid) and show that point's figure."""
        point = {**self.point, **values}
        self.png = self.render(point)
        self.point = point
        self.image.value = self.png
        for k, s in self.sliders.items():  # keep sliders in step when update() is called from code
            if s.value != point[k]:
                s.value = point[k]

    def _key(self, point: dict) -> str:
        """A reachable point as the static page names it: each slider's grid position, joined by commas."""
        return ",".join(str(list(self.sweep.knobs[k]).index(point[k])) for k in self.knobs)

    def to_html(self) -> str:
        """The explorer as self-contained HTML: every figure embedded, a range input per slider, inline JavaScript.

        Works without a kernel, a network or a widget manager (a static HTML export, the handout). Draws
        every reachable figure first (render_all), so it costs what prerendering costs.
        """
        self.render_all(progress=False)
        uid = "mtl-explorer-" + uuid.uuid4().hex[:12]
        inputs, labels = [], []
        for n, k in enumerate(self.knobs):
            values = list(self.sweep.knobs[k])
            names = [_label(v) for v in values]
            labels.append(names)
            i = values.index(self.point[k])
            inputs.append(
                f'<label style="display:block;margin:2px 0"><span style="display:inline-block;min-width:12em">'
                f'{html.escape(self.descriptions.get(k, k))}</span> '
                f'<input type="range" data-knob="{n}" min="0" max="{len(values) - 1}" step="1" value="{i}" '
                f'style="width:300px;vertical-align:middle" aria-label="{html.escape(k)}"> '
                f'<output>{html.escape(names[i])}</output></label>')
        store = "".join(f'<img data-key="{self._key(p)}" alt="" '
                        f'src="data:image/png;base64,{base64.b64encode(self.render(p)).decode()}">'
                        for p in self.reachable)
        script = ("(function(){var root=document.getElementById(%s);var labels=%s;"
                  "var inputs=root.querySelectorAll('input[data-knob]');var view=root.querySelector('.mtl-view');"
                  "function show(){var key=Array.prototype.map.call(inputs,function(i){return i.value}).join(',');"
                  "var img=root.querySelector('.mtl-store img[data-key=\"'+key+'\"]');if(img){view.src=img.src;}"
                  "Array.prototype.forEach.call(inputs,function(i,n){i.nextElementSibling.textContent=labels[n][i.value];});}"
                  "Array.prototype.forEach.call(inputs,function(i){i.addEventListener('input',show);});})();"
                  % (json.dumps(uid), json.dumps(labels).replace("</", "<\\/")))  # no "</script>" inside
        default = base64.b64encode(self.png).decode()
        return (f'<div class="mtl-explorer" id="{uid}">{"".join(inputs)}'
                f'<img class="mtl-view" alt="the figure at the sliders\' values" style="max-width:100%;height:auto" '
                f'src="data:image/png;base64,{default}">'
                f'<div class="mtl-store" hidden style="display:none">{store}</div>'
                f'<script>{script}</script></div>')

    def twin(self, *, presenter: bool) -> SweepExplorer:
        """A copy at the same point in the given style (figures drawn when asked, e.g. by to_html)."""
        return SweepExplorer(self.sweep, self.draw, knobs=self.knobs, value=self.point, descriptions=self.descriptions,
                             prerender=False, static_html=False, presenter=presenter, **self._layout)

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self.png).decode()  # the static fallback (nbval, plain exports)
        export = STATIC_EXPORT if self.static_html is None else self.static_html
        if export:  # the kernel-free slider, for a page without widgets (the handout strips the widget's view)
            bundle["text/html"] = self.to_html()
        if export and PRESENTER_COPY and self.static_html is None:  # the slides' copy, from the same execution
            bundle[PRESENTER_HTML_MIME] = self.twin(presenter=True).to_html()
        return bundle

    def __repr__(self) -> str:
        return f"SweepExplorer(knobs={self.knobs}, point={self.point})"
