"""End to end, every data set's loaders deliver exactly the frames its sampling promises.

Each case writes a tiny data set in the layout that data set reads (annotation files as
published, videos or frame folders) made of index videos, whose pixels encode the frame
index (``index_clips.py``), builds its loaders with ``build_loader`` and reads the indices
back from the batches: every test view, every training draw (which must be a legal one, and
vary), both SlowFast pathways (the slow one must be PySlowFast's ``linspace`` pick of the fast
one). The promises are the rules each data set documents, written out in ``index_clips.py``,
not slowvid's sampling code, so an off-by-one shared by the sampling and the decoder cannot
hide behind the two agreeing.

Videos run at several frame rates (TARGET_FPS resamples them), some shorter than a clip (the
last frame repeats), H.264 with B-frames, VP9 and FFV1. Adding a data set is one entry in
``CASES``: a function writing its layout and returning the config overrides, and its
promises (``index_clips.uniform_clip`` and ``random_clips`` for clip data sets).
"""

import csv
import json
import math
import os

import pytest
from index_clips import (
    Clip,
    DatasetCase,
    centred_clip,
    charades_random,
    charades_view,
    check_test_split,
    check_train_split,
    in_segments,
    random_clips,
    segment_view,
    uniform_clip,
    write_index_frames,
    write_index_video,
)

from slowvid.config import get_cfg
from slowvid.data.decoding import torchcodec_available

pytestmark = pytest.mark.timeout(120)

CLIP = Clip(frames=8, rate=2, target_fps=30)
ALPHA = 2  # slow pathway: 4 of the 8 frames, at linspace(0, 7, 4) = 0, 2.33, 4.67, 7
VIEWS = 3


def case_cfg(root: str, dataset: str, overrides: dict):
    cfg = get_cfg()
    settings = {
        "DATA.PATH_TO_DATA_DIR": root,
        "DATA.PATH_PREFIX": root,
        "DATA.NUM_FRAMES": CLIP.frames,
        "DATA.SAMPLING_RATE": CLIP.rate,
        "DATA.TARGET_FPS": CLIP.target_fps,
        "DATA.TRAIN_JITTER_SCALES": [32, 40],
        "DATA.TRAIN_CROP_SIZE": 24,
        "DATA.TEST_CROP_SIZE": 24,
        "DATA.INPUT_CHANNEL_NUM": [3, 3],
        "DATA.NUM_RETRIES": 0,
        "SLOWFAST.ALPHA": ALPHA,
        "DATA_LOADER.NUM_WORKERS": 0,
        "DATA_LOADER.PIN_MEMORY": False,
        "TRAIN.BATCH_SIZE": 2,
        "TEST.BATCH_SIZE": 4,
        "TEST.NUM_ENSEMBLE_VIEWS": VIEWS,
        "TEST.NUM_SPATIAL_CROPS": 1,
        "TRAIN.DATASET": dataset,
        "TEST.DATASET": dataset,
        **overrides,
    }
    for key, value in settings.items():
        node, _, leaf = key.rpartition(".")
        setattr(cfg[node] if node else cfg, leaf, value)
    return cfg


def _views(rule, videos) -> list[list[int]]:
    """Test clips of ``videos`` in loader order: video by video, view by view."""
    return [rule(v, view) for v in videos for view in range(VIEWS)]


# ---------------------------------------------------------------------------------------------
# Clip data sets: Kinetics (files, each backend; frame folders), UCF101, HMDB51.
# ---------------------------------------------------------------------------------------------

# name, frames, fps: resampled at 60 and 25 fps (a stride of 4 and of 5/3), one short video
KINETICS = [("a", 48, 30), ("b", 100, 60), ("c", 60, 25), ("d", 10, 30)]


