"""The two jobs ``tools/run_net.py`` launches in every process: ``train`` and ``test``.

Each holds the run's OUTPUT_DIR (:func:`slowvid.distributed.lease.hold_output_dir`) while it
runs, so a second launch into the same directory stops instead of mixing its files in.
"""

from __future__ import annotations

import logging
import os

import torch
from fvcore.common.config import CfgNode

from slowvid.checkpoint import find_latest_checkpoint, load_checkpoint
from slowvid.config.ssl_keys import check_ssl_eval_start
from slowvid.data import build_loader
from slowvid.distributed import comm, preemption
from slowvid.distributed.lease import hold_output_dir
from slowvid.model_zoo.table import test_view_shapes
from slowvid.models import build_loss, build_model, count_parameters, meta_gflops_by_operator
from slowvid.solver import build_lr_schedule, build_optimizer
from slowvid.utils.logging import TensorboardWriter, log_json_stats
from slowvid.visualization import TestGalleries

from .evaluator import format_per_class, run_dataset_evaluator
from .hooks import (
    InputClipsToTensorboard,
    LeaseWatch,
    PeriodicCheckpoint,
    PeriodicEval,
    StopOnLossExplosion,
    build_extra_hooks,
)
from .inputs import PixelNorm
from .knn import KnnClassifier, build_knn_loader, knn_data_cfg, knn_evaluated
from .multigrid import (
    LongCycleBatchNorm,
    LongCycleLoader,
    apply_long_cycle,
    long_cycle_eval_epochs,
)
from .parallel import gathered
from .precise_bn import PreciseBN
from .preempt import StopCheckpoint, rank_rng_state
from .setup import fold_for_inference, setup_job, unwrap_model, wrap_model
from .ssl import SelfSupervisedTrainer, evaluate_pretext_loss, self_supervised_model
from .trainer import Trainer

logger = logging.getLogger(__name__)


def _tensorboard(cfg: CfgNode):
    if not cfg.TENSORBOARD.ENABLE or not comm.is_main_process():
        return None
    return TensorboardWriter(cfg.TENSORBOARD.LOG_DIR or os.path.join(cfg.OUTPUT_DIR, "tensorboard"))


def _galleries(cfg: CfgNode, model, tag: str, tensorboard) -> TestGalleries | None:
    """TensorBoard galleries of a test pass on rank 0 (classification and multi-label sets)."""
    bare = unwrap_model(model)
    if tag != "test" or tensorboard is None or bare.input_spec.extra_args:
        return None
    return None if cfg.MODEL.TASK_NUM_CLASSES else TestGalleries.from_config(cfg, bare)


def evaluate(
    model,
    loader,
    device,
    cfg: CfgNode,
    *,
    tag: str,
    step: int,
    tensorboard=None,
    save_path: str = "",
    with_galleries: bool = True,
) -> dict:
    """Evaluation of ``model`` on ``loader`` by its dataset's evaluator; logs and returns the
    metrics.

    Args:
        tag: "val" or "test", prefixing the logged metrics.
        step: the epoch (0 for testing).
        tensorboard: writer for the scalars and, when testing, the evaluator's images.
        save_path: where rank 0 saves the evaluator's per-video predictions ("" for nowhere).
        with_galleries: when testing with ``tensorboard``, also the clip galleries of a
            classifier's logits (False for scores that are not logits: kNN votes).
    """
    with gathered(model, cfg.FSDP.RESHARD_AFTER_FORWARD):  # FSDP: no collective per batch
        return _evaluate(
            model,
            loader,
            device,
            cfg,
            tag=tag,
            step=step,
            tensorboard=tensorboard,
            save_path=save_path,
            with_galleries=with_galleries,
        )


def evaluate_knn(
    model, bank_loader, loader, device, cfg: CfgNode, *, tag: str, step: int, tensorboard=None
) -> dict:
    """:func:`evaluate` of a contrastive model's kNN classification (CONTRASTIVE.KNN_ON): the
    bank is embedded from ``bank_loader`` (:func:`~.knn.build_knn_loader` of "train") with the
    current weights, then ``loader``'s clips are classified by its votes."""
    with gathered(model, cfg.FSDP.RESHARD_AFTER_FORWARD):
        knn = KnnClassifier.from_training_videos(
            unwrap_model(model), bank_loader, device, **KnnClassifier.from_config(cfg)
        )
        return evaluate(
            knn,
            loader,
            device,
            knn_data_cfg(cfg),
            tag=tag,
            step=step,
            tensorboard=tensorboard,
            with_galleries=False,
        )


