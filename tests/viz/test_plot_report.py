from __future__ import annotations

import base64
import re

import pytest
from tests.viz.conftest import assert_png

from gradstep.errors import ConfigError
from gradstep.viz import plot, report
from gradstep.viz.spec import parse_optimizer_spec


def test_new_figure_has_exact_pixel_size(tmp_path):
    fig, ax = plot.new_figure(333, 222)
    ax.plot([0, 1], [1, 0], **plot.series_style(0))
    path = plot.save_figure(fig, tmp_path / "sub" / "f.png")
    assert_png(path, (333, 222))
    assert plot.png_size(path) == (333, 222)


def test_png_size_rejects_other_files(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"GIF89a" + b"\0" * 30)
    with pytest.raises(ValueError, match="not a PNG"):
        plot.png_size(p)


def test_series_styles_differ_without_colour():
    pairs = {(str(plot.series_style(i)["linestyle"]), plot.series_style(i)["marker"]) for i in range(6)}
    assert len(pairs) == 6


def test_report_is_self_contained(tmp_path):
    fig, ax = plot.new_figure(200, 100)
    ax.plot([0, 1], [0, 1])
    png = plot.save_figure(fig, tmp_path / "a.png")
    out = report.write_report(
        tmp_path / "r.html", "Title <x>",
        [report.Section("S1", ["para & text"], [png], [report.Table(["a", "b"], [["r1", 0.123456]], "cap")])],
    )
    text = out.read_text()
    assert "Title &lt;x&gt;" in text and "para &amp; text" in text
    assert "<td>0.1235</td>" in text
    srcs = re.findall(r'src="([^"]+)"', text)
    assert len(srcs) == 1 and srcs[0].startswith("data:image/png;base64,")
    assert base64.b64decode(srcs[0].split(",", 1)[1]) == png.read_bytes()
    assert "http" not in text and "<link" not in text and "<script" not in text


def test_optimizer_spec_parsing():
    s = parse_optimizer_spec("adam:lr=0.01,betas=(0.9,0.99)@fast")
    assert s.name == "adam" and s.kwargs == {"lr": 0.01, "betas": (0.9, 0.99)} and s.display == "fast"
    n = parse_optimizer_spec("nesterov:lr=0.1")
    assert n.name == "SGD" and n.kwargs == {"lr": 0.1, "momentum": 0.9, "nesterov": True}
    assert n.display == "nesterov (lr=0.1, momentum=0.9)"
    assert parse_optimizer_spec("momentum:lr=0.1,momentum=0.5").kwargs["momentum"] == 0.5
    with pytest.raises(ConfigError, match="key=value"):
        parse_optimizer_spec("sgd:lr")
    with pytest.raises(ConfigError):
        parse_optimizer_spec("  ")
