"""kNN evaluation of contrastive pre-training (CONTRASTIVE.KNN_ON): the votes against
scikit-learn's weighted KNeighborsClassifier and a hand count; a label-free training split
refused by name; TASK ssl with TEST.ENABLE trains, evaluates by kNN every epoch and tests."""

import json
import os

import numpy as np
import pytest
import torch
from demo_config import REPO
from sklearn.neighbors import KNeighborsClassifier

from slowvid import engine
from slowvid.config import load_config
from slowvid.data import shuffle_loader
from slowvid.distributed import launch_job
from slowvid.engine.inputs import PixelNorm, to_device
from slowvid.engine.jobs import evaluate_knn
from slowvid.engine.knn import KnnClassifier, build_knn_loader, knn_vote
from slowvid.models import build_model

SIMCLR_CFG = os.path.join(REPO, "configs/Demo/VIT_SIMCLR_DEMO.yaml")
# The demo ViT shrunk: 4 frames of 32 px in 2x16x16 tubelets.
_TINY_SIMCLR = {
    "DATA.NUM_FRAMES": 4,
    "VIT.DEPTH": 1,
    "VIT.EMBED_DIM": 32,
    "VIT.NUM_HEADS": 2,
    "CONTRASTIVE.MLP_DIM": 32,
    "CONTRASTIVE.NUM_CLASSES_DOWNSTREAM": 8,
    "SOLVER.WARMUP_EPOCHS": 0.0,
    "SOLVER.MAX_EPOCH": 1,
    "TRAIN.BATCH_SIZE": 8,
    "TEST.BATCH_SIZE": 8,
    "DATA_LOADER.NUM_WORKERS": 0,
}


