"""Weight initialisation shared by the 3D ResNet family (the scheme of PySlowFast / Caffe2)."""

from torch import nn

__all__ = ["ResidualBlock", "init_weights"]


class ResidualBlock(nn.Module):
    """A block adding a branch to its input; :func:`init_weights` can make it start as the
    identity by zeroing the branch's last norm (:meth:`zero_init_final_norm`)."""

    def zero_init_final_norm(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define zero_init_final_norm")


def init_weights(model: nn.Module, zero_init_final_norm: bool = True, fc_std: float = 0.01) -> None:
    """Initialises ``model`` in place.

    Convolutions get Kaiming-normal (fan_out, ReLU gain), norms weight 1 / bias 0, linear layers
    normal(0, fc_std) / bias 0. With ``zero_init_final_norm`` every module that has a
    :class:`ResidualBlock` zeroes its branch's last norm, so each
    block starts as an identity and deep models train stably from scratch.

    Args:
        model: the module to initialise.
        zero_init_final_norm: zero the last norm of each residual branch.
        fc_std: standard deviation of linear weights.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv3d | nn.Conv2d | nn.Conv1d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._NormBase | nn.GroupNorm | nn.LayerNorm):
            if m.weight is not None:
                nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=fc_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    if zero_init_final_norm:
        for m in model.modules():
            if isinstance(m, ResidualBlock):
                m.zero_init_final_norm()
