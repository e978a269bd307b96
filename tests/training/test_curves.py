"""curves.png: whole-epoch ticks and dashed lines at the verdict's PASS and MARGINAL levels."""

import pytest

from p7keras.config import DEFAULTS
from p7keras.training.curves import PANELS, THRESHOLD_GID, curves_figure, plot_curves

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

HISTORY = {
    name: [0.1, 0.2, 0.25] for name in ("margin", "cos_next", "cos_prev", "cos_anchor", "gate_weight_mean")
} | {f"val_{name}": [0.1, 0.3, 0.35] for name in ("margin", "cos_next", "cos_prev", "cos_anchor")} | {
    "anchor_lambda": [0.8, 0.79, 0.78],
}
LEVELS = {
    "margin": {"PASS": DEFAULTS.pass_margin, "MARGINAL": DEFAULTS.marginal_margin},
    "cos_next": {"PASS": DEFAULTS.pass_cos_next, "MARGINAL": DEFAULTS.marginal_cos_next},
    "cos_anchor": {"PASS": DEFAULTS.pass_cos_anchor, "MARGINAL": DEFAULTS.marginal_cos_anchor},
}


def _thresholds(ax) -> dict[str, float]:
    lines = [line for line in ax.lines if (line.get_gid() or "").startswith(THRESHOLD_GID)]
    for line in lines:
        ys = set(line.get_ydata())
        assert len(ys) == 1 and line.get_linestyle() == "--"  # horizontal and dashed
    return {line.get_gid().split(":")[1]: float(line.get_ydata()[0]) for line in lines}


@pytest.mark.parametrize("epochs", [1, 3, 17])
def test_epoch_ticks_are_whole_numbers(epochs):
    history = {"margin": [0.1] * epochs, "val_margin": [0.2] * epochs}
    figure = curves_figure(history)
    figure.canvas.draw()
    for ax in figure.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), (ax.get_title(), ticks)


def test_verdict_levels_are_drawn_on_their_panels():
    figure = curves_figure(HISTORY)
    panels = dict(zip(PANELS, figure.axes))
    for name, ax in panels.items():
        assert _thresholds(ax) == pytest.approx(LEVELS.get(name, {})), name
    legend = [t.get_text() for t in panels["cos_next"].get_legend().get_texts()]
    assert f"PASS >= {DEFAULTS.pass_cos_next:.2f}" in legend


def test_plot_curves_writes_a_png(tmp_path):
    path = plot_curves(HISTORY, tmp_path / "curves.png")
    assert path.endswith("curves.png") and (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
