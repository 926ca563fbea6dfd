"""Flax PhaseNet / EQTransformer against SeisBench's PyTorch models (independent reference)."""

import jax.numpy as jnp  # noqa: E402
import numpy as np
import pytest
import seisbench.models as sbm  # noqa: E402
import torch  # noqa: E402
from torch_models import randomise  # noqa: E402

from jaxgeo.seismic.convert import (  # noqa: E402
    count_params,
    from_seisbench,
    to_seisbench_state_dict,
)

torch.set_num_threads(2)

# float32 on both sides, different summation orders (XLA vs oneDNN): the bound.
ATOL = 1e-5


def _waveforms(batch: int, channels: int, samples: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 3.0 * torch.randn(batch, channels, samples, generator=gen) + 0.7


def _to_channels_last(x: torch.Tensor) -> jnp.ndarray:
    return jnp.asarray(x.numpy().transpose(0, 2, 1))


@pytest.mark.parametrize("filter_factor,norm", [(1, "std"), (1, "peak"), (2, "std"), (3, "peak")])
def test_phasenet_matches_seisbench(filter_factor, norm):
    torch.manual_seed(filter_factor)
    ref = sbm.PhaseNet(filter_factor=filter_factor, norm=norm)
    randomise(ref, seed=filter_factor)
    x = _waveforms(2, 3, 3001, seed=10 + filter_factor)
    with torch.no_grad():
        x_pre = ref.annotate_batch_pre(x.clone(), {})
        want_prob = ref(x_pre).numpy()
        want_logits = ref(x_pre, logits=True).numpy()

    module, variables = from_seisbench(ref)
    assert module.filter_factor == filter_factor and module.norm == norm
    assert count_params(variables) == sum(p.numel() for p in ref.parameters())

    xj = _to_channels_last(x)
    got_pre = module.apply(variables, xj, method=module.preprocess)
    np.testing.assert_allclose(np.asarray(got_pre).transpose(0, 2, 1), x_pre.numpy(), atol=ATOL)
    got_prob = np.asarray(module.apply(variables, got_pre)).transpose(0, 2, 1)
    got_logits = np.asarray(module.apply(variables, got_pre, logits=True)).transpose(0, 2, 1)
    assert np.abs(got_prob - want_prob).max() <= ATOL
    # Logits are unbounded (not in [0, 1]): the same 1e-5 bound, relative to their magnitude.
    assert np.abs(got_logits - want_logits).max() <= ATOL * max(1.0, np.abs(want_logits).max())


def test_phasenet_weight_pair_and_state_dict_round_trip(tmp_path):
    torch.manual_seed(5)
    ref = sbm.PhaseNet(filter_factor=2, norm="peak")
    randomise(ref, seed=5)
    ref.save(tmp_path / "mypicker", version_str="3")  # writes mypicker.pt.v3 + mypicker.json.v3
    assert (tmp_path / "mypicker.pt.v3").is_file() and (tmp_path / "mypicker.json.v3").is_file()

    module, variables = from_seisbench(tmp_path / "mypicker.pt.v3")
    # SeisBench's json omits filter_factor: it must be recovered from the weight shapes.
    assert module.filter_factor == 2 and module.norm == "peak"

    x = _waveforms(2, 3, 3001, seed=6)
    with torch.no_grad():
        want = ref(ref.annotate_batch_pre(x.clone(), {})).numpy()
    xj = module.apply(variables, _to_channels_last(x), method=module.preprocess)
    flax_out = np.asarray(module.apply(variables, xj))
    assert np.abs(flax_out.transpose(0, 2, 1) - want).max() <= ATOL

    back = sbm.PhaseNet(filter_factor=2, norm="peak")
    back.load_state_dict(to_seisbench_state_dict(variables), strict=True)
    back.eval()
    with torch.no_grad():
        again = back(torch.from_numpy(np.asarray(xj).transpose(0, 2, 1).copy())).numpy()
    assert np.abs(again - flax_out.transpose(0, 2, 1)).max() <= ATOL


def test_phasenet_rejects_wrong_layout():
    ref = sbm.PhaseNet()
    module, variables = from_seisbench(ref)
    with pytest.raises(ValueError, match="channels-last"):
        module.apply(variables, jnp.zeros((1, 3, 3001)))


def test_eqtransformer_matches_seisbench(tmp_path):
    torch.manual_seed(0)
    ref = sbm.EQTransformer()
    randomise(ref, seed=1)
    x = _waveforms(2, 3, 6000, seed=2)
    with torch.no_grad():
        x_pre = ref.annotate_batch_pre(x.clone(), {})
        want = [y.numpy() for y in ref(x_pre)]
        want_logits = [y.numpy() for y in ref(x_pre, logits=True)]

    module, variables = from_seisbench(ref)
    assert count_params(variables) == sum(p.numel() for p in ref.parameters())
    got_pre = module.apply(variables, _to_channels_last(x), method=module.preprocess)
    np.testing.assert_allclose(np.asarray(got_pre).transpose(0, 2, 1), x_pre.numpy(), atol=ATOL)
    got = module.apply(variables, got_pre)
    got_logits = module.apply(variables, got_pre, logits=True)
    assert len(got) == 3 and got[0].shape == (2, 6000)
    for g, w in zip(got, want, strict=True):
        assert np.abs(np.asarray(g) - w).max() <= ATOL
    for g, w in zip(got_logits, want_logits, strict=True):
        assert np.abs(np.asarray(g) - w).max() <= ATOL

    # Same weights through a local weight pair written by SeisBench itself.
    ref.save(tmp_path / "eqt", version_str="1")
    module2, variables2 = from_seisbench(tmp_path / "eqt.json.v1")
    got2 = module2.apply(variables2, got_pre)
    for g, w in zip(got2, want, strict=True):
        assert np.abs(np.asarray(g) - w).max() <= ATOL


def test_missing_weight_pair_is_reported(tmp_path):
    (tmp_path / "lonely.pt.v1").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="lonely.json.v1"):
        from_seisbench(tmp_path / "lonely.pt.v1")
