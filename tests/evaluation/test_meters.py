import math

import pytest
import torch

from slowvid.evaluation import AverageMeter, EpochTimer, ScalarMeter, format_eta, topk_correct


def test_topk_correct_exact_counts():
    scores = torch.tensor(
        [
            [0.9, 0.05, 0.03, 0.01, 0.01, 0.0],  # label 0: top-1
            [0.1, 0.5, 0.2, 0.1, 0.05, 0.05],  # label 2: 2nd -> top-5 only
            [0.3, 0.25, 0.2, 0.15, 0.07, 0.03],  # label 5: last -> neither
            [0.0, 0.01, 0.1, 0.2, 0.3, 0.4],  # label 3: 3rd -> top-3 and top-5
        ]
    )
    labels = torch.tensor([0, 2, 5, 3])
    assert topk_correct(scores, labels, ks=(1, 5)) == [1, 3]
    assert topk_correct(scores, labels, ks=(1, 2, 3)) == [1, 2, 3]


def test_topk_is_clipped_to_num_classes():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    labels = torch.tensor([0, 2])
    assert topk_correct(scores, labels, ks=(1, 5)) == [0, 2]


def test_topk_rejects_bad_shapes():
    with pytest.raises(ValueError, match="labels"):
        topk_correct(torch.zeros(3, 4), torch.zeros(2, dtype=torch.long))


def test_scalar_meter_window_median_and_global_average():
    meter = ScalarMeter(window_size=3)
    for v in (10.0, 1.0, 2.0, 3.0):
        meter.add_value(v)
    assert meter.get_win_median() == 2.0  # window is [1, 2, 3]
    assert meter.get_win_avg() == 2.0
    assert meter.get_global_avg() == 4.0
    meter.add_value(6.0, n=4)
    assert meter.get_global_avg() == pytest.approx((16 + 24) / 8)
    meter.reset()
    assert math.isnan(meter.get_global_avg())


def test_average_meter_is_weighted():
    meter = AverageMeter()
    meter.update(1.0, n=1)
    meter.update(4.0, n=3)
    assert meter.avg == pytest.approx(13 / 4)
    assert meter.last == 4.0


def test_epoch_timer_with_fake_clock():
    now = [0.0]
    timer = EpochTimer(clock=lambda: now[0])
    for duration in (10.0, 30.0, 20.0):
        timer.start()
        now[0] += duration
        timer.stop()
    assert timer.last_epoch_time() == 20.0
    assert timer.avg_epoch_time() == 20.0
    assert timer.median_epoch_time() == 20.0
    assert timer.eta_seconds(5) == 100.0


def test_format_eta():
    assert format_eta(0) == "0:00:00"
    assert format_eta(3725.4) == "1:02:05"
    assert format_eta(90000) == "1 day, 1:00:00"
    assert format_eta(float("nan")) == "?"
