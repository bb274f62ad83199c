"""Which components cannot work together, and why: the one list, checked before any work.

Every binarizer works with every block, and every block in every model built from blocks,
except the pairs below. A task names the data kind it trains on and the output it needs; a
model is registered with the output it makes (`output`: "dense" maps or a "vector" of
logits), the block it is designed around (`natural_block`, what `block=auto` means), whether
it can carry expanded features (`expandable`), a block option it needs (`block_option`) and
whether its widths change by ratios that are not integers (`any_width_ratio`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bnnbench.blocks.registry import family, option_names, with_wrapped
from bnnbench.core.registry import BLOCKS, DATASETS, MODELS, TASKS, parse_component

# the pairs that cannot work, by rule; each message says why and what to do instead
ES_IN_CONVERTED = (
    "block {block!r} widens the features between layers {expansion}x (ES-BNN's replicas), but "
    "model {model!r} is an existing network whose convs are swapped in place: its other layers "
    "(BN, pooling, attention, heads) keep their widths. Use a model built from blocks "
    "({expandable}) or a block that does not widen (e.g. {natural})"
)
NEEDS_OPTION = (
    "model {model!r} sets the block option {option!r} on some layers, but block {block!r} has no "
    "{option} option; use block=auto (its own block, {natural})"
)
INTEGER_RATIOS = (
    "block {block!r} changes widths only by integer factors (BiSRNet's Increase/Decrease), but "
    "model {model!r} changes them by other ratios (e.g. 16 -> 24); use a block with a bypass for "
    "any width change (e.g. {natural}, reactnet, bdnet, cfb, plain)"
)
WRONG_DATA = (
    "task {task!r} trains on {wants} data, but data {data!r} is {kind} data; {data_hint}"
)
WRONG_MODEL = (
    "task {task!r} needs a model that outputs {wants}, but model {model!r} outputs {makes}; "
    "models that fit: {fits}"
)


class IncompatibleError(ValueError):
    """Components that cannot work together (the message names them, the reason and the choices)."""


def effective_block(block: str | Mapping[str, Any] | None, model: str) -> tuple[str, dict[str, Any]]:
    """(name, options) of the block a model is built with; `auto`/None is the model's own block."""
    if block is None or block == "auto" or (isinstance(block, Mapping) and block.get("name") == "auto"):
        return MODELS.meta(model).get("natural_block", "plain"), {}
    name, options = parse_component(block, "block")
    return name, with_wrapped(name, options, MODELS.meta(model).get("natural_block", "plain"))


def check_block_in_model(block: str | Mapping[str, Any] | None, model: str) -> None:
    """Raise IncompatibleError when `block` cannot be used in `model`."""
    meta = MODELS.meta(model)
    name, options = effective_block(block, model)
    cls = BLOCKS.get(name)
    natural = meta.get("natural_block", "plain")
    expansion = int(cls.expansion_for(**options))
    if expansion != 1 and not meta.get("expandable", True):
        expandable = ", ".join(expandable_models())
        raise IncompatibleError(
            ES_IN_CONVERTED.format(block=name, expansion=expansion, model=model, expandable=expandable, natural=natural)
        )
    if meta.get("any_width_ratio"):
        if any(getattr(BLOCKS.get(n), "integer_width_ratios", False) for n in family(name, options)):
            raise IncompatibleError(INTEGER_RATIOS.format(block=name, model=model, natural=natural))
    option = meta.get("block_option")
    if option is not None:
        if not any(option in option_names(n) for n in family(name, options)):
            raise IncompatibleError(NEEDS_OPTION.format(model=model, option=option, block=name, natural=natural))


def expandable_models() -> list[str]:
    """Registered models that can carry expanded (ES) features."""
    return [n for n in MODELS.names() if MODELS.meta(n).get("expandable", True)]


def models_for(output: str) -> list[str]:
    """Registered models that make `output` ("dense" or "vector")."""
    return [n for n in MODELS.names() if MODELS.meta(n).get("output") == output]


def check_task(task: str, data: str, data_kind: str, model: str) -> None:
    """Raise IncompatibleError when task, data and model do not fit together."""
    cls = TASKS.get(task)
    if data_kind not in cls.data_kinds:
        fits = [n for n in DATASETS.names() if getattr(DATASETS.get(n), "task", None) in cls.data_kinds]
        hint = f"data sets for task {task!r}: {', '.join(fits)}"
        raise IncompatibleError(
            WRONG_DATA.format(task=task, wants="/".join(cls.data_kinds), data=data, kind=data_kind, data_hint=hint)
        )
    makes = MODELS.meta(model).get("output")
    if makes != cls.model_output:
        raise IncompatibleError(
            WRONG_MODEL.format(task=task, wants=cls.model_output, model=model, makes=makes,
                               fits=", ".join(models_for(cls.model_output)))
        )


__all__ = ["ES_IN_CONVERTED", "IncompatibleError", "expandable_models", "check_block_in_model", "check_task", "effective_block", "models_for"]