def _kinetics_case(backend: str) -> DatasetCase:
    def write(root):
        lines = []
        for k, (name, n, fps) in enumerate(KINETICS):
            write_index_video(os.path.join(root, "videos", f"{name}.mp4"), n, fps)
            lines.append(f"videos/{name}.mp4 {k}\n")
        for split in ("train", "val", "test"):
            with open(os.path.join(root, f"{split}.csv"), "w") as f:
                f.writelines(lines)
        return {"DATA.DECODING_BACKEND": backend, "MODEL.NUM_CLASSES": len(KINETICS)}

    return DatasetCase(
        name=f"kinetics-{backend}",
        dataset="Kinetics",
        write=write,
        test_clips=lambda: _views(lambda v, k: uniform_clip(CLIP, v[2], v[1], k, VIEWS), KINETICS),
        train_clip_ok=lambda i, c: tuple(c) in random_clips(CLIP, KINETICS[i][2], KINETICS[i][1]),
    )


FOLDERS = [("a", 100), ("b", 12)]  # extracted at 60 fps (DATA.FRAME_FPS)


def _write_kinetics_frames(root):
    for name, n in FOLDERS:
        folder = os.path.join(root, "frames", name)
        write_index_frames([os.path.join(folder, f"img_{i:05d}.jpg") for i in range(1, n + 1)])
    for split in ("train", "val", "test"):
        with open(os.path.join(root, f"{split}.csv"), "w") as f:
            f.writelines(f"frames/{name}.mp4 {k}\n" for k, (name, _) in enumerate(FOLDERS))
    return {"DATA.VIDEO_FORMAT": "frames", "DATA.FRAME_FPS": 60.0, "MODEL.NUM_CLASSES": 2}


KINETICS_FRAMES = DatasetCase(
    name="kinetics-frame-folders",
    dataset="Kinetics",
    write=_write_kinetics_frames,
    test_clips=lambda: _views(lambda v, k: uniform_clip(CLIP, 60, v[1], k, VIEWS), FOLDERS),
    train_clip_ok=lambda i, c: tuple(c) in random_clips(CLIP, 60, FOLDERS[i][1]),
)

# path under the prefix, frames, fps (FFV1 in AVI, as the published sets are AVI)
UCF = [("Alpha/v_Alpha_g01_c01.avi", 48, 30), ("Beta/v_Beta_g02_c03.avi", 100, 60)]


def _write_ucf(root):
    with open(os.path.join(root, "classInd.txt"), "w") as f:
        f.write("1 Alpha\r\n2 Beta\r\n")
    with open(os.path.join(root, "trainlist01.txt"), "w") as f:
        f.writelines(f"{path} {k + 1}\r\n" for k, (path, _, _) in enumerate(UCF))
    with open(os.path.join(root, "testlist01.txt"), "w") as f:
        f.writelines(f"{path}\r\n" for path, _, _ in UCF)
    for path, n, fps in UCF:
        write_index_video(os.path.join(root, path), n, fps)
    return {"MODEL.NUM_CLASSES": 2}


UCF101 = DatasetCase(
    name="ucf101",
    dataset="UCF101",
    write=_write_ucf,
    test_clips=lambda: _views(lambda v, k: uniform_clip(CLIP, v[2], v[1], k, VIEWS), UCF),
    train_clip_ok=lambda i, c: tuple(c) in random_clips(CLIP, UCF[i][2], UCF[i][1]),
)

# class -> [(video, subset 1 train / 2 test, frames, fps)]; loaders list classes sorted
HMDB = {
    "drink": [("d_test.avi", 2, 100, 60), ("d_train.avi", 1, 10, 30)],
    "cartwheel": [("c_train.avi", 1, 48, 30), ("c_test.avi", 2, 60, 25)],
}


def _hmdb(subset: int) -> list[tuple[str, int, int]]:
    return [(f"{c}/{v}", n, fps) for c in sorted(HMDB) for v, s, n, fps in HMDB[c] if s == subset]


