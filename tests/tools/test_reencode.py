"""tools/reencode.py: size, frame rate, GOP and content of the outputs; valid split files."""

import os
import sys

import av
import numpy as np
import pytest

from slowvid.data.decoding import open_video
from slowvid.data.demo import write_video
from slowvid.data.reencode import EncodeSettings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import reencode  # noqa: E402


def _frames(n: int) -> np.ndarray:
    """64x48 frames whose colour is the time, so retimed frames can be checked."""
    out = np.zeros((n, 48, 64, 3), dtype=np.uint8)
    out[..., 0] = (np.arange(n) * 5)[:, None, None]
    out[..., 1] = 128
    return out


def _keyframes(path: str) -> list[int]:
    with av.open(path) as c:
        return [i for i, p in enumerate(c.demux(video=0)) if p.size and p.is_keyframe]


@pytest.mark.timeout(60)
def test_reencode_dataset(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    os.makedirs(src / "videos")
    # 40 frames at 20 fps (2 s) with a single keyframe, stored as mpeg4 in .avi.
    write_video(
        str(src / "videos/a.avi"), _frames(40), 20, codec="mpeg4", options={"g": "100", "b": "4M"}
    )
    write_video(str(src / "videos/b.mp4"), _frames(40), 20, options={"g": "100"})
    (src / "train.csv").write_text("videos/a.avi 0\nvideos/b.mp4 1\n")
    (src / "notes.bin").write_bytes(b"\x00\x01")
    argv = [str(src), str(dst), "--short-side", "32", "--fps", "30", "--gop", "8"]
    assert reencode.main([*argv, "--ext", ".mp4", "--workers", "2"]) == 0
    # The split file follows the renamed video; other files are copied as they are.
    assert (dst / "train.csv").read_text() == "videos/a.mp4 0\nvideos/b.mp4 1\n"
    assert (dst / "notes.bin").read_bytes() == b"\x00\x01"
    for name in ("a", "b"):
        path = str(dst / f"videos/{name}.mp4")
        with open_video(path, "pyav") as video:
            assert video.fps == pytest.approx(30.0)
            assert video.num_frames == 60  # 2 s at 30 fps
            frames = video.get_frames(range(60)).numpy().astype(float)
        assert frames.shape == (60, 32, 42, 3)  # 48x64 -> short side 32, even width
        # Frame k shows the source frame nearest to k / 30 s, i.e. round(k * 20 / 30): the
        # source frame whose (time-coded) colour is closest.
        with open_video(str(src / f"videos/{name}.{'avi' if name == 'a' else 'mp4'}")) as s:
            levels = s.get_frames(range(40)).numpy()[..., 0].mean(axis=(1, 2))
        shown = frames[..., 0].mean(axis=(1, 2))
        nearest = np.abs(shown[:, None] - levels[None, :]).argmin(axis=1)
        assert nearest.tolist() == np.floor(np.arange(60) * 20 / 30 + 0.5).astype(int).tolist()
        keys = _keyframes(path)
        assert keys == list(range(0, 60, 8))
    # An existing output is kept unless --overwrite: a second run re-encodes nothing.
    mtime = os.path.getmtime(dst / "videos/a.mp4")
    assert reencode.main([*argv, "--ext", ".mp4", "--workers", "1"]) == 0
    assert os.path.getmtime(dst / "videos/a.mp4") == mtime


@pytest.mark.timeout(30)
def test_reencode_reports_failures(tmp_path, capsys):
    src = tmp_path / "src"
    os.makedirs(src)
    (src / "broken.mp4").write_bytes(b"not a video")
    assert reencode.main([str(src), str(tmp_path / "dst"), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "1 videos failed" in err and "broken.mp4" in err
    assert not os.path.exists(tmp_path / "dst" / "broken.mp4")


def test_rename_in_text_whole_names_only():
    renames = {"a.webm": "a.mp4", "b.avi": "b.mp4"}
    text = "x/a.webm 1\nxa.webm 2\nb.avi,3\nb.avi.bak 4\n"
    assert reencode.rename_in_text(text, renames) == "x/a.mp4 1\nxa.webm 2\nb.mp4,3\nb.avi.bak 4\n"


def test_settings_are_checked():
    with pytest.raises(ValueError, match="gop >= 1"):
        EncodeSettings(gop=0)
