"""ExecuTorch: lower a video model to the XNNPACK delegate (float or int8) and run it.

::

    model -> mobile_friendly (2D convs, BN folded) -> torch.export
      [int8: XNNPACKQuantizer (symmetric, per-channel weights) -> prepare_pt2e -> calibrate
             on clips -> convert_pt2e -> torch.export]
      -> to_edge_transform_and_lower(XnnpackPartitioner) -> .pte bytes
    .pte -> ExecutorchModule(program, threads=n) -> logits

Threads: XNNPACK runs on ExecuTorch's process-wide thread pool (one thread per core by
default). :func:`set_executorch_threads` resizes it; a method loaded before a resize still
points at the freed pool (running it crashed the process), so :class:`ExecutorchModule` records
the pool it was loaded under and refuses to run after a resize.

ExecuTorch is an optional dependency (``pip install -e ".[executorch]"``); everything here
imports it lazily and says so when it is missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from .export import PathwayInputs
from .mobile import mobile_friendly

__all__ = [
    "QUANTIZE_MODES",
    "ExecutorchModule",
    "delegation_summary",
    "executorch_threads",
    "lower_to_xnnpack",
    "quantize_for_xnnpack",
    "run_executorch",
    "set_executorch_threads",
    "to_executorch",
]

QUANTIZE_MODES = (None, "int8")
_pool = {"resizes": 0}  # how many times this process resized the pool


def _need(what: str):
    return ImportError(f"{what} needs the executorch package: pip install -e '.[executorch]'")


@torch.no_grad()
def quantize_for_xnnpack(
    model: nn.Module,
    clips: Sequence[torch.Tensor],
    calibration: Iterable[Sequence[torch.Tensor]],
) -> torch.fx.GraphModule:
    """PT2E static int8 of the mobile rewrite of ``model``, as XNNPACK runs it.

    Activations int8 per tensor (histogram observers), weights int8 symmetric per output
    channel; the graph keeps quantize/dequantize pairs that the XNNPACK partitioner fuses
    into int8 kernels.

    Args:
        model: takes a list of per-pathway clips.
        clips: example per-pathway clips (their shapes are the program's).
        calibration: per-pathway clip lists shaped as ``clips``, ideally real (normalised)
            clips; observers record their activation ranges.

    Raises:
        ValueError: ``calibration`` is empty.
    """
    try:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError as e:
        raise _need("int8 ExecuTorch export") from e
    wrapped = PathwayInputs(mobile_friendly(model, clips)).eval()
    graph = torch.export.export(wrapped, tuple(clips)).module()
    config = get_symmetric_quantization_config(is_per_channel=True)
    quantizer = XNNPACKQuantizer().set_global(config)
    prepared = prepare_pt2e(graph, quantizer)
    seen = 0
    for batch in calibration:
        prepared(*batch)
        seen += 1
    if not seen:
        raise ValueError("int8 quantization needs at least one calibration clip")
    return convert_pt2e(prepared)


@torch.no_grad()
def lower_to_xnnpack(
    model: nn.Module,
    clips: Sequence[torch.Tensor],
    quantize: str | None = None,
    calibration: Iterable[Sequence[torch.Tensor]] | None = None,
):
    """``model`` lowered to ExecuTorch's edge dialect with XNNPACK taking what it can.

    Args:
        model: takes a list of per-pathway clips.
        clips: example per-pathway clips; the program's batch size is theirs.
        quantize: None (float) or "int8" (see :func:`quantize_for_xnnpack`).
        calibration: int8 only: per-pathway clip lists to calibrate on.

    Returns:
        executorch's EdgeProgramManager (``.to_executorch().buffer`` is the .pte).
    """
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, got {quantize!r}")
    if quantize is not None and calibration is None:
        raise ValueError("quantize='int8' needs calibration clips")
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    except ImportError as e:
        raise _need("ExecuTorch export") from e
    if quantize == "int8":
        module = quantize_for_xnnpack(model, clips, calibration)
    else:
        module = PathwayInputs(mobile_friendly(model, clips)).eval()
    program = torch.export.export(module, tuple(clips))
    return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])


def to_executorch(
    model: nn.Module,
    clips: Sequence[torch.Tensor],
    quantize: str | None = None,
    calibration: Iterable[Sequence[torch.Tensor]] | None = None,
) -> bytes:
    """An ExecuTorch program (.pte bytes) of ``model`` delegated to XNNPACK; arguments as
    :func:`lower_to_xnnpack`. The batch size is fixed to that of ``clips``."""
    return lower_to_xnnpack(model, clips, quantize, calibration).to_executorch().buffer


def delegation_summary(lowered) -> dict:
    """What XNNPACK took from a :func:`lower_to_xnnpack` result.

    Returns:
        ``{"subgraphs": n, "delegated": nodes, "outside": {op: count}}``; the ops in
        ``outside`` run on ExecuTorch's portable kernels.
    """
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(lowered.exported_program().graph_module)
    outside = {
        op: b.non_delegated
        for op, b in info.delegation_by_operator.items()
        if b.non_delegated and op != "getitem"  # getitem unpacks the delegate's outputs
    }
    return {
        "subgraphs": info.num_delegated_subgraphs,
        "delegated": info.num_delegated_nodes,
        "outside": outside,
    }


def _threadpool():
    try:
        from executorch.extension.pybindings import portable_lib
    except ImportError as e:
        raise _need("ExecuTorch's thread pool") from e
    return portable_lib


def executorch_threads() -> int:
    """Threads in ExecuTorch's pool (XNNPACK's workers)."""
    return _threadpool()._threadpool_get_thread_count()


def set_executorch_threads(threads: int) -> None:
    """Resize ExecuTorch's process-wide thread pool; load programs after calling this.

    Raises:
        ValueError: ``threads`` < 1.
    """
    if threads < 1:
        raise ValueError(f"ExecuTorch needs at least 1 thread, got {threads}")
    lib = _threadpool()
    if lib._threadpool_get_thread_count() != threads:
        lib._unsafe_reset_threadpool(threads)
        _pool["resizes"] += 1


class ExecutorchModule:
    """A loaded .pte program called like the model: ``module(clips) -> logits``.

    Args:
        program: .pte bytes or a path.
        threads: resize ExecuTorch's thread pool to this before loading (None: as it is).
    """

    def __init__(self, program: bytes | str, threads: int | None = None):
        try:
            from executorch.runtime import Runtime
        except ImportError as e:
            raise _need("running a .pte") from e
        if isinstance(program, str):
            with open(program, "rb") as f:
                program = f.read()
        if threads is not None:
            set_executorch_threads(threads)
        self.threads = executorch_threads()
        self._loaded_at = _pool["resizes"]
        # The method points into the program and the program into the bytes: keep both alive
        # (a method outliving its program read freed memory and crashed the runtime).
        self._bytes = program
        self._program = Runtime.get().load_program(program)
        self._method = self._program.load_method("forward")

    def __call__(self, clips: Sequence[torch.Tensor]) -> torch.Tensor:
        if _pool["resizes"] != self._loaded_at:
            raise RuntimeError(
                "ExecuTorch's thread pool was resized after this program was loaded (its XNNPACK "
                "kernels point at the old pool); load it again"
            )
        return self._method.execute(list(clips))[0]


def run_executorch(
    program: bytes | str, clips: Sequence[torch.Tensor], threads: int | None = None
) -> torch.Tensor:
    """Logits of an ExecuTorch program (bytes or a .pte path) under the ExecuTorch runtime."""
    return ExecutorchModule(program, threads)(clips)