def _evaluate(
    model,
    loader,
    device,
    cfg: CfgNode,
    *,
    tag: str,
    step: int,
    tensorboard,
    save_path: str,
    with_galleries: bool,
) -> dict:
    galleries = _galleries(cfg, model, tag, tensorboard) if with_galleries else None
    on_batch = None
    if galleries is not None:

        def on_batch(inputs, outputs, labels, video_index):
            galleries.update(inputs, galleries.scores(outputs), labels, video_index)

    evaluator = loader.dataset.make_evaluator(cfg.OUTPUT_DIR, f"{tag}_{step}")
    results = run_dataset_evaluator(
        model, loader, device, evaluator, cfg.LOG_PERIOD, PixelNorm.from_config(cfg), on_batch
    )
    if galleries is not None:
        galleries.write(tensorboard.summary_writer(), step)
    if results["failed_paths"]:
        logger.warning(
            "%s: %d views could not be decoded and were left out; videos: %s",
            tag,
            results["failed_views"],
            ", ".join(results["failed_paths"][:10]),
        )
    stats = {"_type": tag, "epoch": step}
    stats.update(
        {k: v for k, v in results.items() if k != "failed_paths" and not isinstance(v, list)}
    )
    if comm.is_main_process():
        log_json_stats(stats, cfg.OUTPUT_DIR)
        if tensorboard is not None:
            tensorboard.add_scalars(
                {
                    f"{tag}/{k}": v
                    for k, v in stats.items()
                    if isinstance(v, (int, float)) and not k.startswith("_")
                },
                step,
            )
            if tag == "test":
                for name, image in evaluator.images().items():
                    tensorboard.add_image(f"{tag}/{name}", image, step)
        if save_path:
            _save_predictions(evaluator, save_path)
    return results


def log_model_info(model: torch.nn.Module, cfg: CfgNode) -> None:
    """The parameter count; with LOG_MODEL_INFO also the modules and the GFLOPs of one test
    view (counted on a meta-device copy, so in no time), as PySlowFast logs them."""
    logger.info(
        "%s (%s): %.2f M parameters",
        cfg.MODEL.MODEL_NAME,
        cfg.MODEL.ARCH,
        count_parameters(model) / 1e6,
    )
    if not cfg.LOG_MODEL_INFO or not comm.is_main_process():
        return
    logger.info("Model:\n%s", model)
    if unwrap_model(model).input_spec.extra_args:
        return  # a detector's cost depends on its boxes
    view = [torch.empty(shape, device="meta") for shape in test_view_shapes(cfg)]
    try:
        with torch.device("meta"):
            meta_model = build_model(cfg).eval()
        gflops = sum(meta_gflops_by_operator(meta_model, view).values())
    except Exception as err:  # noqa: BLE001  (a count for the log must not stop the run)
        logger.warning("GFLOPs not counted: %s: %s", type(err).__name__, err)
        return
    logger.info("GFLOPs of one test view %s: %.2f", [tuple(v.shape) for v in view], gflops)


def _save_predictions(evaluator, path: str) -> None:
    predictions = evaluator.predictions()
    if predictions is None:
        logger.warning("%s keeps no per-video predictions; nothing saved to %s", evaluator, path)
        return
    torch.save(predictions, path)
    logger.info("per-video predictions saved to %s", path)


def hold_output_dir_of(cfg: CfgNode):
    """:func:`hold_output_dir` for the run's OUTPUT_DIR with the LEASE.* settings."""
    lease = cfg.LEASE
    return hold_output_dir(
        cfg.OUTPUT_DIR, ttl_s=lease.TTL_SECONDS, renew_s=lease.RENEW_SECONDS, enabled=lease.ENABLE
    )


