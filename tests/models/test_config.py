"""The paper's numbers, torchvision's layout, and the design-space builder."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import squeezenet
from squeezenet.models import (
    SQUEEZENET1_0,
    FireConfig,
    SqueezeNet,
    SqueezeNetConfig,
    create_model,
    from_metaparameters,
    get_model_config,
    list_models,
    register_model,
)
from squeezenet.summary import summarize


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "params", "gmacs"),
    [("squeezenet1_0", 1_248_424, 0.819), ("squeezenet1_1", 1_235_496, 0.349)],
)
def test_paper_parameter_and_mac_counts(name: str, params: int, gmacs: float) -> None:
    model = create_model(name)
    assert n_params(model) == params
    summary = summarize(model, 224)
    assert summary.total_params == params
    assert round(summary.total_macs / 1e9, 3) == gmacs
    assert sum(r.macs for r in summary.rows) == summary.total_macs
    assert sum(r.params for r in summary.rows) == params


def test_summary_rows_add_up_with_batch_norm_and_follow_the_models_dtype() -> None:
    model = create_model("squeezenet1_1", batch_norm=True, num_classes=10, small_input=True)
    summary = summarize(model, 32)
    assert sum(r.params for r in summary.rows) == summary.total_params == n_params(model)
    assert summarize(model.double(), 32).total_macs == summary.total_macs  # float64 weights


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_state_dict_equals_torchvision(name: str, torchvision_keys) -> None:
    sd = create_model(name).state_dict()
    expected = torchvision_keys[name]
    assert list(sd) == list(expected)  # same keys, same order
    assert {k: list(v.shape) for k, v in sd.items()} == expected


@pytest.mark.parametrize("base", ["squeezenet1_0", "squeezenet1_1"])
@pytest.mark.parametrize("kind", ["simple_bypass", "complex_bypass"])
def test_bypass_variants_only_add_keys(base: str, kind: str, torchvision_keys) -> None:
    sd = create_model(f"{base}_{kind}").state_dict()
    for key, shape in torchvision_keys[base].items():
        assert list(sd[key].shape) == shape
    fires = get_model_config(f"{base}_{kind}").fires
    # The paper's Fig. 2: identity bypass around fire3, 5, 7, 9 (in == out channels).
    simple = [i + 2 for i, f in enumerate(fires) if f.bypass == "simple"]
    assert simple == [3, 5, 7, 9]
    complex_ = [i + 2 for i, f in enumerate(fires) if f.bypass == "complex"]
    assert complex_ == ([2, 4, 6, 8] if kind == "complex_bypass" else [])
    extra = set(sd) - set(torchvision_keys[base])
    assert bool(extra) == (kind == "complex_bypass")


def test_batch_norm_only_adds_keys(torchvision_keys) -> None:
    sd = create_model("squeezenet1_1", batch_norm=True).state_dict()
    assert set(torchvision_keys["squeezenet1_1"]) < set(sd)
    assert "features.1.bn.weight" in sd and "features.3.squeeze_activation.bn.running_mean" in sd


def test_metaparameter_defaults_equal_squeezenet1_0() -> None:
    cfg = from_metaparameters()
    assert cfg.fires == SQUEEZENET1_0.fires
    assert dataclasses.replace(cfg, name="squeezenet1_0") == SQUEEZENET1_0
    torch.manual_seed(1)
    a = create_model("squeezenet_design")
    torch.manual_seed(1)
    b = create_model("squeezenet1_0")
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(a.eval()(x), b.eval()(x))


def test_metaparameters_follow_the_paper_formula() -> None:
    cfg = from_metaparameters(base_e=64, incr_e=32, freq=3, pct3x3=0.25, sr=0.5)
    for i, fire in enumerate(cfg.fires):
        e = 64 + 32 * (i // 3)
        assert fire.out_channels == e
        assert fire.expand3x3 == round(0.25 * e)
        assert fire.squeeze == round(0.5 * e)
    extremes = from_metaparameters(pct3x3=0.01, sr=1.0)
    assert extremes.fires[0] == FireConfig(squeeze=128, expand1x1=127, expand3x3=1)
    one_one = get_model_config("squeezenet_design", layout="squeezenet1_1", sr=0.25)
    assert one_one.stem_kernel == 3 and one_one.fires[0].squeeze == 32


@pytest.mark.parametrize("kind", ["simple", "complex"])
def test_design_points_keep_or_take_a_bypass(kind: str) -> None:
    """Section 5's grid on Section 6's bypass: a bypass layout keeps its bypasses, and any
    layout takes one by name."""
    preset = get_model_config(f"squeezenet1_0_{kind}_bypass")
    kept = get_model_config("squeezenet_design", layout=preset.name)
    asked = get_model_config("squeezenet_design", bypass=kind)
    assert kept.fires == asked.fires == preset.fires
    wider = get_model_config("squeezenet_design", layout=preset.name, sr=0.25)
    assert [f.bypass for f in wider.fires] == [f.bypass for f in preset.fires]
    assert get_model_config("squeezenet_design", layout=preset.name, bypass="none").fires == (
        SQUEEZENET1_0.fires
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_classes": 0}, "num_classes"),
        ({"dropout": 1.5}, "dropout"),
        ({"in_channels": -1}, "in_channels"),
        ({"pool_after": (7,)}, "pool_after"),
        ({"colour": "red"}, "unknown option"),
    ],
)
def test_invalid_config_values_raise_value_error(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("squeezenet1_1", **overrides)


def test_invalid_fire_and_design_values() -> None:
    with pytest.raises(ValueError, match="squeeze"):
        FireConfig(squeeze=0, expand1x1=4, expand3x3=4)
    with pytest.raises(ValueError, match="bypass"):
        FireConfig(squeeze=4, expand1x1=4, expand3x3=4, bypass="sideways")
    with pytest.raises(ValueError, match="simple"):
        SqueezeNetConfig(
            name="x",
            stem_channels=8,
            stem_kernel=3,
            fires=(FireConfig(4, 8, 8, bypass="simple"),),
            pool_after=(),
        )
    with pytest.raises(ValueError, match="pct3x3"):
        from_metaparameters(pct3x3=1.0)
    with pytest.raises(ValueError, match="sr"):
        from_metaparameters(sr=0)
    with pytest.raises(ValueError, match="pct3x3 must be a number"):
        from_metaparameters(pct3x3="0.5")
    with pytest.raises(ValueError, match="from the metaparameters"):
        create_model("squeezenet_design", fires=SQUEEZENET1_0.fires)
    with pytest.raises(ValueError, match="dropout"):
        create_model("squeezenet1_1", dropout="0.5")


def test_unknown_model_suggests_the_closest_name() -> None:
    with pytest.raises(ValueError, match="did you mean squeezenet1_1"):
        create_model("squeezenet1_2")


def test_registry_listing_and_duplicates() -> None:
    assert list_models("*bypass*") == [
        "squeezenet1_0_complex_bypass",
        "squeezenet1_0_simple_bypass",
        "squeezenet1_1_complex_bypass",
        "squeezenet1_1_simple_bypass",
    ]
    assert {"squeezenet1_0", "squeezenet1_1", "squeezenet_design"} <= set(list_models())
    with pytest.raises(ValueError, match="already registered"):
        register_model("squeezenet1_0", lambda **kw: SQUEEZENET1_0)
    assert squeezenet.list_models() == list_models()


def test_config_round_trips_through_dict() -> None:
    cfg = get_model_config("squeezenet1_1_complex_bypass", num_classes=7, batch_norm=True)
    assert SqueezeNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config field"):
        SqueezeNetConfig.from_dict({**cfg.to_dict(), "depth": 3})
    assert isinstance(SqueezeNet(cfg), SqueezeNet)
    # Files written before `stem_pool` existed load with the pool, as they were trained.
    older = {k: v for k, v in cfg.to_dict().items() if k != "stem_pool"}
    assert SqueezeNetConfig.from_dict(older).stem_pool is True
    with pytest.raises(ValueError, match="stem_pool must be True or False"):
        SqueezeNetConfig.from_dict({**cfg.to_dict(), "stem_pool": "no"})


def test_classifier_padding_is_config_not_keys() -> None:
    """Caffe's SqueezeNet 1.0 pads conv10 by 1: same keys, a 2-pixel wider conv10 map whose
    border holds bias-only outputs, and old config dicts (no field) load with padding 0."""
    plain = create_model("squeezenet1_0", num_classes=5).eval()
    padded = create_model("squeezenet1_0", num_classes=5, classifier_padding=1).eval()
    assert plain.state_dict().keys() == padded.state_dict().keys()
    padded.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 227, 227)
    conv10 = {"plain": plain, "padded": padded}
    maps = {k: m.forward_intermediates(x, ["conv10"])["conv10"] for k, m in conv10.items()}
    assert maps["plain"].shape[-1] == 13 and maps["padded"].shape[-1] == 15
    torch.testing.assert_close(maps["padded"][..., 1:-1, 1:-1], maps["plain"])
    assert torch.equal(maps["padded"][0, :, 0, 0], padded.classifier[1].bias.detach())
    cfg = padded.config
    assert SqueezeNetConfig.from_dict(cfg.to_dict()) == cfg
    older = {k: v for k, v in cfg.to_dict().items() if k != "classifier_padding"}
    assert SqueezeNetConfig.from_dict(older).classifier_padding == 0
    with pytest.raises(ValueError, match="classifier_padding"):
        create_model("squeezenet1_0", classifier_padding=-1)
