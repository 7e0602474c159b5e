"""mecopt.results.execution: the figure of an executed plan (predicted vs measured, the frame's timeline)."""

from __future__ import annotations

import pandas as pd

from mecopt.results.execution import figure


def test_the_figure_draws_devices_and_every_segment_run():
    devices = pd.DataFrame({"device": ["md1", "md2"], "server": ["s1", ""], "pred_T_s": [0.2, 0.1],
                            "meas_T_s": [0.25, 0.09]})
    frame = pd.DataFrame({"server": ["s1", "s1"], "device": ["md1", "md1"], "slot": [1, 2], "first": [1, 3],
                          "last": [2, 4], "start": [0.0, 0.06], "end": [0.06, 0.09], "wait": [0.0, 0.0]})
    slots = pd.DataFrame({"server": ["s1", "s1"], "slot": [1, 2], "slot_len_s": [0.05, 0.05]})
    fig = figure(devices, frame, slots, "t")
    scatter, timeline = fig.axes
    assert len(scatter.collections) == 3                    # the band and two devices
    bars = timeline.patches
    assert len(bars) == 2 and [b.get_edgecolor()[:3] for b in bars] == [(1.0, 0.0, 0.0), (1.0, 1.0, 1.0)]
    assert [t.get_text() for t in timeline.get_yticklabels()] == ["md1"]
