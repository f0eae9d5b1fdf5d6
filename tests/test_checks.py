"""Numeric fields of the configs: NaN, inf and out-of-range values are refused in one sentence that names the field,
its flag and the valid range (issue 10, defect 5)."""

import dataclasses
import math
import re

import pytest

from lewm_agents.checks import check_finite
from lewm_agents.methods import METHODS
from lewm_agents.train.config import TrainConfig, config_from_args, train_preset

TRAIN_FLOATS = [f.name for f in dataclasses.fields(TrainConfig) if f.type in ("float", "float | None")]


def _float_fields(cfg, prefix=""):
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float):
            yield prefix + f.name
        elif dataclasses.is_dataclass(value):
            yield from _float_fields(value, f"{prefix}{f.name}.")


def _one_sentence(message: str) -> bool:
    return message.count(". ") == 0 and message.endswith(".") and "\n" not in message


def test_every_float_field_of_train_config_is_covered():
    assert {"epochs", "lr", "weight_decay", "warmup", "grad_clip", "val_fraction", "time_limit"} <= set(TRAIN_FLOATS)


@pytest.mark.parametrize("name", TRAIN_FLOATS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_train_fields_are_refused_naming_the_field(name, bad):
    with pytest.raises(ValueError) as e:
        dataclasses.replace(train_preset("lewm", "smoke"), **{name: bad})
    message = str(e.value)
    assert f"TrainConfig.{name} (--{name.replace('_', '-')}" in message and repr(bad) in message
    assert "finite" in message and _one_sentence(message), message


def _replace_path(cfg, path: str, value):
    """``cfg`` with the dotted field ``path`` set to ``value``, rebuilding every config on the way (each validates)."""
    head, _, rest = path.partition(".")
    inner = _replace_path(getattr(cfg, head), rest, value) if rest else value
    return dataclasses.replace(cfg, **{head: inner})


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_method_fields_are_refused_naming_the_field(method, bad):
    """Every float of every registered method's config (a method added later included), through TrainConfig."""
    cfg = train_preset(method, "smoke")
    names = list(_float_fields(cfg.model))
    assert names, f"{method} has no float field to check"
    for name in names:
        with pytest.raises(ValueError) as e:
            _replace_path(cfg, f"model.{name}", bad)
        assert "--model." + name.replace("_", "-") in str(e.value), str(e.value)


@pytest.mark.parametrize(
    ("field", "value", "range_"),
    [
        ("lr", -1.0, "> 0"),
        ("lr", 0.0, "> 0"),
        ("warmup", 1.0, "in [0, 1)"),
        ("val_fraction", -0.1, "in [0, 1)"),
        ("grad_clip", 0.0, "> 0"),
        ("weight_decay", -1e-3, ">= 0"),
        ("time_limit", -5.0, "> 0"),
        ("epochs", 0.0, "> 0"),
    ],
)
def test_out_of_range_train_fields_name_the_field_and_its_range(field, value, range_):
    with pytest.raises(ValueError) as e:
        dataclasses.replace(train_preset("lewm", "smoke"), **{field: value})
    message = str(e.value)
    assert f"TrainConfig.{field} " in message and f"number {range_} but is {value!r}" in message, message
    assert _one_sentence(message), message


def _usage_error(capsys, args) -> str:
    """The text of tyro's usage box for ``lewm train ARGS`` (box drawing and line wrapping removed)."""
    with pytest.raises(SystemExit) as e:
        config_from_args(args)
    assert e.value.code == 2
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", capsys.readouterr().err).split())


@pytest.mark.parametrize(("text", "range_"), [("nan", "> 0"), ("inf", "> 0"), ("-inf", "> 0"), ("-1", "> 0")])
def test_lr_flags_are_refused_before_torch_sees_them(capsys, text, range_):
    shown = _usage_error(capsys, ["data.h5", "--preset", "smoke", "--lr", text])
    assert f"TrainConfig.lr (--lr, the peak learning rate) must be a finite number {range_} but is" in shown, shown


def test_model_flags_are_refused_naming_the_model_flag(capsys):
    assert "(--model.lam, the SIGReg weight)" in _usage_error(capsys, ["d.h5", "--preset", "smoke", "--lam", "nan"])
    shown = _usage_error(capsys, ["d.h5", "--method", "pldm", "--preset", "smoke", "--model.std-coeff", "-2"])
    assert "PLDMConfig.std_coeff (--model.std-coeff, a loss weight) must be a finite number >= 0 but is -2.0" in shown


def test_check_finite_walks_nested_configs():
    @dataclasses.dataclass(frozen=True)
    class Inner:
        x: float = 1.0

    @dataclasses.dataclass(frozen=True)
    class Outer:
        inner: Inner = dataclasses.field(default_factory=Inner)

    check_finite(Outer())
    with pytest.raises(ValueError, match=re.escape("Inner.x (--inner.x)")):
        check_finite(Outer(Inner(math.nan)))