def _write_hmdb(root):
    for name, videos in HMDB.items():
        with open(os.path.join(root, f"{name}_test_split1.txt"), "w") as f:
            f.writelines(f"{video} {subset} \r\n" for video, subset, _, _ in videos)
        for video, _, n, fps in videos:
            write_index_video(os.path.join(root, name, video), n, fps)
    return {"MODEL.NUM_CLASSES": 2}


HMDB51 = DatasetCase(
    name="hmdb51",
    dataset="HMDB51",
    write=_write_hmdb,
    test_clips=lambda: _views(lambda v, k: uniform_clip(CLIP, v[2], v[1], k, VIEWS), _hmdb(2)),
    train_clip_ok=lambda i, c: tuple(c) in random_clips(CLIP, _hmdb(1)[i][2], _hmdb(1)[i][1]),
)

# ---------------------------------------------------------------------------------------------
# SSv2 (webm files and PySlowFast frame lists): one frame from each of 8 segments.
# ---------------------------------------------------------------------------------------------

SSV2 = [("11", 37), ("12", 5)]  # id, frames: one video shorter than its 8 segments
FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels\n"


def _write_ssv2_annotations(root):
    labels = {"Pushing something": "0", "Pulling something": "1"}
    with open(os.path.join(root, "something-something-v2-labels.json"), "w") as f:
        json.dump(labels, f)
    entries = [
        {"id": vid, "label": "x", "template": t, "placeholders": ["x"]}
        for (vid, _), t in zip(SSV2, ["Pushing [something]", "Pulling [something]"])
    ]
    for split in ("train", "validation"):
        with open(os.path.join(root, f"something-something-v2-{split}.json"), "w") as f:
            json.dump(entries, f)
    return {"MODEL.NUM_CLASSES": 2}


def _write_ssv2_webm(root, backend):
    for vid, n in SSV2:  # webm stores no frame count: the decoder infers it
        write_index_video(os.path.join(root, f"{vid}.webm"), n, 12)
    return {"DATA.DECODING_BACKEND": backend, **_write_ssv2_annotations(root)}


def _write_ssv2_frames(root):
    lines = [FRAME_LIST_HEADER]
    for k, (vid, n) in enumerate(SSV2):
        rel = [f"{vid}/{vid}_{i:06d}.jpg" for i in range(1, n + 1)]
        write_index_frames([os.path.join(root, r) for r in rel])
        lines += [f'{vid} {k} {i} {r} ""\n' for i, r in enumerate(rel)]
    for name in ("train.csv", "val.csv"):
        with open(os.path.join(root, name), "w") as f:
            f.writelines(lines)
    return {"DATA.VIDEO_FORMAT": "frames", **_write_ssv2_annotations(root)}


def _ssv2_case(name, write) -> DatasetCase:
    return DatasetCase(
        name=name,
        dataset="SSv2",
        write=write,
        test_clips=lambda: _views(lambda v, k: segment_view(v[1], CLIP.frames, k, VIEWS), SSV2),
        train_clip_ok=lambda i, c: in_segments(SSV2[i][1], CLIP.frames, c),
    )


# ---------------------------------------------------------------------------------------------
# Charades (PySlowFast frame lists; stride in extracted frames), EPIC-Kitchens, AVA.
# ---------------------------------------------------------------------------------------------

CHARADES = [("AAAAA", 40), ("BBBBB", 9)]  # the second is shorter than a 15-frame window


def _write_charades(root):
    lines = [FRAME_LIST_HEADER]
    for k, (vid, n) in enumerate(CHARADES):
        rel = [f"{vid}/{vid}-{i:06d}.jpg" for i in range(1, n + 1)]
        write_index_frames([os.path.join(root, "rgb", r) for r in rel])
        lines += [f"{vid} {k} {i} {r} {k}\n" for i, r in enumerate(rel)]
    for name in ("train.csv", "val.csv"):
        with open(os.path.join(root, name), "w") as f:
            f.writelines(lines)
    return {"DATA.PATH_PREFIX": os.path.join(root, "rgb"), "MODEL.NUM_CLASSES": 2}


