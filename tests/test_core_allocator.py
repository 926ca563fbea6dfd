"""jaxgeo.core.allocator: the tcmalloc preload decision, and the re-execution in a child."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jaxgeo.core import allocator
from jaxgeo.core.allocator import MARKER_VAR, OPT_OUT_VAR, find_tcmalloc, plan_preload

ROOT = Path(__file__).resolve().parents[1]
_VARS = ("LD_PRELOAD", MARKER_VAR, OPT_OUT_VAR)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return {**env, **extra}


def test_find_tcmalloc_in_fake_search_path(tmp_path):
    empty, full, other = tmp_path / "empty", tmp_path / "full", tmp_path / "other"
    for d in (empty, full, other):
        d.mkdir()
    (full / "libtcmalloc.so.4").write_bytes(b"")
    (other / "libtcmalloc_minimal.so.4").write_bytes(b"")
    # the minimal build is preferred over the full one, whatever directory holds it
    assert find_tcmalloc([str(empty), str(full), str(other)], None) == str(
        other / "libtcmalloc_minimal.so.4")
    assert find_tcmalloc([str(empty), str(full)], None) == str(full / "libtcmalloc.so.4")
    assert find_tcmalloc([str(empty)], None) is None
    # fallback: the soname the ldconfig lookup returns, asked for the minimal build first
    asked = []

    def lookup(name):
        asked.append(name)
        return "libtcmalloc.so.4" if name == "tcmalloc" else None

    assert find_tcmalloc([str(empty)], lookup) == "libtcmalloc.so.4"
    assert asked == ["tcmalloc_minimal", "tcmalloc"]


def test_plan_preload_decisions():
    lib = "/opt/x/libtcmalloc_minimal.so.4"
    assert plan_preload({}, lib, "linux") == lib
    assert plan_preload({"LD_PRELOAD": "/a/libfoo.so"}, lib, "linux") == lib + ":/a/libfoo.so"
    assert plan_preload({OPT_OUT_VAR: "1"}, lib, "linux") == lib   # only "off" values opt out
    for off in ("0", "false", "No", " OFF "):
        assert plan_preload({OPT_OUT_VAR: off}, lib, "linux") is None, off
    assert plan_preload({MARKER_VAR: lib}, lib, "linux") is None   # re-executed: never again
    for preloaded in ("/usr/lib/libtcmalloc.so.4", "/a/libfoo.so:libjemalloc.so.2",
                      "libfoo.so libmimalloc.so"):
        assert plan_preload({"LD_PRELOAD": preloaded}, lib, "linux") is None, preloaded
    assert plan_preload({}, None, "linux") is None
    assert plan_preload({}, lib, "darwin") is None


def test_use_tcmalloc_is_a_no_op_inside_pytest(monkeypatch):
    def refuse(*args):
        raise AssertionError("use_tcmalloc re-executed the test process")

    monkeypatch.setattr(os, "execve", refuse)
    for var in _VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda *a, **k: "/x/libtcmalloc.so.4")
    assert allocator.use_tcmalloc([sys.executable, "script.py"]) is False
    assert "LD_PRELOAD" not in os.environ and MARKER_VAR not in os.environ


def test_import_does_not_import_jax():
    code = "import sys, jaxgeo.core.allocator; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env(), capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.strip() == "False"


_CHILD = textwrap.dedent("""
    import json, os, sys
    from jaxgeo.core import allocator
    if len(sys.argv) > 1:                       # a fake search path for the library
        allocator.search_dirs = lambda: (sys.argv[1],)
    used = allocator.use_tcmalloc()
    with open("/proc/self/maps") as fh:
        mapped = "tcmalloc" in fh.read()
    print(json.dumps({"used": used, "mapped": mapped, "flag_B": sys.flags.dont_write_bytecode,
                      "preload": os.environ.get("LD_PRELOAD"),
                      "marker": os.environ.get(allocator.MARKER_VAR)}))
""")


def _run_child(tmp_path, *args: str, **env: str) -> tuple[dict, str]:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    run = subprocess.run([sys.executable, "-B", str(script), *args], env=_clean_env(**env),
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(run.stdout), run.stderr


def test_reexec_preloads_a_library_from_the_search_path(tmp_path):
    """The whole re-exec path on any glibc Linux: a copy of libm named like tcmalloc is
    found in a fake directory, preloaded, mapped in the child, and the child does not
    re-execute again (it would never finish otherwise; the timeout catches a loop)."""
    libm = [line.split()[-1] for line in open("/proc/self/maps") if "/libm.so" in line]
    assert libm, "this Python is expected to map glibc's libm"
    fake = tmp_path / "lib"
    fake.mkdir()
    shutil.copy(libm[0], fake / "libtcmalloc_minimal.so.4")
    lib = str(fake / "libtcmalloc_minimal.so.4")
    out, err = _run_child(tmp_path, str(fake), LD_PRELOAD="libc.so.6")
    assert out == {"used": True, "mapped": True, "flag_B": 1,   # -B survived the exec
                   "preload": lib + ":libc.so.6", "marker": lib}
    assert err.strip().splitlines() == [
        f"jaxgeo: using tcmalloc ({lib}, LD_PRELOAD) as the C allocator; "
        f"{OPT_OUT_VAR}=0 keeps the system allocator"]
    # opted out: the same set-up leaves the process alone and silent
    out, err = _run_child(tmp_path, str(fake), **{OPT_OUT_VAR: "0"})
    assert out == {"used": False, "mapped": False, "flag_B": 1, "preload": None,
                   "marker": None}
    assert err == ""
    # the marker without the library mapped: no re-exec (no loop), one line saying so
    out, err = _run_child(tmp_path, str(fake), **{MARKER_VAR: lib})
    assert out["used"] is False and out["mapped"] is False and out["preload"] is None
    assert "failed" in err


def test_real_tcmalloc_in_an_entry_script(tmp_path):
    """With this machine's tcmalloc (``apt-get install libtcmalloc-minimal4``) the child is
    re-executed with it mapped; without it, the child runs unchanged and silent."""
    installed = find_tcmalloc()
    out, err = _run_child(tmp_path)
    if installed:
        assert out["used"] and out["mapped"] and out["preload"] == installed, out
        assert err.startswith(f"jaxgeo: using tcmalloc ({installed}"), err
    else:
        assert out == {"used": False, "mapped": False, "flag_B": 1, "preload": None,
                       "marker": None}
        assert err == ""
    # an entry script: --help prints the one allocator line first exactly when installed
    run = subprocess.run([sys.executable, str(ROOT / "experiments" / "fwi.py"), "--help"],
                         env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "usage: fwi.py" in run.stdout
    assert run.stderr.startswith("jaxgeo: using tcmalloc") == bool(installed), run.stderr


@pytest.mark.parametrize("script", ["fwi.py", "codingfwi.py", "seismic.py", "demo.py"])
def test_entry_scripts_call_it_before_any_other_jaxgeo_import(script):
    lines = (ROOT / "experiments" / script).read_text().splitlines()
    first_jaxgeo = next(i for i, line in enumerate(lines)
                        if "from jaxgeo" in line or "import jaxgeo" in line
                        or line.startswith(("from fwi", "import fwi")))
    assert lines[first_jaxgeo].startswith("from jaxgeo.core.allocator import use_tcmalloc")
    assert lines[first_jaxgeo + 2:first_jaxgeo + 4] == ['if __name__ == "__main__":',
                                                          "    use_tcmalloc()"]
