"""Options on the command line: every flag and ``--option`` goes through the method's declaration.

Each bad value exits 2 naming the option (never a traceback, exit 4 or exit 0), in ``solve``,
``compare``, ``sweep`` (``--option METHOD:KEY=VALUE``), ``equilibria`` and ``bench verify``; Hypothesis
draws the values from every built-in method's declared types and ranges. Refused values never reach the
instance (validation runs first), so these tests run in-process and fast.
"""

from __future__ import annotations

import contextlib
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from methods.test_options import CASES, IDS, invalid_values, valid_values  # tests/methods: the declared options

from mecopt.cli import main
from mecopt.cli.commands.solve import method_options
from mecopt.methods import registry

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

FIG6 = "paper:fig6-w1khz"
PROPERTY = settings(max_examples=10, deadline=None, database=None, derandomize=True)


def run(*argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``mecopt ARGV`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def as_text(value) -> str:
    return "none" if value is None else str(value)


def refused(code: int, err: str, name: str, method: str | None = None) -> bool:
    owner = f" of method {method!r}" if method else ""
    return code == 2 and "Traceback" not in err and re.search(f"The '{name}' option{owner}", err) is not None


ISSUE = [
    (("solve", FIG6, "-m", "gtpos", "--option", "time_limit=abc"), "time_limit"),
    (("solve", FIG6, "-m", "gtpos", "--option", "mip_rel_gap=abc"), "mip_rel_gap"),
    (("solve", FIG6, "-m", "gtpos", "--option", "threads=abc"), "threads"),
    (("solve", FIG6, "-m", "tpos-cai", "--option", "max_iter=abc"), "max_iter"),
    (("solve", FIG6, "-m", "tpos-cai", "--option", "seed=-1"), "seed"),
    (("solve", FIG6, "-m", "gtpos", "--option", "mip_rel_gap=-1"), "mip_rel_gap"),
    (("solve", FIG6, "-m", "gtpos", "--option", "threads=0"), "threads"),
    (("solve", FIG6, "-m", "gtpos", "--option", "canonical=maybe"), "canonical"),
    (("solve", FIG6, "-m", "tpos-cai", "--eps", "nan"), "eps"),
    (("solve", FIG6, "-m", "gtpos", "--time-limit", "nan"), "time_limit"),
    (("solve", FIG6, "-m", "gtpos", "--option", "time_limit=-1"), "time_limit"),
    (("solve", FIG6, "-m", "tpos-cai", "--option", "engin=dp"), "engin"),
    (("equilibria", FIG6, "--time-limit", "nan"), "time_limit"),
    (("bench", "verify", "--time-limit", "nan"), "time_limit"),
    (("compare", FIG6, "--time-limit", "nan"), "time_limit"),
    (("compare", FIG6, "--seed", "-1"), "seed"),
    (("compare", FIG6, "--option", "engin=dp"), "engin"),
    (("compare", FIG6, "--option", "gtpos:threads=0"), "threads"),
]


@pytest.mark.parametrize(("argv", "name"), ISSUE, ids=[" ".join(a[:1] + a[2:]) for a, _ in ISSUE])
def test_the_issue_command_lines_exit_2_naming_the_option(argv, name):
    code, _, err = run(*argv)
    assert refused(code, err, name), (code, err)


@pytest.mark.parametrize("argv", [
    ("sweep", FIG6, "--methods", "gtpos", "--option", "gtpos:time_limit=abc"),
    ("sweep", FIG6, "--methods", "tpos-cai", "--option", "engin=dp"),
    ("sweep", FIG6, "--methods", "tpos-cai,gtpos", "--option", "time_limit=-1"),
])
def test_sweep_refuses_bad_options_before_any_run(argv, tmp_path):
    out = tmp_path / "sweep"
    code, _, err = run(*argv, "--out", out)
    name = re.search(r"(\w+)=", argv[-1]).group(1)
    assert refused(code, err, name), (code, err)
    assert not out.exists()


@pytest.mark.parametrize(("method", "opt"), CASES, ids=IDS)
@PROPERTY
@given(data=st.data())
def test_bad_option_values_exit_2_in_solve_and_sweep(method, opt, data, tmp_path_factory):
    value = data.draw(invalid_values(opt, scalars=True))
    text = as_text(value)
    if opt.choices is not None and text.strip() in map(str, opt.allowed()):
        return                          # " dp" is a string the API refuses, but the command line strips it
    code, _, err = run("solve", FIG6, "-m", method, "--option", f"{opt.name}={text}")
    assert refused(code, err, opt.name, method), (text, code, err)
    out = tmp_path_factory.mktemp("sweep") / "out"
    code, _, err = run("sweep", FIG6, "--methods", method, "--option", f"{method}:{opt.name}={text}", "--out", out,
                       "-q")
    assert refused(code, err, opt.name, method), (text, code, err)
    assert not out.exists()


@pytest.mark.parametrize(("method", "opt"), CASES, ids=IDS)
@PROPERTY
@given(data=st.data())
def test_good_option_values_pass_the_command_line_checks(method, opt, data):
    value = data.draw(valid_values(opt))
    assert method_options(method, {}, (f"{opt.name}={as_text(value)}",)) == {opt.name: value}


FLAGS = {"--engine": "engine", "--seed": "seed", "--wake-prob": "wake_prob", "--eps": "eps", "--stop": "stop",
         "--max-iter": "max_iter", "--time-limit": "time_limit", "--objective": "objective", "--draws": "draws",
         "--solver": "solver"}


@pytest.mark.parametrize("flag", list(FLAGS))
@PROPERTY
@given(data=st.data())
def test_each_solve_flag_is_its_declared_option(flag, data):
    name = FLAGS[flag]
    method = next(m for m in registry.BUILTIN if name in registry.option_set(m))
    opt = registry.option_set(method)[name]
    value = data.draw(invalid_values(opt, scalars=True).filter(lambda v: v is not None))
    text = as_text(value)
    if opt.choices is not None and text.strip() in map(str, opt.allowed()):
        return
    code, _, err = run("solve", FIG6, "-m", method, flag, text)
    assert refused(code, err, name, method), (text, code, err)
    good = data.draw(valid_values(opt).filter(lambda v: v is not None))
    assert method_options(method, {name: as_text(good)}) == {name: good}


@pytest.mark.parametrize("method", list(registry.BUILTIN))
def test_solve_help_lists_the_methods_options(method):
    for argv in (("solve", "-m", method, "--help"), ("solve", "--help", "--method", method)):
        code, out, _ = run(*argv)
        assert code == 0
        text = " ".join(out.split())
        for opt in registry.option_set(method).options:
            assert f"{opt.name} {opt.describe()}" in text or f"{opt.name} {opt.describe()}".split(",")[0] in text
            assert f"default {opt.default!r}" in text
    code, out, _ = run("solve", "--help")
    assert code == 0 and "--method METHOD --help lists METHOD's options" in " ".join(out.split())


def test_compare_takes_method_options_under_their_declared_names(tmp_path):
    code, out, err = run("compare", FIG6, "--methods", "gtpos,all-local", "--option", "gtpos:solver=highs",
                         "--option", "gtpos:objective=social", "--out", tmp_path / "c", "-q")
    assert code == 0, err
    import json
    summary = json.loads((tmp_path / "c" / "gtpos" / "summary.json").read_text())
    assert summary["engine"] == "highs" and summary["info"]["objective_name"] == "social"
    code, _, err = run("compare", FIG6, "--methods", "gtpos", "--objective", "social", "--option",
                       "gtpos:objective=delay")
    assert code == 2 and "given twice" in err