def _resume_or_initialise(cfg: CfgNode, model, optimizer) -> dict:
    """Load the newest checkpoint of this run, else the initial weights.

    ``model`` may be wrapped (DDP) or sharded (FSDP: a sharded checkpoint then loads shard by
    shard, a file checkpoint from its full tensors).

    Returns:
        the resumed checkpoint (``epoch`` = epochs done, optional ``scaler_state``), or
        ``{"epoch": 0}`` for a new run. Without TRAIN.CHECKPOINT_EPOCH_RESET the initial
        checkpoint is continued as PySlowFast does: from its epoch, with its optimizer state
        when it is slowvid's (a PySlowFast file stores the index of its last epoch).
    """
    t = cfg.TRAIN
    if t.AUTO_RESUME:
        latest = find_latest_checkpoint(cfg.OUTPUT_DIR)
        if latest:
            state = load_checkpoint(
                latest,
                unwrap_model(model),
                optimizer,
                clear_name_pattern=t.CHECKPOINT_CLEAR_NAME_PATTERN,
            )
            logger.info(
                "resumed from %s (epoch %d, iteration %d)",
                latest,
                state["epoch"],
                state.get("iter", 0),
            )
            return state
    check_ssl_eval_start(cfg)
    if t.CHECKPOINT_FILE_PATH:
        state = load_checkpoint(
            t.CHECKPOINT_FILE_PATH,
            unwrap_model(model),
            None if t.CHECKPOINT_EPOCH_RESET else optimizer,
            checkpoint_type=t.CHECKPOINT_TYPE,
            inflate=t.CHECKPOINT_INFLATE,
            clear_name_pattern=t.CHECKPOINT_CLEAR_NAME_PATTERN,
        )
        logger.info("initialised the model from %s", t.CHECKPOINT_FILE_PATH)
        if not t.CHECKPOINT_EPOCH_RESET and "epoch" in state:
            done = int(state["epoch"]) + (0 if state["format"] == "slowvid" else 1)
            logger.info(
                "continuing from its epoch (TRAIN.CHECKPOINT_EPOCH_RESET False): %d done", done
            )
            return {**state, "epoch": done}
    return {"epoch": 0}


def train(cfg: CfgNode) -> dict:
    """Train per ``cfg``, evaluating and checkpointing periodically. Returns the last stats."""
    with hold_output_dir_of(cfg) as lease:
        return _train(cfg, lease)


