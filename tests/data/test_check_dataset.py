"""tools/check_dataset.py and slowvid.data.checking on real files: good, corrupt, truncated,
missing and too-short videos in one split."""

import importlib.util
import os

import numpy as np
import pytest

from slowvid.data.checking import check_videos, write_clean_list
from slowvid.data.demo import DemoSpec, render_video, write_video
from slowvid.data.sampling import ClipSpec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def split(demo_dir, tmp_path):
    """train.csv of the demo set plus four bad entries; returns (data dir, csv path)."""
    short = os.path.join(demo_dir, "bad", "short.mp4")
    if not os.path.exists(short):  # 6 frames at 30 fps: shorter than 8 frames at stride 2
        frames = render_video(0, DemoSpec(num_frames=6), np.random.default_rng(0))
        write_video(short, frames, 30, options={"threads": "1"})
    with open(os.path.join(demo_dir, "train.csv")) as f:
        lines = f.readlines()
    bad = ["bad/random.mp4 1\n", "bad/truncated.mp4 2\n", "bad/missing.mp4 3\n"]
    data = tmp_path / "data"
    data.mkdir()
    csv = data / "train.csv"
    csv.write_text("".join(lines + bad + ["bad/short.mp4 4\n"]))
    return demo_dir, str(csv), len(lines)


def test_report_names_every_problem_and_counts_labels(split, tmp_path):
    demo_dir, csv, num_good = split
    entries = [line.split() for line in open(csv)]
    paths = [os.path.join(demo_dir, p) for p, _ in entries]
    labels = [int(label) for _, label in entries]
    report = check_videos(paths, labels, ClipSpec(8, 2, 30), num_workers=2)
    assert len(report.usable) == num_good
    unreadable = {os.path.basename(c.path) for c in report.with_problem("unreadable")}
    assert unreadable == {"random.mp4", "truncated.mp4", "missing.mp4"}
    (short,) = report.with_problem("short")
    assert short.path.endswith("short.mp4") and short.detail == "6 frames, a clip spans 15"
    assert report.label_counts() == {k: 2 for k in range(8)}  # 2 train videos per class
    assert "missing.mp4" in report.summary() and "3 unreadable, 1 shorter" in report.summary()
    out = tmp_path / "clean.csv"
    assert write_clean_list(report, str(out), demo_dir) == num_good
    assert out.read_text().splitlines() == [line.strip() for line in open(csv)][:num_good]


def test_command_line_tool(split, tmp_path, capsys):
    demo_dir, csv, num_good = split
    spec = importlib.util.spec_from_file_location("check_dataset", f"{REPO}/tools/check_dataset.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "clean.csv"
    argv = ["--cfg", f"{REPO}/configs/Demo/SLOWFAST_DEMO.yaml", "--output", str(out)]
    argv += ["DATA.PATH_TO_DATA_DIR", os.path.dirname(csv), "DATA.PATH_PREFIX", demo_dir]
    argv += ["DATA.NUM_FRAMES", "8", "DATA.SAMPLING_RATE", "2"]
    assert tool.main(argv) == 1  # problems found
    printed = capsys.readouterr().out
    assert f"{num_good + 4} videos: {num_good} usable" in printed
    assert len(out.read_text().splitlines()) == num_good
