"""The Registry: register, build, names and the error on an unknown name."""

import pytest

from bnnbench.core.registry import Registry, UnknownNameError


def test_register_build_names():
    reg = Registry("widget")

    @reg.register("b")
    def make_b(x: int = 1) -> int:
        return x * 2

    reg.register("a")(lambda: "a")
    assert reg.names() == ["a", "b"]
    assert reg.build("b", x=4) == 8
    assert "a" in reg and "c" not in reg


def test_unknown_name_lists_choices_and_closest():
    reg = Registry("binarizer")
    for n in ["bnn", "dab", "reactnet"]:
        reg.register(n)(object)
    with pytest.raises(UnknownNameError) as err:
        reg.build("reactnett")
    msg = str(err.value)
    assert "unknown binarizer 'reactnett'" in msg
    assert "bnn, dab, reactnet" in msg
    assert "did you mean 'reactnet'" in msg


def test_double_registration_is_an_error():
    reg = Registry("x")
    reg.register("a")(int)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a")(float)
