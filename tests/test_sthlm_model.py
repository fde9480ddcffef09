"""STHLM generator: bimodal coverage, training, determinism, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pathsearch.sthlm.train as train_module
from pathsearch.sthlm.checkpoint import load_model, save_model
from pathsearch.sthlm.hyperlinear import HyperLinear
from pathsearch.sthlm.model import SampleConfig
from pathsearch.sthlm.pairs import Pairs, label_pairs, qrel_pairs, text_pairs
from pathsearch.sthlm.train import TrainConfig, train
from pathsearch.sthlm.velocity import NetConfig, VelocityNet

MODE_DEG = 60.0


def _unit(deg: np.ndarray) -> np.ndarray:
    rad = np.deg2rad(deg)
    return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def _bimodal_pairs(n: int, seed: int) -> Pairs:
    """c at angle theta; x at theta +/- 60 degrees with equal odds: p(x|c) has two modes."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, 360, n)
    side = rng.choice([-1.0, 1.0], n)
    return Pairs(_unit(theta), _unit(theta + side * MODE_DEG + rng.normal(0, 3, n)))


def _offsets(samples: np.ndarray, theta: float) -> np.ndarray:
    ang = np.rad2deg(np.arctan2(samples[..., 1], samples[..., 0]))
    return (ang - theta + 180) % 360 - 180


@pytest.fixture(scope="module", params=["velocity", "x1"])
def toy_models(request):
    pairs = _bimodal_pairs(4000, seed=0)
    config = TrainConfig(
        max_epochs=60, patience=60, width=64, hyper_dim=32, rank=4, residual=False, predict=request.param, seed=0
    )
    flow, report = train(pairs, "flow", config)
    control, _ = train(pairs, "control", config)
    return flow, control, report


def test_samples_cover_both_modes_while_point_estimate_falls_between(toy_models):
    flow, control, _ = toy_models
    thetas = np.array([20.0, 135.0, 250.0])
    samples = flow.sample(_unit(thetas), 200, SampleConfig(temperature=1.0, seed=1))
    for theta, row in zip(thetas, samples, strict=True):
        off = _offsets(row, theta)
        near_plus = np.abs(off - MODE_DEG) < 25
        near_minus = np.abs(off + MODE_DEG) < 25
        assert near_plus.mean() > 0.3 and near_minus.mean() > 0.3, off
        assert (np.abs(off) < 20).mean() < 0.1  # little mass between the modes
    point = control.predict(_unit(thetas))
    for theta, p in zip(thetas, point, strict=True):
        assert abs(_offsets(p[None], theta)[0]) < 20  # the regression lands between the modes


def test_training_loss_falls(toy_models):
    _, _, report = toy_models
    assert report.train_loss[-1] < 0.7 * report.train_loss[0]
    assert len(report.val_loss) == report.epochs


def test_sampling_is_deterministic_given_seed(toy_models):
    flow, _, _ = toy_models
    cond = _unit(np.array([10.0, 80.0]))
    a = flow.sample(cond, 8, SampleConfig(seed=3))
    b = flow.sample(cond, 8, SampleConfig(seed=3))
    c = flow.sample(cond, 8, SampleConfig(seed=4))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (2, 8, 2)


def test_guided_sampling_runs_conditioned_and_null_in_one_batch(toy_models):
    flow, _, _ = toy_models
    out = flow.sample(_unit(np.array([0.0])), 4, SampleConfig(guidance=2.0))
    assert out.shape == (1, 4, 2) and np.allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)


