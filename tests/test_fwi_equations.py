"""FWI with the viscoacoustic and VTI propagators (config.equation), and their checks."""

import numpy as np
import pytest
from test_fwi_seistorch import CONFIG_YML, seistorch_folder
from test_fwi_workflow import tiny_config  # tests/ is on sys.path (rootdir-less import)

import jaxgeo.wave as wave
from jaxgeo.core.config import ConfigError
from jaxgeo.fwi import config as fwi_config
from jaxgeo.fwi import setup, workflow
from jaxgeo.fwi.config import validate
from jaxgeo.wave.viscoacoustic import source_band


@pytest.mark.parametrize("equation", ["viscoacoustic", "vti"])
def test_forward_and_inversion_with_the_equation(tmp_path, equation):
    """The workflow's data are the propagator's on the true model (the Q band and reference
    frequency fixed from the unfiltered wavelet), and two epochs of vp inversion lower the
    model error from the start's."""
    config = tiny_config(tmp_path, mode="forward", equation=equation, dt=0.003)
    observed = workflow.run_forward(config)
    problem = setup.build_problem(config, need_true=True)
    true = problem.true_model
    kw = dict(order=4, pml_width=6, pml_freq=config.wavelet.freq)
    args = (problem.settings.spacing, config.dt, problem.source_amplitudes(),
            problem.source_locations, problem.receiver_locations)
    if equation == "viscoacoustic":
        band = tuple(float(f) for f in source_band(problem.wavelet[None, None], config.dt))
        direct = wave.viscoacoustic(true["vp"], true["q"], *args, q_band=band,
                                    reference_freq=config.wavelet.freq, **kw)
    else:
        direct = wave.vti(true["vp"], true["epsilon"], true["delta"], *args, **kw)
    np.testing.assert_allclose(observed[:, 0], np.asarray(direct), rtol=0,
                               atol=1e-5 * float(np.abs(direct).max()))  # float32 rounding
    start = float(np.sqrt(np.mean((problem.init_model["vp"] - true["vp"]) ** 2)))
    result = workflow.invert(tiny_config(tmp_path, equation=equation, dt=0.003,
                                         **{"training.epochs": 2}))
    assert result.model_error[-1] < 0.97 * start


def test_vti_checks_stop_before_compute(tmp_path):
    config = tiny_config(tmp_path, mode="forward", equation="vti")
    config.model.invert = ("epsilon", "delta")
    config.optim.lr = {"epsilon": 0.01, "delta": 0.01}
    with pytest.raises(ConfigError, match="epsilon >= delta"):
        validate(config)
    config = tiny_config(tmp_path, mode="forward", equation="vti",
                         **{"model.procedural.epsilon": 0.0, "model.procedural.delta": 0.1})
    with pytest.raises(ValueError, match="epsilon must be >= delta"):
        setup.build_problem(config, need_true=True)
    assert not (tmp_path / "observed.h5").exists()


def test_cfl_uses_the_fastest_wave_of_the_equation(tmp_path):
    """At 0.98 of the staggered limit for vp's upper bound, an isotropic VTI model inverting
    vp is stable; inverting epsilon (upper bound 0.5: sqrt(2) faster horizontally) is not,
    nor a viscoacoustic model at Q = 2 (its unrelaxed velocity exceeds vp)."""
    from jaxgeo.wave.checks import max_stable_dt
    dt = 0.98 * max_stable_dt(2800.0, (20.0, 20.0), 4, staggered=True)
    flat = {"model.procedural.epsilon": 0.0, "model.procedural.delta": 0.0}
    setup.build_problem(tiny_config(tmp_path, equation="vti", dt=dt, **flat))
    vti = tiny_config(tmp_path, equation="vti", dt=dt, **flat)
    vti.model.invert = ("vp", "epsilon")
    vti.optim.lr = {"vp": 20.0, "epsilon": 0.01}
    with pytest.raises(ValueError, match="horizontal velocity"):
        setup.build_problem(vti)
    visco = tiny_config(tmp_path, mode="forward", equation="viscoacoustic", dt=dt,
                        **{"model.procedural.q": 2.0})
    with pytest.raises(ValueError, match="unrelaxed velocity"):
        setup.build_problem(visco, need_true=True)


def test_seistorch_equation_names_and_parameters(tmp_path):
    """Seistorch's vti (eps, delta models) and vacoustic (Q) configs map onto the new
    equations; a Q model with the acoustic equation is refused naming the key."""
    yml = CONFIG_YML.replace("equation: acoustic", "equation: vti").replace(
        "initPath: {vp: ./velocity_model/init.npy, vs: , rho: , Q: }",
        "initPath: {vp: ./velocity_model/init.npy, eps: ./e.npy, delta: ./d.npy}").replace(
        "invlist: {vp: true, vs: , rho: , q: }", "invlist: {vp: false, eps: true}")
    path = seistorch_folder(tmp_path / "vti", yml)
    c = fwi_config.parse_args([str(path)])
    assert c.equation == "vti" and c.model.invert == ("epsilon",)
    assert c.model.init["epsilon"] == str((path.parent / "e.npy").resolve())
    assert c.model.init["delta"] == str((path.parent / "d.npy").resolve())
    yml = CONFIG_YML.replace("equation: acoustic", "equation: vacoustic").replace(
        "Q: }", "Q: ./q.npy}").replace("q: }", "Q: true}")
    c = fwi_config.parse_args([str(seistorch_folder(tmp_path / "visco", yml))])
    assert c.equation == "viscoacoustic" and c.model.invert == ("vp", "q")
    assert c.model.true["q"].endswith("q.npy") and c.model.init["q"].endswith("q.npy")
    yml = CONFIG_YML.replace("Q: }", "Q: ./q.npy}", 1)
    with pytest.raises(ConfigError, match=r"geom\.truePath\.Q.*equation: viscoacoustic"):
        fwi_config.parse_args([str(seistorch_folder(tmp_path / "acoustic", yml))])