def _train(cfg: CfgNode, lease) -> dict:
    cfg, long_cycle = apply_long_cycle(cfg)  # multigrid rewrites the solver's epochs and LRs
    device = setup_job(cfg, "train")
    model = build_model(cfg)
    pretraining = cfg.TASK == "ssl"  # the model computes its own loss, without labels
    if pretraining:
        self_supervised_model(model)
    log_model_info(model, cfg)
    model = wrap_model(model, cfg, device)
    # After wrapping: FSDP replaces the parameters by their shards (DDP keeps them).
    optimizer = build_optimizer(unwrap_model(model), cfg)
    resumed = _resume_or_initialise(cfg, model, optimizer)
    start_epoch = int(resumed["epoch"])
    train_loader = build_loader(cfg, "train")
    tensorboard = _tensorboard(cfg)
    trainer: Trainer | None = None  # the checkpoint hook reads the trainer's scaler

    def extra_state() -> dict:
        scaler = trainer.scaler
        return {"scaler_state": scaler.state_dict()} if scaler.is_enabled() else {}

    # The multigrid hooks run first: later hooks see the stage's loader and batch norms.
    hooks = [LongCycleLoader(cfg, long_cycle), LongCycleBatchNorm(cfg, long_cycle)]
    hooks = hooks if long_cycle else []
    eval_when = (
        long_cycle_eval_epochs(long_cycle, cfg.MULTIGRID.EVAL_FREQ, cfg.SOLVER.MAX_EPOCH)
        if long_cycle
        else None
    )
    if cfg.BN.USE_PRECISE_STATS:
        hooks.append(
            PreciseBN(
                period=cfg.TRAIN.EVAL_PERIOD,
                num_batches=cfg.BN.NUM_BATCHES_PRECISE,
                when=eval_when,
            )
        )
    if cfg.TRAIN.KILL_LOSS_EXPLOSION_FACTOR > 0:
        hooks.append(
            StopOnLossExplosion(factor=cfg.TRAIN.KILL_LOSS_EXPLOSION_FACTOR, window=cfg.LOG_PERIOD)
        )
    hooks.append(
        PeriodicCheckpoint(
            output_dir=cfg.OUTPUT_DIR,
            period=cfg.TRAIN.CHECKPOINT_PERIOD,
            cfg_dump=cfg.dump(),
            extra_state=extra_state,
        )
    )
    last_eval: dict = {}
    if cfg.TRAIN.EVAL_PERIOD > 0:
        knn = knn_evaluated(cfg, unwrap_model(model))
        if knn:  # labelled splits, read now so that a missing label stops the run first
            bank_loader, val_loader = build_knn_loader(cfg, "train"), build_knn_loader(cfg, "val")
        else:
            val_loader = build_loader(cfg, "val")

        def run_eval(epoch: int) -> dict:
            if knn:
                results = evaluate_knn(
                    model,
                    bank_loader,
                    val_loader,
                    device,
                    cfg,
                    tag="val",
                    step=epoch,
                    tensorboard=tensorboard,
                )
            elif pretraining:
                results = evaluate_pretext_loss(
                    model,
                    val_loader,
                    device,
                    PixelNorm.from_config(cfg),
                    output_dir=cfg.OUTPUT_DIR,
                    step=epoch,
                    tensorboard=tensorboard,
                )
            else:
                results = evaluate(
                    model, val_loader, device, cfg, tag="val", step=epoch, tensorboard=tensorboard
                )
            last_eval.update(results)
            return last_eval

        hooks.append(PeriodicEval(period=cfg.TRAIN.EVAL_PERIOD, evaluate=run_eval, when=eval_when))
    vis = cfg.TENSORBOARD.MODEL_VIS
    if tensorboard is not None and vis.ENABLE and vis.INPUT_VIDEO:
        hooks.append(
            InputClipsToTensorboard(
                writer=tensorboard,
                mean=cfg.DATA.MEAN,
                std=cfg.DATA.STD,
                max_clips=cfg.TENSORBOARD.MAX_CLIPS,
            )
        )
    hooks.extend(build_extra_hooks(cfg.TRAIN.HOOKS))
    if lease is not None:
        hooks.append(LeaseWatch(lease))
    if preemption.is_armed():  # last: the state it saves is the one after every other hook
        hooks.append(
            StopCheckpoint(output_dir=cfg.OUTPUT_DIR, cfg_dump=cfg.dump(), extra_state=extra_state)
        )
    trainer_cls = SelfSupervisedTrainer if pretraining else Trainer
    trainer = trainer_cls(
        model=model,
        optimizer=optimizer,
        loss_fn=None
        if pretraining
        else build_loss(cfg.MODEL.LOSS_FUNC, cfg.MODEL.TASK_NUM_CLASSES),
        loader=train_loader,
        lr_schedule=build_lr_schedule(cfg),
        device=device,
        max_epoch=cfg.SOLVER.MAX_EPOCH,
        start_epoch=start_epoch,
        rng_seed=cfg.RNG_SEED,
        log_period=cfg.LOG_PERIOD,
        max_failed_fraction=cfg.DATA.MAX_FAILED_FRACTION,
        output_dir=cfg.OUTPUT_DIR,
        hooks=hooks,
        tensorboard=tensorboard,
        mixed_precision=cfg.TRAIN.MIXED_PRECISION,
        grad_accum_steps=cfg.TRAIN.GRAD_ACCUM_STEPS,
        clip_grad_val=cfg.SOLVER.CLIP_GRAD_VAL,
        clip_grad_l2norm=cfg.SOLVER.CLIP_GRAD_L2NORM,
        start_iter=int(resumed.get("iter", 0)),
        resume_rng_state=rank_rng_state(resumed),
        pixel_norm=PixelNorm.from_config(cfg),
        train_metrics=train_loader.dataset.train_metrics,
    )
    if "scaler_state" in resumed and trainer.scaler.is_enabled():
        trainer.scaler.load_state_dict(resumed["scaler_state"])
    if start_epoch >= cfg.SOLVER.MAX_EPOCH:
        logger.info(
            "nothing to train: %d of %d epochs already done", start_epoch, cfg.SOLVER.MAX_EPOCH
        )
    trainer.train()
    if tensorboard is not None:
        tensorboard.close()
    return {"train": trainer.epoch_stats, "val": dict(last_eval)}


def checkpoint_to_test(cfg: CfgNode) -> tuple[str, str]:
    """``(path, CHECKPOINT_TYPE)`` of the weights to test, in PySlowFast's order:
    TEST.CHECKPOINT_FILE_PATH, this run's newest checkpoint, TRAIN.CHECKPOINT_FILE_PATH;
    ``("", "")`` when there is none."""
    if cfg.TEST.CHECKPOINT_FILE_PATH:
        return cfg.TEST.CHECKPOINT_FILE_PATH, cfg.TEST.CHECKPOINT_TYPE
    latest = find_latest_checkpoint(cfg.OUTPUT_DIR)
    if latest:
        return latest, "pytorch"
    if cfg.TRAIN.CHECKPOINT_FILE_PATH:
        return cfg.TRAIN.CHECKPOINT_FILE_PATH, cfg.TRAIN.CHECKPOINT_TYPE
    return "", ""


