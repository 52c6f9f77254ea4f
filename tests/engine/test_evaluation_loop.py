"""One inference loop for every task: it feeds whatever evaluator the dataset makes, passes the
batch's extra inputs to the model, and counts failed views; ``evaluate`` logs the metrics,
writes the evaluator's images and saves its predictions without knowing the task."""

import json
import os

import torch
from torch import nn
from torch.utils.data import DataLoader

from slowvid.config import get_cfg
from slowvid.data.datasets import VideoDataset
from slowvid.data.decoding import DecodeError
from slowvid.engine.evaluator import run_dataset_evaluator
from slowvid.engine.jobs import evaluate
from slowvid.evaluation import ClassificationEvaluator, Evaluator
from slowvid.models import InputSpec


class _Boxes(Evaluator):
    """Sums each box's score, as a detection evaluator would keep them."""

    def __init__(self):
        self.rows = []

    def process(self, batch, outputs):
        self.rows.append(outputs[:, 0].clone())

    def finalize(self):
        scores = torch.cat(self.rows)
        return {"num_boxes": scores.numel(), "score_sum": float(scores.sum())}

    def images(self):
        return {"boxes": torch.zeros(3, 4, 4, dtype=torch.uint8)}

    def predictions(self):
        return {"scores": torch.cat(self.rows)}


class _BoxClips(VideoDataset):
    """Items i = 0..4: a clip of value i with i + 1 boxes; item 3 cannot be read."""

    extra_args = ("boxes",)

    def __init__(self):
        self.training, self.num_retries = False, 0
        self.input_spec = InputSpec(extra_args=("boxes",))

    def __len__(self):
        return 5

    @property
    def num_videos(self):
        return 5

    def load_item(self, index, rng, crop_size=None):
        if index == 3:
            raise DecodeError("clip3.mp4", "broken")
        return {"inputs": [torch.full((1, 1, 1, 1), float(index))], "boxes": index + 1}

    def failed_item(self, index):
        return {"video_index": index}

    @property
    def collate_fn(self):
        def collate(items):
            good = [i for i in items if i["inputs"] is not None]
            rows = [[float(b)] for b, item in enumerate(good) for _ in range(item["boxes"])]
            return {
                "inputs": [torch.stack([i["inputs"][0] for i in good])] if good else None,
                "extra_inputs": [torch.tensor(rows)],
                "failed": [p for i in items for p in i["failed"]],
            }

        return collate

    def make_evaluator(self, output_dir, tag):
        return _Boxes()


class _PerBox(nn.Module):
    """Scores each box with the value of its clip: needs the boxes passed beside the clips."""

    input_spec = InputSpec(extra_args=("boxes",))

    def forward(self, inputs, boxes):
        return inputs[0].flatten(1)[boxes[:, 0].long()].repeat(1, 2)


def test_the_loop_feeds_the_datasets_evaluator_with_the_extra_inputs():
    dataset = _BoxClips()
    loader = DataLoader(dataset, batch_size=2, collate_fn=dataset.collate_fn)
    results = run_dataset_evaluator(
        _PerBox(), loader, torch.device("cpu"), dataset.make_evaluator("", "val_0")
    )
    # boxes: 1 of clip 0, 2 of clip 1, 3 of clip 2, 5 of clip 4 (clip 3 failed)
    assert results["num_boxes"] == 11 and results["score_sum"] == 2 * 1 + 2 * 3 + 4 * 5
    assert results["failed_views"] == 1 and results["failed_paths"] == ["clip3.mp4"]


class _Writer:
    def __init__(self):
        self.scalars, self.images = {}, {}

    def add_scalars(self, values, step):
        self.scalars.update(values)

    def add_image(self, tag, image, step):
        self.images[tag] = image


def test_evaluate_logs_writes_images_and_saves_whatever_the_evaluator_gives(tmp_path):
    dataset = _BoxClips()
    loader = DataLoader(dataset, batch_size=2, collate_fn=dataset.collate_fn)
    cfg = get_cfg()
    cfg.OUTPUT_DIR, cfg.LOG_PERIOD = str(tmp_path), 1
    writer, saved = _Writer(), str(tmp_path / "preds.pyth")
    cpu = torch.device("cpu")
    results = evaluate(
        _PerBox(), loader, cpu, cfg, tag="test", step=0, tensorboard=writer, save_path=saved
    )
    assert results["num_boxes"] == 11
    assert writer.scalars["test/num_boxes"] == 11 and set(writer.images) == {"test/boxes"}
    assert torch.load(saved, weights_only=True)["scores"].numel() == 11
    with open(os.path.join(tmp_path, "stats.jsonl")) as f:
        [stats] = [json.loads(line) for line in f]
    assert stats["_type"] == "test" and stats["num_boxes"] == 11 and stats["failed_views"] == 1


def test_classification_evaluator_ensembles_views_and_keeps_per_video_predictions():
    evaluator = ClassificationEvaluator(num_videos=3, num_classes=4, method="sum")
    # video 0 (class 0): both views say 0; video 1 (class 1): both say 2; video 2: no view
    logits = torch.tensor([[4.0, 0, 0, 0], [2, 0, 0, 0], [0, 0, 4, 0], [0, 0, 3, 0]])
    batch = {"video_index": torch.tensor([0, 0, 1, 1]), "label": torch.tensor([0, 0, 1, 1])}
    evaluator.process(batch, logits)
    results = evaluator.finalize()
    assert results["num_videos"] == 2 and results["num_missing"] == 1
    assert results["top1_acc"] == 50.0
    assert results["per_class_acc"][:2] == [100.0, 0.0]
    predictions = evaluator.predictions()
    assert predictions["num_views"].tolist() == [2, 2, 0]
    assert evaluator.images()["confusion_matrix"].dtype == torch.uint8
