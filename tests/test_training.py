"""Training loop: it learns an easy coupling, is reproducible, and the probe neither perturbs nor misses steps."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from rfpipe.couplings import PairSampler
from rfpipe.interpolants import Interpolant
from rfpipe.models import MLP
from rfpipe.training import TrainConfig, draw_batch, train

SHIFT = torch.tensor([3.0, -2.0])


def _translation_sampler(n=64, seed=0):
    x_0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    return PairSampler(x_0, x_0 + SHIFT, "paired")


def _model(seed=0, width=16):
    torch.manual_seed(seed)
    return MLP(2, width=width, depth=2)


def _eval_loss(model, sampler, interpolant, seed=123):
    batch = draw_batch(sampler, interpolant, 512, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return float(((model(batch.x_t, batch.t) - batch.dx_t) ** 2).sum(1).mean())


def test_loss_decreases_on_translation_coupling():
    """sigma = 0, x_1 = x_0 + c: the target is the constant c; 300 Adam steps cut the loss by > 100x."""
    sampler, ip = _translation_sampler(), Interpolant(0.0)
    model = _model()
    before = _eval_loss(model, sampler, ip)
    cfg = TrainConfig(steps=300, batch_size=64, lr=1e-2, probe_every=0)
    res = train(model, sampler, ip, cfg, seed=0)
    after = _eval_loss(model, sampler, ip)
    assert before > 5.0  # ||c||^2 = 13 minus whatever the random init happens to get right
    assert after < before / 100
    assert res.final_loss < before / 100
    assert res.probes == []
    # every step's batch loss is kept (the convergence criterion's input): 300 of them, the last the final loss
    assert len(res.losses) == 300 and res.losses[-1] == res.final_loss and res.losses[0] > 5.0


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


def _same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def _rows_equal(r1, r2):
    """Probe rows equal, counting NaN == NaN and inf == inf."""
    if len(r1) != len(r2):
        return False
    for a, b in zip(r1, r2):
        if a.keys() != b.keys():
            return False
        for k in a:
            if a[k] != b[k] and not (a[k] != a[k] and b[k] != b[k]):
                return False
    return True


@pytest.mark.parametrize("sigma,noise", [(0.0, "constant"), (0.05, "brownian")])
def test_same_seed_bit_identical(sigma, noise):
    """Same seed and init: bit-identical weights and probe rows; a different seed gives different weights."""
    sampler, ip = _translation_sampler(), Interpolant(sigma, noise)
    cfg = TrainConfig(steps=20, batch_size=16, lr=1e-2, probe_every=10, probe_size=8, t_bins=2)
    runs = []
    for seed in (0, 0, 1):
        model = _model()
        res = train(model, sampler, ip, cfg, seed=seed)
        runs.append((_weights(model), res.probes, res.final_loss))
    assert _same(runs[0][0], runs[1][0])
    assert _rows_equal(runs[0][1], runs[1][1]) and runs[0][2] == runs[1][2]
    assert not _same(runs[0][0], runs[2][0])


@pytest.mark.parametrize("schedule,probe_batch", [("cosine", "train"), ("constant", "fresh")])
def test_lean_adam_step_equals_opt_step(monkeypatch, schedule, probe_batch):
    """The loop's lean Adam step (``training._AdamStep``, kept for its +11.6 to +13 % on the default rotation cell:
    benchmarks/adam_step.py) trains bit for bit the weights, probe rows and loss of ``opt.zero_grad(set_to_none=True)``
    / ``opt.step()``, and it does engage on the installed torch (else it silently fell back to ``opt.step()``)."""
    from torch.optim import adam

    from rfpipe import training

    engaged = []

    class Watched(training._AdamStep):
        def step(self):
            super().step()
            engaged.append(self.params is not None)

    class Plain:
        def __init__(self, opt):
            self.zero_grad, self.step = lambda: opt.zero_grad(set_to_none=True), opt.step

    g = torch.Generator().manual_seed(0)
    x_0 = torch.randn(256, 2, generator=g)
    sampler = PairSampler(x_0, 5 - x_0, "paired")
    cfg = TrainConfig(steps=40, batch_size=64, lr=3e-3, probe_every=10, probe_size=32, t_bins=4, lr_schedule=schedule,
                      probe_batch=probe_batch)
    runs = []
    for step_class in (Plain, Watched):
        monkeypatch.setattr(training, "_AdamStep", step_class)
        model = _model(width=32)
        res = train(model, sampler, Interpolant(0.05), cfg, seed=2)
        runs.append((_weights(model), res.probes, res.final_loss))
    assert _same(runs[0][0], runs[1][0])
    assert _rows_equal(runs[0][1], runs[1][1]) and runs[0][2] == runs[1][2]
    if "decoupled_weight_decay" not in inspect.signature(adam.adam).parameters:
        pytest.skip(f"torch {torch.__version__}: the lean step falls back to opt.step() (an older functional adam)")
    assert engaged == [True] * cfg.steps, ("the lean Adam step no longer engages on this torch: re-measure with "
                                           "benchmarks/adam_step.py, then adapt or remove training._AdamStep")


@pytest.mark.parametrize("probe_batch", ["train", "fresh"])
@pytest.mark.parametrize("sigma", [0.0, 0.05])
@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_probe_does_not_change_training(sigma, schedule, probe_batch):
    """probe_every = 0 and probe_every = 3 give bit-identical final weights: a ``train`` probe reads the step's own
    batch and draws nothing; a ``fresh`` probe draws from its own generator, never the training one."""
    sampler, ip = _translation_sampler(), Interpolant(sigma)
    finals = []
    for every in (0, 3):
        model = _model()
        cfg = TrainConfig(steps=10, batch_size=16, lr=1e-2, probe_every=every, probe_size=8, t_bins=2,
                          lr_schedule=schedule, probe_batch=probe_batch)
        res = train(model, sampler, ip, cfg, seed=4)
        finals.append((_weights(model), res.final_loss))
        assert (len(res.probes) > 0) == (every > 0)
    assert _same(finals[0][0], finals[1][0]) and finals[0][1] == finals[1][1]


def test_probe_does_not_consume_global_rng():
    """Training draws from its own generators: the global torch RNG state is the same before and after."""
    sampler, ip = _translation_sampler(), Interpolant(0.05)
    model = _model()
    state = torch.get_rng_state()
    train(model, sampler, ip, TrainConfig(steps=4, batch_size=8, probe_every=2, probe_size=8, t_bins=2), seed=0)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("steps,every,expected", [(20, 5, [0, 5, 10, 15, 20]), (7, 3, [0, 3, 6, 7]),
                                                  (4, 10, [0, 4]), (3, 1, [0, 1, 2, 3])])
def test_probe_steps(steps, every, expected):
    """Fresh probes run at steps 0, k, 2k, ... and at the final step (once), with 1 + t_bins rows each."""
    sampler, ip = _translation_sampler(), Interpolant(0.0)
    seen = []
    cfg = TrainConfig(steps=steps, batch_size=8, probe_every=every, probe_size=12, t_bins=3, probe_batch="fresh")
    res = train(_model(), sampler, ip, cfg, seed=0, on_probe=seen.append)
    assert seen == expected
    probe_steps = sorted({r["step"] for r in res.probes})
    assert probe_steps == expected
    for step in expected:
        rows = [r for r in res.probes if r["step"] == step]
        # Stratified times t_i = (i + u_i) / 12 put exactly 4 samples in each of the 3 t-bins.
        assert [r["t_bin"] for r in rows] == [None, 0, 1, 2]
        assert [r["n"] for r in rows] == [12, 4, 4, 4]


def test_probe_rows_have_all_fields():
    """Each probe row holds the step and every GradVarStats field."""
    cfg = TrainConfig(steps=2, batch_size=8, probe_every=1, probe_size=4, t_bins=2)
    res = train(_model(), _translation_sampler(), Interpolant(0.0), cfg, seed=0)
    assert set(res.probes[0]) == {"step", "t_bin", "t_low", "t_high", "n", "loss", "grad_var_trace",
                                  "grad_mean_sqnorm", "grad_var_ratio"}


def test_unknown_schedule_raises():
    """An unknown learning-rate schedule is rejected."""
    with pytest.raises(ValueError):
        train(_model(), _translation_sampler(), Interpolant(0.0),
              dataclasses.replace(TrainConfig(steps=1, batch_size=4, probe_every=0), lr_schedule="step"), seed=0)


def test_draw_batch_stratified_times():
    """stratified=True puts t_i in [i/B, (i+1)/B); plain times are in [0, 1); shapes follow the batch size."""
    sampler = _translation_sampler()
    b = draw_batch(sampler, Interpolant(0.05), 10, torch.Generator().manual_seed(0), stratified=True)
    i = torch.arange(10)
    assert ((b.t >= i / 10) & (b.t < (i + 1) / 10)).all()
    assert b.x_t.shape == (10, 2) and b.dx_t.shape == (10, 2)
    b = draw_batch(sampler, Interpolant(0.0), 500, torch.Generator().manual_seed(0))
    assert ((b.t >= 0) & (b.t < 1)).all()
    # Paired translation coupling, sigma = 0: every target is the shift.
    torch.testing.assert_close(b.dx_t, SHIFT.expand(500, 2), rtol=0, atol=1e-5)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", [10, 30, 70])
@pytest.mark.parametrize("schedule,probe_batch", [("constant", "fresh"), ("cosine", "fresh"), ("cosine", "train")])
def test_resume_after_crash_equals_uninterrupted(tmp_path, crash_at, schedule, probe_batch):
    """A run stopped mid-way and restarted from its checkpoint ends with the same weights and the same probe
    rows (no duplicated, no missing steps) as an uninterrupted run."""
    from rfpipe.couplings import PairSampler
    from rfpipe.interpolants import Interpolant
    from rfpipe.models import MLP
    from rfpipe.training import TrainConfig, train

    g = torch.Generator().manual_seed(0)
    x_0 = torch.randn(64, 2, generator=g)
    sampler = PairSampler(x_0, 5 - x_0, "paired")
    config = TrainConfig(steps=80, batch_size=32, probe_every=10, probe_size=16, t_bins=2, lr_schedule=schedule,
                         probe_batch=probe_batch)

    def fresh():
        torch.manual_seed(1)
        return MLP(2, 16, 2)

    ref_model = fresh()
    ref = train(ref_model, sampler, Interpolant(0.05), config, seed=3)

    def crash(step):
        if step == crash_at:
            raise _Crash

    ckpt = tmp_path / "state.pt"
    with pytest.raises(_Crash):
        train(fresh(), sampler, Interpolant(0.05), config, seed=3, on_probe=crash, checkpoint=ckpt,
              checkpoint_every=15, tag="a")
    assert ckpt.exists() == (crash_at > 15)  # the first checkpoint is written at step 15
    model = fresh()
    out = train(model, sampler, Interpolant(0.05), config, seed=3, checkpoint=ckpt, checkpoint_every=15, tag="a")
    assert out.probes == ref.probes
    assert out.losses == ref.losses  # the loss of every step, those before the crash restored from the checkpoint
    # probes before the updates of steps 0, 10, ..., 70, and a fresh one after the last update
    assert [r["step"] for r in out.probes if r["t_bin"] is None] == \
        list(range(0, 71 if probe_batch == "train" else 81, 10))
    for a, b in zip(model.state_dict().values(), ref_model.state_dict().values()):
        assert torch.equal(a, b)


def test_unreadable_or_foreign_checkpoint_is_ignored(tmp_path):
    """A truncated checkpoint or one with another tag is not reused: training starts afresh."""
    from rfpipe.couplings import PairSampler
    from rfpipe.interpolants import Interpolant
    from rfpipe.models import MLP
    from rfpipe.training import TrainConfig, train

    x_0 = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    sampler = PairSampler(x_0, x_0 + 1, "paired")
    config = TrainConfig(steps=20, batch_size=8, probe_every=0)
    torch.manual_seed(1)
    ref_model = MLP(2, 8, 1)
    train(ref_model, sampler, Interpolant(0.0), config, seed=0)
    ckpt = tmp_path / "state.pt"
    ckpt.write_bytes(b"PK\x03\x04 truncated")
    for content in (b"PK\x03\x04 truncated", None):
        if content is None:  # a valid checkpoint of other settings
            torch.manual_seed(1)
            train(MLP(2, 8, 1), sampler, Interpolant(0.0), TrainConfig(steps=12, batch_size=8, probe_every=0),
                  seed=0, checkpoint=ckpt, checkpoint_every=5, tag="other")
        torch.manual_seed(1)
        model = MLP(2, 8, 1)
        train(model, sampler, Interpolant(0.0), config, seed=0, checkpoint=ckpt, checkpoint_every=0, tag="mine")
        for a, b in zip(model.state_dict().values(), ref_model.state_dict().values()):
            assert torch.equal(a, b)


@pytest.mark.parametrize("time_conditioning", ["input", "scale"])
def test_probe_on_the_training_batch(time_conditioning):
    """probe_batch="train" reads the step's own batch: its rows equal grad_variance on that batch at the
    pre-update weights, and the trained weights equal those of a run without probe (the MLP with either time
    conditioning)."""
    from rfpipe.couplings import PairSampler
    from rfpipe.gradvar import grad_variance
    from rfpipe.interpolants import Interpolant
    from rfpipe.models import MLP
    from rfpipe.training import TrainConfig, draw_batch, train

    x_0 = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    sampler = PairSampler(x_0, 5 - x_0, "paired")
    interp = Interpolant(0.05)

    def fresh():
        torch.manual_seed(2)
        return MLP(2, 16, 2, time_features=3, time_conditioning=time_conditioning)

    config = TrainConfig(steps=30, batch_size=48, probe_every=10, t_bins=3, probe_batch="train")
    model = fresh()
    out = train(model, sampler, interp, config, seed=4)
    assert sorted({r["step"] for r in out.probes}) == [0, 10, 20]
    plain = fresh()
    train(plain, sampler, interp, TrainConfig(steps=30, batch_size=48, probe_every=0), seed=4)
    for a, b in zip(model.state_dict().values(), plain.state_dict().values()):
        assert torch.equal(a, b)
    # Step 0's rows: the first training batch at the initial weights.
    batch = draw_batch(sampler, interp, 48, torch.Generator().manual_seed(4))
    ref = grad_variance(fresh(), batch, 3)
    rows = [r for r in out.probes if r["step"] == 0]
    assert len(rows) == len(ref)
    for row, s in zip(rows, ref):
        assert row["t_bin"] == s.t_bin and row["n"] == s.n
        assert row["grad_var_trace"] == pytest.approx(s.grad_var_trace, rel=1e-4)
        assert row["grad_mean_sqnorm"] == pytest.approx(s.grad_mean_sqnorm, rel=1e-4)


def _run_steps(steps, ema_decay=0.0, seed=0, checkpoint=None, checkpoint_every=0):
    model = _model(seed, width=8)
    cfg = TrainConfig(steps=steps, batch_size=16, lr=1e-2, probe_every=0, ema_decay=ema_decay)
    train(model, _translation_sampler(), Interpolant(0.05), cfg, seed=seed, checkpoint=checkpoint,
          checkpoint_every=checkpoint_every)
    return _weights(model)


def test_ema_closed_form():
    """With constant lr the first k steps of a longer run are a k-step run, so the weights w_1..w_K are known;
    w_ema = d^K w_0 + (1 - d) sum_{k=1..K} d^(K-k) w_k."""
    d, steps = 0.6, 4
    path = [_weights(_model(0, width=8))] + [_run_steps(k) for k in range(1, steps + 1)]
    expected = [d ** steps * w0 for w0 in path[0]]
    for k in range(1, steps + 1):
        expected = [e + (1 - d) * d ** (steps - k) * w for e, w in zip(expected, path[k])]
    got = _run_steps(steps, ema_decay=d)
    assert all(torch.allclose(g, e, atol=1e-6) for g, e in zip(got, expected))
    assert not _same(got, path[-1])


def test_ema_resume_is_bit_identical(tmp_path):
    """A run stopped after its step-4 checkpoint and resumed ends with the same EMA weights, bit for bit."""
    whole = _run_steps(8, ema_decay=0.9)
    ckpt = tmp_path / "state.pt"
    _run_steps(5, ema_decay=0.9, checkpoint=ckpt, checkpoint_every=4)  # leaves the step-4 state (a "crash")
    from rfpipe.io import load_tensors

    state = load_tensors(ckpt)
    assert state["step"] == 4 and state["ema"] is not None
    # resume under the 8-step settings: the tag is empty in both, so the checkpoint is taken
    resumed = _run_steps(8, ema_decay=0.9, checkpoint=ckpt, checkpoint_every=4)
    assert _same(resumed, whole)


def test_ema_decay_out_of_range():
    with pytest.raises(ValueError, match="ema_decay"):
        _run_steps(2, ema_decay=1.0)


@pytest.mark.parametrize("probe_batch", ["train", "fresh"])
def test_snapshots_do_not_change_training_and_come_at_their_steps(tmp_path, probe_batch):
    """The memorisation timeline evaluates the model after k updates for each k asked for (in eval mode, under
    no gradient); the weights, probes and losses equal those of a run without it, and a run resumed from a
    checkpoint gives the same timeline rows."""
    from rfpipe.evaluation import snapshot_steps

    sampler, ip = _translation_sampler(), Interpolant(0.05)
    cfg = TrainConfig(steps=40, batch_size=32, lr=1e-2, probe_every=10, probe_size=16, t_bins=2,
                      probe_batch=probe_batch)
    seen = []

    def on_snapshot(k, model):
        seen.append((k, model.training, torch.is_grad_enabled()))
        return [{"step": k, "w": float(next(model.parameters()).sum())}]

    plain, timed = _model(), _model()
    ref = train(plain, sampler, ip, cfg, seed=3)
    out = train(timed, sampler, ip, cfg, seed=3, on_snapshot=on_snapshot, snapshots=snapshot_steps(40, 5))
    assert snapshot_steps(40, 5) == [5, 10, 20, 40] and snapshot_steps(40, 0) == []
    assert [k for k, _, _ in seen] == [5, 10, 20, 40] and not any(training for _, training, _ in seen)
    assert _same(_weights(plain), _weights(timed)) and out.probes == ref.probes and out.losses == ref.losses
    ckpt = tmp_path / "state.pt"
    crashed = _model()

    class Crash(Exception):
        pass

    def crash_at_20(k, model):
        if k == 20:
            raise Crash
        return on_snapshot(k, model)

    with pytest.raises(Crash):
        train(crashed, sampler, ip, cfg, seed=3, on_snapshot=crash_at_20, snapshots=[5, 10, 20, 40],
              checkpoint=ckpt, checkpoint_every=10, tag="t")
    again = _model()
    resumed = train(again, sampler, ip, cfg, seed=3, on_snapshot=on_snapshot, snapshots=[5, 10, 20, 40],
                    checkpoint=ckpt, checkpoint_every=10, tag="t")
    assert resumed.timeline == out.timeline and _same(_weights(again), _weights(timed))


# --- The pairs on the device once per cell; bf16 autocast -------------------------------------------------

def test_resident_pairs_only_off_the_cpu_and_where_they_fit():
    """On the CPU nothing moves; on another device the pairs move once when they take at most a quarter of its
    memory (a 'meta' device stands in for a GPU: shapes and devices, no values)."""
    from rfpipe.training import RESIDENT_FRACTION, resident

    sampler = _translation_sampler(n=64)
    assert sampler.nbytes == 2 * 64 * 2 * 4
    assert resident(sampler, torch.device("cpu")) is None
    meta = torch.device("meta")
    fits = resident(sampler, meta, memory=int(sampler.nbytes / RESIDENT_FRACTION))
    assert fits is not None and fits.x_0.device.type == "meta" and fits.coupling == sampler.coupling
    assert resident(sampler, meta, memory=int(sampler.nbytes / RESIDENT_FRACTION) - 1) is None


@pytest.mark.parametrize("sigma", [0.0, 0.05])
@pytest.mark.parametrize("coupling", ["paired", "independent"])
def test_batches_from_resident_pairs_draw_the_same_random_numbers(sigma, coupling):
    """A batch gathered from pairs on another device is made there (pairs, times, noise all on that device) from
    the very random numbers the CPU batch uses: both generators end in the same state."""
    x_0 = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
    cpu = PairSampler(x_0, x_0 + 1.0, coupling)
    on_meta = cpu.to("meta")
    g_cpu, g_meta = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = draw_batch(cpu, Interpolant(sigma), 16, g_cpu)
    b = draw_batch(on_meta, Interpolant(sigma), 16, g_meta)
    assert {b.x_t.device.type, b.dx_t.device.type, b.t.device.type} == {"meta"}
    assert (b.x_t.shape, b.t.shape) == (a.x_t.shape, a.t.shape)
    assert torch.equal(g_cpu.get_state(), g_meta.get_state())


def test_bf16_autocast_trains_in_bfloat16_with_float32_weights():
    """autocast bf16: the network's forward runs in bfloat16 (its losses differ from float32's in every run, by
    about bfloat16's precision), the weights stay float32, and it still learns the translation field."""
    sampler, ip = _translation_sampler(), Interpolant(0.0)
    cfg = TrainConfig(steps=200, batch_size=64, lr=1e-2, probe_every=0)
    runs = {}
    for autocast in ("none", "bf16"):
        model = _model()
        runs[autocast] = (train(model, sampler, ip, dataclasses.replace(cfg, autocast=autocast), seed=0), model)
    (plain, _), (mixed, model) = runs["none"], runs["bf16"]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    first = abs(mixed.losses[0] - plain.losses[0]) / plain.losses[0]
    assert 1e-5 < first < 2e-2  # bfloat16 has 8 bits of mantissa: a relative error near 2^-8, not 0
    assert _eval_loss(model, sampler, ip) < 0.01 * plain.losses[0]
    with pytest.raises(ValueError, match="autocast must be 'none' or 'bf16'"):
        train(_model(), sampler, ip, dataclasses.replace(cfg, autocast="fp16"), seed=0)