def test_checkpoint_round_trip(toy_models, tmp_path):
    flow, _, _ = toy_models
    save_model(flow, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    again = load_model(tmp_path / "ckpt")
    cond = _unit(np.array([42.0]))
    np.testing.assert_array_equal(flow.sample(cond, 5), again.sample(cond, 5))
    for (name, a), (_, b) in zip(flow.net.state_dict().items(), again.net.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_hyperlinear_starts_as_its_base_layer_and_depends_on_condition():
    layer = HyperLinear(6, 5, hyper_dim=8, rank=2)
    x, h = torch.randn(3, 4, 6), torch.randn(3, 8)
    torch.testing.assert_close(layer(x, h), layer.base(x))  # LoRA start: zero correction
    torch.nn.init.normal_(layer.hyper_b.weight)
    out = layer(x, h)
    assert not torch.allclose(out, layer.base(x))
    assert not torch.allclose(out[0], layer(x, h.flip(0))[0])  # weights follow the condition


def _trained_like_net() -> VelocityNet:
    """A velocity net with every weight random (the LoRA start would zero the corrections under test)."""
    torch.manual_seed(0)
    net = VelocityNet(NetConfig(dim=12, cond_dim=10, width=16, depth=2, rank=3, hyper_dim=8))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return net


def test_one_sample_path_equals_the_factor_path_in_values_and_gradients():
    """Training (one sample per condition) contracts through the hypernetwork's weights; sampling
    builds per-condition factors. Both must be the same function with the same gradients."""
    net = _trained_like_net()
    x, t, c = torch.randn(7, 1, 12), torch.rand(7), torch.randn(7, 10)
    drop = torch.arange(7) < 2  # some null conditions, so every parameter gets a gradient

    def run(rows: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        net.zero_grad()
        cond_h, cond_x = net.condition(c, drop)
        out = net(x, t, (cond_h, cond_x)) if rows else net.velocity(x, cond_x, net.layer_factors(cond_h, t))
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in net.parameters()]

    (rows_out, rows_grads), (factor_out, factor_grads) = run(True), run(False)
    torch.testing.assert_close(rows_out, factor_out, rtol=1e-5, atol=1e-5)
    for g_rows, g_factors in zip(rows_grads, factor_grads, strict=True):
        torch.testing.assert_close(g_rows, g_factors, rtol=1e-4, atol=1e-4)


def test_the_origin_is_the_network_read_at_zero():
    """The control reads the network at x=0 without computing the first layer's zero products."""
    net = _trained_like_net()
    cond, t = net.condition(torch.randn(5, 10)), torch.zeros(5)
    torch.testing.assert_close(net(None, t, cond), net(torch.zeros(5, 1, 12), t, cond))


def test_pair_builders():
    queries = np.eye(3, dtype=np.float32)
    corpus = np.arange(8, dtype=np.float32).reshape(4, 2)
    pairs = qrel_pairs(queries, {"q0": 0, "q1": 1}, corpus, {"d0": 0, "d3": 3}, {"q0": {"d3": 1, "d0": 0}, "q1": {"dx": 1}})
    np.testing.assert_array_equal(pairs.cond, queries[[0]])
    np.testing.assert_array_equal(pairs.target, corpus[[3]])
    feats = np.arange(10, dtype=np.float32).reshape(5, 2)
    lp = label_pairs(feats, ["a", "a", "b", "b", "c"], per_item=3, seed=0)
    assert len(lp) == 12  # the lone "c" tile has no partner
    for c, t in zip(lp.cond, lp.target, strict=True):
        assert not np.array_equal(c, t) and (c[0] < 4) == (t[0] < 4)
    tp = text_pairs(np.ones((2, 2)), np.array([3, 0]), corpus)
    np.testing.assert_array_equal(tp.target, corpus[[3, 0]])


def test_validation_part_and_epochs_are_capped_for_large_pair_sets(monkeypatch):
    """Large qrels: the held-out part stops at max_val_pairs and an epoch at max_batches_per_epoch."""
    rng = np.random.default_rng(0)
    pairs = Pairs(rng.standard_normal((200, 4)).astype(np.float32), rng.standard_normal((200, 4)).astype(np.float32))
    train_part, val_part = pairs.split(0.25, seed=0, max_val=30)
    assert (len(train_part), len(val_part)) == (170, 30)
    assert len(pairs.split(0.1, seed=0, max_val=30)[1]) == 20  # the fraction still rules below the cap

    losses: list[int] = []
    real_loss = train_module._loss
    monkeypatch.setattr(train_module, "_loss", lambda model, *draws: losses.append(len(draws[0])) or real_loss(model, *draws))
    config = TrainConfig(max_epochs=3, batch_size=8, max_batches_per_epoch=2, val_fraction=0, width=16, hyper_dim=8)
    _, report = train(pairs, "flow", config)
    assert report.epochs == 3 and losses == [8] * 6  # 3 epochs x 2 batches of 8, not 25 batches each
