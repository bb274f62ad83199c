"""A binarizer choice as the command line names it: method, its options, its weight binarizer."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.weights import WEIGHT_BINARIZERS, WeightBinarizer
from bnnbench.core.registry import check_keys


@dataclass(frozen=True)
class BinarizerSpec:
    """What a block needs to binarize a conv; built from a name or a Hydra `binarizer` config.

    `weight` overrides the method's own weight binarizer (e.g. "identity" for step 1 of
    ReActNet's two-step recipe), `weight_options` are its options (e.g. SiMaN's
    `clip_percent`). `pad_value` is what the binary convs pad their binarized
    input with (0: zeros, as torch; BiDet pads with -1). Unknown names and options raise here,
    before any work.
    """

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    weight: str | None = None
    pad_value: float = 0.0
    weight_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        BINARIZERS.check(self.name)
        if self.weight is not None:
            WEIGHT_BINARIZERS.check(self.weight)
        weight_params = inspect.signature(WEIGHT_BINARIZERS.get(self.weight_name).__init__).parameters
        check_keys(f"weight binarizer {self.weight_name!r} (binarizer.weight_options)", self.weight_options,
                   [k for k in weight_params if k != "self"])
        params = inspect.signature(self.method.__init__).parameters
        valid = [k for k in params if k not in ("self", "channels")]
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        unknown = [k for k in self.options if k not in valid]
        if unknown and not takes_any:
            raise ValueError(
                f"binarizer {self.name!r} does not take option {', '.join(map(repr, unknown))}: valid options are "
                f"{', '.join(valid) or '(none)'} (and weight, weight_options)"
            )
        try:
            self.activation(1)
        except TypeError as err:
            raise ValueError(f"binarizer {self.name!r} does not take options {dict(self.options)}: {err}") from err

    @property
    def method(self) -> type[ActivationBinarizer]:
        """The activation binarizer class."""
        return BINARIZERS.get(self.name)

    @property
    def weight_name(self) -> str:
        """The registry name of the weight binarizer in use."""
        return self.weight or self.method.weight

    @property
    def binary(self) -> bool:
        """True when both activations and weights are 1-bit, i.e. the conv runs on bits."""
        return self.method.binary and WEIGHT_BINARIZERS.get(self.weight_name).binary

    @property
    def conv_bias(self) -> bool:
        """Whether the method gives its binary convs a bias."""
        return self.method.conv_bias

    def activation(self, channels: int) -> ActivationBinarizer:
        """A fresh activation binarizer for `channels` input channels."""
        return self.method(channels, **self.options)

    def weight_binarizer(self) -> WeightBinarizer:
        """A fresh weight binarizer."""
        return WEIGHT_BINARIZERS.build(self.weight_name, **self.weight_options)

    @classmethod
    def of(cls, value: BinarizerSpec | str | Mapping[str, Any]) -> BinarizerSpec:
        """Accept a spec, a name, or a mapping {name: ..., weight: ..., **options}."""
        if isinstance(value, BinarizerSpec):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, Mapping):
            opts = {str(k): v for k, v in dict(value).items()}
            if "name" not in opts:
                raise ValueError(f"a binarizer config needs a `name`, got {opts}")
            name, weight = opts.pop("name"), opts.pop("weight", None)
            weight_options = dict(opts.pop("weight_options", None) or {})
            return cls(name, opts, weight, float(opts.pop("pad_value", 0.0)), weight_options)
        raise TypeError(f"cannot make a binarizer from {value!r}")