def test(cfg: CfgNode) -> dict:
    """Multi-view test of the checkpoint named by TEST.CHECKPOINT_FILE_PATH or the newest one;
    with TEST.NUM_TEMPORAL_CLIPS, once per listed number of temporal clips (the results of the
    last, and of each under ``"per_num_temporal_clips"``)."""
    with hold_output_dir_of(cfg):
        return _test(cfg)


def _test(cfg: CfgNode) -> dict:
    device = setup_job(cfg, "test")
    model = build_model(cfg)
    knn = knn_evaluated(cfg, model)
    if cfg.TASK == "ssl" and not knn:
        # PySlowFast's test of a contrastive model is its kNN classification, and nothing else.
        logger.warning(
            "TASK ssl: nothing to test (a ContrastiveModel with CONTRASTIVE.KNN_ON is tested by "
            "kNN classification; other pre-training has no test)"
        )
        return {}
    log_model_info(model, cfg)
    path, kind = checkpoint_to_test(cfg)
    if path:
        load_checkpoint(path, model, checkpoint_type=kind)
        logger.info("testing %s", path)
    else:
        logger.warning(
            "no checkpoint given or found in %s: testing randomly initialised weights",
            cfg.OUTPUT_DIR,
        )
    fold_for_inference(model.to(device).eval(), cfg)
    if knn:  # no wrapper: the classifier only runs forward passes
        model = KnnClassifier.from_training_videos(
            model, build_knn_loader(cfg, "train"), device, **KnnClassifier.from_config(cfg)
        )
        cfg = knn_data_cfg(cfg)
    else:
        model = wrap_model(model, cfg, device)
    tensorboard = _tensorboard(cfg)
    clips = list(cfg.TEST.NUM_TEMPORAL_CLIPS)
    per_clips = {}
    for num_clips in clips or [cfg.TEST.NUM_ENSEMBLE_VIEWS]:
        views_cfg = cfg.clone()
        views_cfg.defrost()
        views_cfg.TEST.NUM_ENSEMBLE_VIEWS = num_clips
        save_as = cfg.TEST.SAVE_RESULTS_PATH
        if save_as and len(clips) > 1:
            stem, ext = os.path.splitext(save_as)
            save_as = f"{stem}_{num_clips}clips{ext}"
        results = _test_views(model, device, views_cfg, tensorboard, save_as, not knn)
        per_clips[num_clips] = results
    if tensorboard is not None:
        tensorboard.close()
    return {**results, "per_num_temporal_clips": per_clips} if clips else results


def _test_views(
    model, device, cfg: CfgNode, tensorboard, save_as: str, with_galleries: bool
) -> dict:
    """One multi-view test pass at cfg.TEST.NUM_ENSEMBLE_VIEWS clips per video; the per-video
    predictions saved to OUTPUT_DIR/``save_as`` ("" for nowhere)."""
    loader = build_loader(cfg, "test")
    save_path = os.path.join(cfg.OUTPUT_DIR, save_as) if save_as else ""
    results = evaluate(
        model,
        loader,
        device,
        cfg,
        tag="test",
        step=0,
        tensorboard=tensorboard,
        save_path=save_path,
        with_galleries=with_galleries,
    )
    if comm.is_main_process():
        numbers = {k: v for k, v in results.items() if isinstance(v, int | float)}
        logger.info(
            "test over %s (%d views per video): %s",
            type(loader.dataset).__name__,
            cfg.TEST.NUM_ENSEMBLE_VIEWS * cfg.TEST.NUM_SPATIAL_CROPS,
            numbers,
        )
        names = loader.dataset.class_names
        if names and "per_class_acc" in results:
            logger.info("test per class: %s", format_per_class(names, results["per_class_acc"]))
    return results


def train_and_test(cfg: CfgNode) -> dict:
    """The jobs TRAIN.ENABLE and TEST.ENABLE ask for, in that order, in one process group.

    One launch for both: shards that rendezvoused again for the test could reach rank 0's
    store of the training job just before it closes.
    """
    results = {}
    with hold_output_dir_of(cfg):  # held from training through testing
        if cfg.TRAIN.ENABLE:
            results["train"] = train(cfg)
        if cfg.TEST.ENABLE:
            results["test"] = test(cfg)
    return results