def _unit(rows: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    x = torch.randn(rows, dim, generator=generator, dtype=torch.float64)
    return torch.nn.functional.normalize(x, dim=1)


@pytest.mark.parametrize("k", [1, 7, 60])
def test_votes_equal_sklearn_weighted_neighbours(k):
    g = torch.Generator().manual_seed(k)
    bank, queries = _unit(40, 8, g), _unit(6, 8, g)
    labels = torch.arange(40) % 5  # every class present, so sklearn's columns are 0..4
    t = 0.1
    scores = knn_vote(queries, bank, labels, num_classes=5, temperature=t, num_neighbours=k)
    # sklearn's cosine distance is 1 - similarity; each neighbour weighs exp(similarity / T);
    # more neighbours than bank entries means all of them.
    reference = KNeighborsClassifier(
        n_neighbors=min(k, 40),
        metric="cosine",
        algorithm="brute",
        weights=lambda d: np.exp((1.0 - d) / t),
    ).fit(bank.numpy(), labels.numpy())
    proba = reference.predict_proba(queries.numpy())
    np.testing.assert_allclose((scores / scores.sum(1, keepdim=True)).numpy(), proba, rtol=1e-9)
    assert (scores.argmax(1).numpy() == reference.predict(queries.numpy())).all()


def test_votes_by_hand():
    # Query along x; bank: x (class 2), 60 degrees off (class 0), y (class 0), -x (class 1).
    bank = torch.tensor([[1.0, 0.0], [0.5, 0.75**0.5], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([2, 0, 0, 1])
    scores = knn_vote(
        torch.tensor([[1.0, 0.0]]), bank, labels, 3, temperature=0.5, num_neighbours=2
    )
    # The 2 nearest: x (similarity 1) and the 60-degree one (0.5); y and -x do not vote.
    expected = torch.tensor([[np.exp(0.5 / 0.5), 0.0, np.exp(1.0 / 0.5)]], dtype=torch.float32)
    torch.testing.assert_close(scores, expected)


def test_label_free_training_split_is_refused_when_knn_is_on(tiny_opts, tiny_data, tmp_path):
    root = tmp_path / "unlabelled"
    root.mkdir()
    for split in ("train", "val"):
        with open(os.path.join(tiny_data, f"{split}.csv")) as f:
            paths = [line.split()[0] for line in f if line.strip()]
        (root / f"{split}.csv").write_text("".join(f"{p}\n" for p in paths))
    opts = tiny_opts(**_TINY_SIMCLR, **{"DATA.PATH_TO_DATA_DIR": str(root)})
    cfg = load_config(SIMCLR_CFG, opts)
    with pytest.raises(ValueError, match=r"CONTRASTIVE.KNN_ON.*labels of the train videos"):
        build_knn_loader(cfg, "train")
    # ... before any training step.
    with pytest.raises(ValueError, match="CONTRASTIVE.KNN_ON"):
        engine.train(cfg)
    assert not os.path.exists(os.path.join(cfg.OUTPUT_DIR, "stats.jsonl"))


def test_training_labels_outside_the_downstream_classes_are_refused(tiny_opts):
    opts = tiny_opts(**{**_TINY_SIMCLR, "CONTRASTIVE.NUM_CLASSES_DOWNSTREAM": 5})
    cfg = load_config(SIMCLR_CFG, opts)
    model, cpu = build_model(cfg), torch.device("cpu")
    with pytest.raises(ValueError, match=r"labels \[5, 6, 7\] are not classes 0..4 of CONTRASTIVE"):
        KnnClassifier.from_training_videos(
            model, build_knn_loader(cfg, "train"), cpu, **KnnClassifier.from_config(cfg)
        )


def test_ssl_test_needs_a_contrastive_model_with_knn():
    base = ["TASK", "ssl", "TEST.ENABLE", "True", "DATA.INPUT_CHANNEL_NUM", "[3]"]
    contrastive = ["MODEL.MODEL_NAME", "ContrastiveModel", "MODEL.LOSS_FUNC", "contrastive_loss"]
    load_config([], base + contrastive + ["MODEL.ARCH", "slow"])
    masked = ["MODEL.MODEL_NAME", "MaskedAutoencoder", "MODEL.LOSS_FUNC", "multi_mse"]
    with pytest.raises(ValueError, match="TEST.ENABLE: TASK ssl pre-trains without labels"):
        load_config([], base + masked)
    with pytest.raises(ValueError, match="NUM_CLASSES_DOWNSTREAM: 0 must be >= 1"):
        load_config([], base + contrastive + ["CONTRASTIVE.NUM_CLASSES_DOWNSTREAM", "0"])


def _stats(output_dir):
    with open(os.path.join(output_dir, "stats.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.mark.timeout(240)
def test_ssl_with_test_enabled_trains_and_reports_knn_accuracy(tiny_opts, tmp_path):
    opts = tiny_opts(
        **_TINY_SIMCLR,
        **{"TEST.ENABLE": True, "TRAIN.EVAL_PERIOD": 1, "TEST.SAVE_RESULTS_PATH": "preds.pyth"},
        # Scalars only: the test's galleries are of a classifier's logits, not of kNN votes.
        **{"TENSORBOARD.ENABLE": True},
    )
    cfg = load_config(SIMCLR_CFG, opts)
    assert cfg.TASK == "ssl" and cfg.CONTRASTIVE.KNN_ON  # PySlowFast's default
    results = engine.train_and_test(cfg)
    stats = _stats(cfg.OUTPUT_DIR)
    [val] = [s for s in stats if s["_type"] == "val"]
    [test] = [s for s in stats if s["_type"] == "test"]
    # kNN classification: accuracy over the labelled videos, not the pretext loss.
    assert "loss" not in val and val["num_videos"] == 8 and val["num_missing"] == 0
    assert test["num_videos"] == 8 and test["num_missing"] == 0
    for s in (val, test):
        assert 0.0 <= s["top1_acc"] <= s["top5_acc"] <= 100.0
    assert results["test"]["top1_acc"] == test["top1_acc"]
    # Votes over CONTRASTIVE.NUM_CLASSES_DOWNSTREAM classes (not the 64-wide embedding), summed
    # over the 2 views of each video: 2 x (24 voters of weight exp(similarity / 0.1) <= e^10).
    preds = torch.load(os.path.join(cfg.OUTPUT_DIR, "preds.pyth"), weights_only=True)
    assert preds["video_preds"].shape == (8, 8) and (preds["num_views"] == 2).all()
    assert (preds["video_preds"].sum(1) <= 2 * 24 * np.exp(10.0) * (1 + 1e-6)).all()
    assert (preds["video_preds"].sum(1) >= 2 * 24 * np.exp(-10.0)).all()

    # KNN_ON False: there is no test (the pretext-loss evaluation: test_ssl_train.py's MoCo run).
    cfg.defrost()
    cfg.CONTRASTIVE.KNN_ON = False
    assert engine.test(cfg) == {}
    assert [s["_type"] for s in _stats(cfg.OUTPUT_DIR)].count("test") == 1


def test_knn_evaluation_equals_sklearn_on_the_same_embeddings(tiny_opts):
    # A random SimCLR ViT: the bank of the 24 training videos (all vote: fewer than 200) and the
    # test videos' embeddings, classified by kNN through the evaluation loop and by sklearn.
    opts = tiny_opts(**_TINY_SIMCLR, **{"TEST.NUM_ENSEMBLE_VIEWS": 1})
    cfg = load_config(SIMCLR_CFG, opts)
    torch.manual_seed(0)
    model = build_model(cfg)
    cpu = torch.device("cpu")
    bank_loader, test_loader = build_knn_loader(cfg, "train"), build_knn_loader(cfg, "test")
    results = evaluate_knn(model, bank_loader, test_loader, cpu, cfg, tag="test", step=0)

    norm = PixelNorm.from_config(cfg)

    def embedded(loader):
        shuffle_loader(loader, 0)  # the bank's clips (its epoch 0, as the classifier read them)
        rows = [(model.embed(to_device(b["inputs"], cpu, norm)), b["label"]) for b in loader]
        return torch.cat([r[0] for r in rows]).double(), torch.cat([r[1] for r in rows])

    with torch.no_grad():
        (bank, bank_labels), (queries, labels) = embedded(bank_loader), embedded(test_loader)
    assert bank.shape[0] == 24 and sorted(bank_labels.tolist()) == sorted(list(range(8)) * 3)
    t = cfg.CONTRASTIVE.T
    reference = KNeighborsClassifier(
        n_neighbors=24,
        metric="cosine",
        algorithm="brute",
        weights=lambda d: np.exp((1.0 - d) / t),
    ).fit(bank.numpy(), bank_labels.numpy())
    proba = torch.from_numpy(reference.predict_proba(queries.numpy()))
    top5 = proba.topk(5, dim=1).indices
    assert results["num_videos"] == 8
    assert results["top1_acc"] == pytest.approx(100 * (proba.argmax(1) == labels).double().mean())
    assert results["top5_acc"] == pytest.approx(
        100 * (top5 == labels[:, None]).any(1).double().mean()
    )


# Training clips without randomness (the whole 24-frame video, the whole 48 px frame scaled to
# 32, no colour augmentation): every process count reads the same bank.
_FIXED_TRAIN_CLIPS = {
    "DATA.SAMPLING_RATE": 6,
    "DATA.TRAIN_JITTER_SCALES": [32, 32],
    "DATA.TRAIN_JITTER_SCALES_RELATIVE": [],
    "DATA.TRAIN_JITTER_ASPECT_RELATIVE": [],
    "DATA.SSL_COLOR_JITTER": False,
    "DATA.SSL_MOCOV2_AUG": False,
    "DATA.COLOR_RND_GRAYSCALE": 0.0,
}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_knn_test_over_two_processes_equals_one(tiny_opts, tmp_path):
    weights = str(tmp_path / "random.pyth")
    runs = {}
    for processes in (1, 2):
        opts = tiny_opts(
            **{**_TINY_SIMCLR, "TEST.BATCH_SIZE": 4},
            **_FIXED_TRAIN_CLIPS,
            **{
                "NUM_CPU_PROCESSES": processes,
                "TEST.CHECKPOINT_FILE_PATH": weights,
                "TEST.SAVE_RESULTS_PATH": "preds.pyth",
            },
            OUTPUT_DIR=str(tmp_path / f"p{processes}"),
        )
        cfg = load_config(SIMCLR_CFG, opts)
        if processes == 1:
            torch.manual_seed(0)
            torch.save({"model_state": build_model(cfg).state_dict()}, weights)
        launch_job(cfg, engine.test)
        [test] = [s for s in _stats(cfg.OUTPUT_DIR) if s["_type"] == "test"]
        runs[processes] = (
            test,
            torch.load(os.path.join(cfg.OUTPUT_DIR, "preds.pyth"), weights_only=True),
        )
    (one, one_preds), (two, two_preds) = runs[1], runs[2]
    assert one["num_videos"] == two["num_videos"] == 8
    assert (one["top1_acc"], one["top5_acc"]) == (two["top1_acc"], two["top5_acc"])
    # Each process embeds half the training videos; the gathered bank votes as one process's
    # (to float rounding of other batch shapes: votes are exp(similarity / 0.1), up to 2e4).
    for a, b in zip(one_preds.values(), two_preds.values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=0.0)