CHARADES_CASE = DatasetCase(
    name="charades",
    dataset="Charades",
    write=_write_charades,
    test_clips=lambda: _views(lambda v, k: charades_view(CLIP, v[1], k, VIEWS), CHARADES),
    train_clip_ok=lambda i, c: tuple(c) in charades_random(CLIP, CHARADES[i][1]),
)

EPIC_FPS, EPIC_FRAMES = 60, 180
# narration id, start, stop (seconds), start_frame, stop_frame (1-based frame files)
EPIC = [("P01_01_0", 0.5, 1.8, 31, 109), ("P01_01_1", 2.7, 2.9, 163, 174)]
EPIC_HEADER = (
    "narration_id,participant_id,video_id,narration_timestamp,start_timestamp,stop_timestamp,"
    "start_frame,stop_frame,narration,verb,verb_class,noun,noun_class,all_nouns,"
    "all_noun_classes"
).split(",")


def _stamp(sec: float) -> str:
    return f"00:00:{sec:05.2f}"


def _write_epic(root, video_format):
    if video_format == "mp4":
        write_index_video(os.path.join(root, "P01", "videos", "P01_01.mp4"), EPIC_FRAMES, EPIC_FPS)
        os.rename(  # the published files end in .MP4
            os.path.join(root, "P01", "videos", "P01_01.mp4"),
            os.path.join(root, "P01", "videos", "P01_01.MP4"),
        )
    else:  # file frame_{n:010d}.jpg shows index n: segments count these numbers
        folder = os.path.join(root, "P01", "rgb_frames", "P01_01")
        paths = [os.path.join(folder, f"frame_{n:010d}.jpg") for n in range(1, EPIC_FRAMES + 1)]
        write_index_frames(paths, first=1)
    for name in ("EPIC_100_train.csv", "EPIC_100_validation.csv"):
        with open(os.path.join(root, name), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(EPIC_HEADER)
            for k, (nid, start, stop, first, last) in enumerate(EPIC):
                stamps = [_stamp(start), _stamp(start), _stamp(stop)]
                writer.writerow(
                    [nid, "P01", "P01_01", *stamps, first, last, "take x", "take", k, "x", k]
                    + ["['x']", f"[{k}]"]
                )
    data_format = "frames" if video_format == "frames" else "video"  # the one format key
    return {"DATA.VIDEO_FORMAT": data_format, "MODEL.TASK_NUM_CLASSES": [2, 2]}


def _epic_segment(k: int, video_format: str) -> tuple[int, int, float]:
    """First and last frame index of segment ``k`` and the rate they count.

    mp4: the timestamps at the file's rate, 0-based; frames: the listed frame numbers, at the
    rate of the video's latest segment, ``stop_frame / stop_timestamp`` (here 174 / 2.9 = 60).
    """
    _, start, stop, first, last = EPIC[k]
    if video_format == "mp4":
        return round(start * EPIC_FPS), min(round(stop * EPIC_FPS), EPIC_FRAMES - 1), EPIC_FPS
    return first, last, EPIC[-1][4] / EPIC[-1][2]


def _epic_case(video_format) -> DatasetCase:
    def view(k, v):
        first, last, fps = _epic_segment(k, video_format)
        return [first + i for i in uniform_clip(CLIP, fps, last - first + 1, v, VIEWS)]

    def legal(k, clip):
        first, last, fps = _epic_segment(k, video_format)
        draws = random_clips(CLIP, fps, last - first + 1)
        return tuple(i - first for i in clip) in draws

    return DatasetCase(
        name=f"epic-kitchens-{video_format}",
        dataset="EpicKitchens",
        write=lambda root: _write_epic(root, video_format),
        test_clips=lambda: [view(k, v) for k in range(len(EPIC)) for v in range(VIEWS)],
        train_clip_ok=legal,
    )


AVA_FPS = 30
AVA = {"m1": (150, [902, 904]), "m2": (125, [902, 903, 904])}  # frames from second 900
# the clip of m2 at 904 (frames 112 ..) runs past its last frame, 124


def _write_ava(root):
    lines = [FRAME_LIST_HEADER]
    for k, (vid, (n, _)) in enumerate(AVA.items()):
        rel = [f"{vid}/{vid}_{i:06d}.jpg" for i in range(1, n + 1)]
        write_index_frames([os.path.join(root, "frames", r) for r in rel])
        lines += [f'{vid} {k} {i} {r} ""\n' for i, r in enumerate(rel)]
    os.makedirs(os.path.join(root, "lists"))
    for name in ("train.csv", "val.csv"):
        with open(os.path.join(root, "lists", name), "w") as f:
            f.writelines(lines)
    os.makedirs(os.path.join(root, "ann"))
    rows = [(vid, sec) for vid, (_, secs) in AVA.items() for sec in secs]
    with open(os.path.join(root, "ann", "ava_train_v2.2.csv"), "w") as f:
        f.writelines(f"{vid},{sec},0.1,0.2,0.6,0.9,{1 + sec % 3},0\n" for vid, sec in rows)
    with open(os.path.join(root, "ann", "ava_val_predicted_boxes.csv"), "w") as f:
        f.writelines(f"{vid},{sec},0.2,0.1,0.7,0.8,,0.95\n" for vid, sec in rows)
    return {
        "AVA.FRAME_DIR": os.path.join(root, "frames"),
        "AVA.FRAME_LIST_DIR": os.path.join(root, "lists"),
        "AVA.ANNOTATION_DIR": os.path.join(root, "ann"),
        "DATA.FRAME_FPS": AVA_FPS,
        "MODEL.NUM_CLASSES": 3,
        "MODEL.MODEL_NAME": "ActionDetector",  # the model that takes AVA's boxes
    }


def _ava_keyframes(batch) -> list[tuple[int, int]]:
    """``(video index, second)`` of each item: the metadata of its first box."""
    owner = batch["extra_inputs"][0][:, 0].long().tolist()
    meta = batch["metadata"].tolist()
    return [tuple(meta[owner.index(b)]) for b in range(len(batch["video_index"]))]


def _ava_clip(video: int, sec: int) -> list[int]:
    n = list(AVA.values())[video][0]
    return centred_clip(CLIP, AVA_FPS, (sec - 900) * AVA_FPS, n)


AVA_CASE = DatasetCase(
    name="ava",
    dataset="Ava",
    write=_write_ava,
    test_clips=lambda: [
        _ava_clip(k, sec) for k, (_, secs) in enumerate(AVA.values()) for sec in secs
    ],
    train_clip_ok=lambda key, clip: clip == _ava_clip(*key),
    item_keys=_ava_keyframes,
    jittered=False,  # a keyframe's clip is centred on it, in training too
)

# ---------------------------------------------------------------------------------------------
# Your own videos: VideoFolder (split files), VideoWindows, DoMSEV clips and frames.
# ---------------------------------------------------------------------------------------------

# mixed containers, as a folder of one's own videos may hold
FOLDER = [("alpha/a.mp4", 48, 30), ("beta/b.webm", 100, 60), ("gamma/c.avi", 10, 30)]


def _write_video_folder(root):
    for path, n, fps in FOLDER:
        write_index_video(os.path.join(root, path), n, fps)
    for split in ("train", "val", "test"):  # as tools/make_splits.py writes them
        with open(os.path.join(root, f"{split}.csv"), "w") as f:
            f.writelines(f"{path} {k}\n" for k, (path, _, _) in enumerate(FOLDER))
    return {"MODEL.NUM_CLASSES": len(FOLDER), "OUTPUT_DIR": os.path.join(root, "run")}


VIDEO_FOLDER = DatasetCase(
    name="video-folder",
    dataset="VideoFolder",
    write=_write_video_folder,
    test_clips=lambda: _views(lambda v, k: uniform_clip(CLIP, v[2], v[1], k, VIEWS), FOLDER),
    train_clip_ok=lambda i, c: tuple(c) in random_clips(CLIP, FOLDER[i][2], FOLDER[i][1]),
)


def _within(first: int, last: int, fps: float):
    """Promises for clips inside frames ``first..last`` of a longer video."""

    def view(k):
        return [first + i for i in uniform_clip(CLIP, fps, last - first + 1, k, VIEWS)]

    def legal(clip):
        return tuple(i - first for i in clip) in random_clips(CLIP, fps, last - first + 1)

    return view, legal


LONG_FRAMES, LONG_FPS = 300, 30
# start, end seconds: frames ceil(start * fps) .. ceil(end * fps) - 1, cut at the video's end
WINDOWS = [(1.5, 4.0), (7.25, 7.5), (9.0, 12.0)]


def _window(k):
    start, end = WINDOWS[k]
    first, last = math.ceil(start * LONG_FPS), math.ceil(end * LONG_FPS) - 1
    return _within(first, min(last, LONG_FRAMES - 1), LONG_FPS)


def _write_windows(root):
    write_index_video(os.path.join(root, "long.mp4"), LONG_FRAMES, LONG_FPS)
    for split in ("train", "val", "test"):
        with open(os.path.join(root, f"{split}.csv"), "w") as f:
            f.write("video,start_sec,end_sec,label\n")
            f.writelines(f"long.mp4,{a},{b},{k}\n" for k, (a, b) in enumerate(WINDOWS))
    return {"MODEL.NUM_CLASSES": len(WINDOWS)}


VIDEO_WINDOWS = DatasetCase(
    name="video-windows",
    dataset="VideoWindows",
    write=_write_windows,
    test_clips=lambda: [_window(k)[0](v) for k in range(len(WINDOWS)) for v in range(VIEWS)],
    train_clip_ok=lambda k, clip: _window(k)[1](clip),
)

# video id -> frames, fps, segments (start, stop seconds): frames floor(start * fps) ..
# floor(stop * fps) - 1, cut at the video's end (PyTorchVideo's DoMSEV)
DOMSEV = {
    "v1": (240, 30, [(0.0, 2.5), (2.5, 2.8), (7.0, 9.0)]),
    "v2": (120, 60, [(0.5, 1.5)]),
}
DOMSEV_SEGMENTS = [(v, k) for v, (_, _, segs) in DOMSEV.items() for k in range(len(segs))]


def _domsev_segment(i):
    video, k = DOMSEV_SEGMENTS[i]
    n, fps, segments = DOMSEV[video]
    start, stop = segments[k]
    first, end = math.floor(start * fps), math.floor(stop * fps)
    return _within(first, min(max(end - 1, first), n - 1), fps)


def _write_domsev_tables(root, videos, manifest_header, manifest_rows, segment_rows):
    """``videos``: id -> (frames, fps), all in every split."""
    tables = {
        "video_info.csv": ["video_id,resolution,duration,fps"]
        + [f"{v},32x32,{n / fps},{fps}" for v, (n, fps) in videos.items()],
        "video_data_manifest.csv": [manifest_header, *manifest_rows],
        "activity_labels.csv": [
            "video_id,start_time,stop_time,start_frame,stop_frame,label_id,label_name",
            *segment_rows,
        ],
    }
    for split in ("train", "val", "test"):
        tables[f"{split}.txt"] = list(videos)
    for name, lines in tables.items():
        with open(os.path.join(root, name), "w") as f:
            f.write("\n".join(lines) + "\n")
    return {"DOMSEV.LABEL_TYPE": "activity", "MODEL.NUM_CLASSES": 13}


def _write_domsev(root):
    for v, (n, fps, _) in DOMSEV.items():
        write_index_video(os.path.join(root, "videos", f"{v}.mp4"), n, fps)
    rows = [
        f"{v},{a},{b},{int(a * fps) + 1},{int(b * fps)},1,walking"
        for v, (_, fps, segs) in DOMSEV.items()
        for a, b in segs
    ]
    manifest = [f"{v},videos/{v}.mp4" for v in DOMSEV]
    videos = {v: (n, fps) for v, (n, fps, _) in DOMSEV.items()}
    return _write_domsev_tables(root, videos, "video_id,file_path", manifest, rows)


DOMSEV_CLIPS = DatasetCase(
    name="domsev-clips",
    dataset="DoMSEV",
    write=_write_domsev,
    test_clips=lambda: [
        _domsev_segment(i)[0](v) for i in range(len(DOMSEV_SEGMENTS)) for v in range(VIEWS)
    ],
    train_clip_ok=lambda i, clip: _domsev_segment(i)[1](clip),
)

# frame numbers 1..40 of "v1"'s files; segments by number (inclusive), one overlap, one gap
DOMSEV_FRAME_SEGMENTS = [(1, 12), (10, 20), (31, 36)]
DOMSEV_FRAME_ITEMS = sorted({n for a, b in DOMSEV_FRAME_SEGMENTS for n in range(a, b + 1)})


def _write_domsev_frames(root):
    paths = [os.path.join(root, "frames", "v1", f"v1_{n:07d}.jpg") for n in range(1, 41)]
    write_index_frames(paths, first=1)  # the file of frame number n shows n
    rows = [f"v1,{a / 30},{b / 30},{a},{b},2,running" for a, b in DOMSEV_FRAME_SEGMENTS]
    header = (
        "video_id,location,frame_file_stem,frame_string_length,min_frame_number,"
        "max_frame_number,file_extension"
    )
    manifest = ["v1,frames/v1,v1_,10,1,40,jpg"]
    overrides = _write_domsev_tables(root, {"v1": (40, 30)}, header, manifest, rows)
    one_pathway = {"DATA.INPUT_CHANNEL_NUM": [3], "MODEL.MODEL_NAME": "ResNet"}
    return {**overrides, "DATA.NUM_FRAMES": 1, **one_pathway}


DOMSEV_FRAMES = DatasetCase(
    name="domsev-frames",
    dataset="DoMSEVFrames",
    write=_write_domsev_frames,
    test_clips=lambda: [[n] for n in DOMSEV_FRAME_ITEMS for _ in range(VIEWS)],
    train_clip_ok=lambda i, clip: clip == [DOMSEV_FRAME_ITEMS[i]],
    jittered=False,  # an item is one frame
)


_TORCHCODEC = pytest.mark.skipif(not torchcodec_available()[0], reason="torchcodec unavailable")
CASES = [
    _kinetics_case("pyav"),
    pytest.param(_kinetics_case("torchcodec"), marks=_TORCHCODEC),
    KINETICS_FRAMES,
    UCF101,
    HMDB51,
    _ssv2_case("ssv2-webm-pyav", lambda root: _write_ssv2_webm(root, "pyav")),
    pytest.param(
        _ssv2_case("ssv2-webm-torchcodec", lambda root: _write_ssv2_webm(root, "torchcodec")),
        marks=_TORCHCODEC,
    ),
    _ssv2_case("ssv2-frame-lists", _write_ssv2_frames),
    CHARADES_CASE,
    _epic_case("mp4"),
    _epic_case("frames"),
    AVA_CASE,
    VIDEO_FOLDER,
    VIDEO_WINDOWS,
    DOMSEV_CLIPS,
    DOMSEV_FRAMES,
]


def _id(case) -> str:
    return case.name


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_loaders_deliver_the_promised_frames(case, tmp_path):
    root = str(tmp_path)
    cfg = case_cfg(root, case.dataset, case.write(root))
    assert check_test_split(cfg, case) > 0
    check_train_split(cfg, case)
