"""Every registered dataset, the projects' included, keeps the VideoDataset contract.

The cases come from the registry: a dataset registered anywhere is held to
``slowvid.data.datasets.base.VideoDataset`` without being added to a table here. What each
dataset's items hold is tested with its fixture in its own test file.
"""

import random

import pytest
import torch

from slowvid.config.project import PROJECTS_DIR, import_project
from slowvid.data.datasets import ClipDataset, VideoDataset
from slowvid.data.decoding import DecodeError
from slowvid.data.shards import StreamingDataset
from slowvid.models import InputSpec
from slowvid.registry import DATASETS

PROJECTS = sorted(p.name for p in PROJECTS_DIR.iterdir() if (p / p.name / "__init__.py").is_file())
for _project in PROJECTS:
    import_project(_project)  # registers the project's datasets

NAMES = sorted(name for name, _ in DATASETS)
# What a subclass must write; the rest of the contract has defaults in the base class.
REQUIRED = ("__len__", "num_videos", "load_item", "failed_item", "make_evaluator", "from_config")


def test_the_projects_datasets_are_covered():
    assert {"AVKinetics", "Kinetics", "Ava", "EpicKitchens"} <= set(NAMES)


STREAMING = [name for name in NAMES if issubclass(DATASETS.get(name), StreamingDataset)]
# What a streaming dataset (no random access: it picks its own share) must write.
STREAMING_REQUIRED = (
    "__iter__",
    "__len__",
    "num_videos",
    "set_share",
    "set_epoch",
    "collate_fn",
    "make_evaluator",
    "from_config",
)


@pytest.mark.parametrize("name", STREAMING)
def test_streaming_datasets_declare_what_the_engine_uses(name):
    cls = DATASETS.get(name)
    for member in STREAMING_REQUIRED:
        assert any(member in vars(base) for base in cls.__mro__ if base is not StreamingDataset), (
            f"{name} does not define {member}"
        )


@pytest.mark.parametrize("name", sorted(set(NAMES) - set(STREAMING)))
def test_declared_interface(name):
    cls = DATASETS.get(name)
    assert issubclass(cls, VideoDataset)
    for member in REQUIRED:
        assert member in vars(cls) or any(
            member in vars(base) for base in cls.__mro__[1:] if base is not VideoDataset
        ), f"{name} does not define {member}"
    for names in (cls.extra_pathways, cls.extra_args):
        assert isinstance(names, tuple) and all(isinstance(n, str) for n in names)
    assert isinstance(cls.supports_crop_override, bool)
    assert isinstance(cls.frame_folders_supported, bool)
    # A dataset checks the model's extra inputs against its own at construction.
    with pytest.raises(ValueError, match=f"{name} gives"):
        spec = InputSpec(extra_pathways=cls.extra_pathways + ("something_else",))
        object.__new__(cls).check_input_spec(spec)


class _Flaky(VideoDataset):
    """Items 0..9; the ones in ``bad`` fail to decode."""

    def __init__(self, training: bool, bad: set[int]):
        self.training, self.num_retries, self.bad = training, 3, bad
        self.input_spec = InputSpec()

    def __len__(self):
        return 10

    @property
    def num_videos(self):
        return 10

    def load_item(self, index, rng, crop_size=None):
        if index in self.bad:
            raise DecodeError(f"video{index}.mp4", "broken")
        return {"inputs": [torch.full((1,), float(index))], "video_index": index}

    def failed_item(self, index):
        return {"video_index": index}


def test_retry_and_failure_accounting_live_in_the_base():
    random.seed(0)
    train = _Flaky(training=True, bad={2, 3, 4, 5, 6, 7, 8})
    item = train[2]  # replaced by random items until one reads
    assert item["failed"][0] == "video2.mp4" and item["video_index"] not in train.bad
    assert item["inputs"][0].item() == item["video_index"]
    hopeless = _Flaky(training=True, bad=set(range(10)))[0]
    assert hopeless["inputs"] is None and len(hopeless["failed"]) == 1 + 3
    assert hopeless["video_index"] == 0
    evaluating = _Flaky(training=False, bad={4})
    assert evaluating[4] == {"video_index": 4, "inputs": None, "failed": ["video4.mp4"]}
    assert evaluating[5]["failed"] == [] and evaluating[5]["video_index"] == 5


def test_clip_datasets_declare_short_cycle_support():
    assert ClipDataset.supports_crop_override and not DATASETS.get("Ava").supports_crop_override
