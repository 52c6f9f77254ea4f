"""Importing PyTorchVideo 0.1.5 (for parity tests and speed comparisons) beside a new torchvision.

PyTorchVideo's last release imports ``torchvision.transforms.functional_tensor``, which
torchvision 0.17 removed; its functions live on in ``torchvision.transforms.functional``. Rather
than patch the installed package, the old module name is pointed at the new one before import.
"""

import sys
import types

__all__ = ["import_pytorchvideo"]


def import_pytorchvideo():
    """``(pytorchvideo.models, pytorchvideo.models.hub)``; ImportError when not installed."""
    name = "torchvision.transforms.functional_tensor"
    if name not in sys.modules:
        import torchvision.transforms.functional as functional

        stub = types.ModuleType(name)
        stub.__dict__.update(vars(functional))
        sys.modules[name] = stub
    import pytorchvideo.models as models
    import pytorchvideo.models.hub as hub

    return models, hub
