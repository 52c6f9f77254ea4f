#!/usr/bin/env python
"""Re-encode a video dataset for fast training: short side, frame rate, GOP length, CRF.

    python tools/reencode.py /data/k400 /data/k400_320 --short-side 320 --fps 30 --gop 16

Every video under SRC (by extension) is re-encoded as H.264 into the same relative path
under DST, in parallel, with a progress bar; every other file (split lists, annotations) is
copied. A video whose extension changes (``--ext .mp4`` turns .webm or .avi into .mp4) is
renamed in the copied text files (.csv, .txt, .json, .pkl is left alone), so the split files
stay valid. Videos that fail are listed at the end, and the exit status is 1. Existing
outputs are skipped unless ``--overwrite``, so an interrupted run resumes.
See ``benchmarks/data_pipeline.py --videos`` for the effect on loading speed.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm

from slowvid.data.reencode import EncodeSettings, reencode_video

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".flv")
TEXT_EXTENSIONS = (".csv", ".txt", ".json", ".list")


def plan(src: str, dst: str, ext: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """``(videos as (source, output) pairs, other files relative to src)``."""
    videos, others = [], []
    for root, _, files in os.walk(src):
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(root, name), src)
            stem, old_ext = os.path.splitext(rel)
            if old_ext.lower() in VIDEO_EXTENSIONS:
                videos.append((rel, stem + (ext or old_ext)))
            else:
                others.append(rel)
    return videos, others


def rename_in_text(text: str, renames: dict[str, str]) -> str:
    """Replace every listed video file name (as a whole path component) by its new name."""
    if not renames:
        return text
    pattern = re.compile(
        r"(?<![\w.-])(" + "|".join(re.escape(k) for k in sorted(renames, key=len)[::-1]) + r")"
        r"(?![\w.-])"
    )
    return pattern.sub(lambda m: renames[m.group(1)], text)


def _job(pair: tuple[str, str], src: str, dst: str, settings: EncodeSettings) -> dict:
    out = os.path.join(dst, pair[1])
    try:
        return {"ok": True, **reencode_video(os.path.join(src, pair[0]), out, settings)}
    except Exception as err:  # noqa: BLE001 - FFmpeg raises many types; all mean "this file"
        return {"ok": False, "error": f"{type(err).__name__}: {err}"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("src", help="dataset folder to read")
    parser.add_argument("dst", help="folder to write (the same layout)")
    defaults = EncodeSettings()
    parser.add_argument("--short-side", type=int, default=defaults.short_side, help="0 keeps")
    parser.add_argument("--fps", type=float, default=defaults.fps, help="0 keeps the source's")
    parser.add_argument("--gop", type=int, default=defaults.gop, help="frames between keyframes")
    parser.add_argument("--crf", type=int, default=defaults.crf)
    parser.add_argument("--preset", default=defaults.preset)
    parser.add_argument("--no-fast-decode", action="store_true", help="drop tune=fastdecode")
    parser.add_argument("--ext", help="output extension (.mp4 or .mkv); default keeps each")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--overwrite", action="store_true", help="redo existing outputs")
    args = parser.parse_args(argv)

    if os.path.abspath(args.src) == os.path.abspath(args.dst):
        parser.error("src and dst must differ")
    if args.ext and args.ext not in (".mp4", ".mkv"):
        parser.error(f"--ext must be .mp4 or .mkv (H.264 containers), got {args.ext!r}")
    settings = EncodeSettings(
        short_side=args.short_side,
        fps=args.fps,
        gop=args.gop,
        crf=args.crf,
        preset=args.preset,
        fast_decode=not args.no_fast_decode,
    )
    videos, others = plan(args.src, args.dst, args.ext)
    bad_ext = sorted({os.path.splitext(o)[1] for _, o in videos} - {".mp4", ".mkv", ".mov"})
    if bad_ext:
        parser.error(f"H.264 cannot be stored in {', '.join(bad_ext)} files: pass --ext .mp4")
    renames = {
        os.path.basename(s): os.path.basename(o) for s, o in videos if s != o
    }  # by file name: split files list paths relative to various prefixes
    for rel in others:
        os.makedirs(os.path.dirname(os.path.join(args.dst, rel)), exist_ok=True)
        if rel.lower().endswith(TEXT_EXTENSIONS) and renames:
            with open(os.path.join(args.src, rel), encoding="utf-8") as f:
                text = rename_in_text(f.read(), renames)
            with open(os.path.join(args.dst, rel), "w", encoding="utf-8") as f:
                f.write(text)
        else:
            shutil.copy2(os.path.join(args.src, rel), os.path.join(args.dst, rel))
    todo = [p for p in videos if args.overwrite or not os.path.exists(os.path.join(args.dst, p[1]))]
    job = functools.partial(_job, src=args.src, dst=args.dst, settings=settings)
    failed, bytes_in, bytes_out = [], 0, 0
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(job, pair): pair for pair in todo}
        with tqdm(total=len(todo), desc="re-encoding", unit="video") as bar:
            for future in as_completed(futures):
                result = future.result()
                if result["ok"]:
                    bytes_in += result["bytes_in"]
                    bytes_out += result["bytes_out"]
                else:
                    failed.append((futures[future][0], result["error"]))
                bar.update()
    print(
        f"{len(todo) - len(failed)} videos re-encoded ({len(videos) - len(todo)} already done), "
        f"{bytes_in / 2**20:.1f} MiB -> {bytes_out / 2**20:.1f} MiB; {len(others)} other files "
        f"copied"
    )
    if failed:
        print(f"{len(failed)} videos failed and are missing from {args.dst}:", file=sys.stderr)
        for rel, error in sorted(failed):
            print(f"  {rel}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
