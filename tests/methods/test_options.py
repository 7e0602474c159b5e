"""Typed options declared once per method (mecopt.core.options) and the generic registry (mecopt.core.registry).

Hypothesis draws values from each built-in method's declaration: values inside the declared type and
range (or choices) are accepted by the validation, values outside are refused with an InputError naming
the option and the method, through ``validate_options``, ``mecopt.solve`` and ``mecopt.compare``.
Validation runs before any work, so the refused cases are instant; accepted values are not solved.
The command-line side is tests/cli/test_options_cli.py.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mecopt
from mecopt.core.errors import InputError
from mecopt.core.options import Option, OptionSet, declare_options, option_set_of, scalar_from_text
from mecopt.core.registry import Registry, resolve
from mecopt.methods import registry
from mecopt.studies import compare as comparemod

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

FIG6 = "paper:fig6-w1khz"
BUILTIN = list(registry.BUILTIN)
PROPERTY = settings(max_examples=25, deadline=None, database=None, derandomize=True)


@pytest.fixture(scope="module")
def inst():
    return mecopt.load_instance(FIG6)


def declared(kinds=(int, float, bool, str)) -> list[tuple[str, Option]]:
    """(method, option) for every built-in method's declared option of the given types."""
    return [(m, o) for m in BUILTIN for o in registry.option_set(m).options if o.type in kinds]


def _lo(o: Option):
    return o.ge if o.ge is not None else o.gt


def _hi(o: Option):
    return o.le if o.le is not None else o.lt


def valid_values(o: Option) -> st.SearchStrategy:
    """Values the declaration allows (None included where it is)."""
    if o.choices is not None:
        base = st.sampled_from(o.allowed())
    elif o.type is bool:
        base = st.booleans()
    elif o.type is int:
        lo = None if _lo(o) is None else math.ceil(_lo(o)) + (1 if o.gt is not None and o.gt == math.ceil(o.gt) else 0)
        hi = None if _hi(o) is None else math.floor(_hi(o)) - (
            1 if o.lt is not None and o.lt == math.floor(o.lt) else 0)
        base = st.integers(min_value=lo if lo is not None else -10**6, max_value=hi if hi is not None else 10**6)
    elif o.type is float:
        base = st.floats(min_value=_lo(o) if _lo(o) is not None else -1e12,
                         max_value=_hi(o) if _hi(o) is not None else 1e12,
                         exclude_min=o.gt is not None, exclude_max=o.lt is not None,
                         allow_nan=False, allow_infinity=False)
    elif o.name == "solver":
        base = st.sampled_from(["cpsat", "highs"])
    else:
        raise AssertionError(f"no strategy for {o}")
    return st.one_of(st.none(), base) if o.nullable else base


def invalid_values(o: Option, scalars: bool = False) -> st.SearchStrategy:
    """Values the declaration refuses: wrong type, non-finite, out of range, unknown choice
    (``scalars``: no lists, which the command line cannot write)."""
    wrong = [st.sampled_from(["abc", "", "1,5", "maybe"])] + ([] if scalars else [st.lists(st.integers(), max_size=2)])
    if o.choices is not None:
        wrong.append(st.text(min_size=1, max_size=8).filter(lambda t: t not in o.allowed()))
    elif o.type is bool:
        wrong.append(st.integers(min_value=2))
    elif o.type in (int, float):
        wrong.append(st.booleans())
        if o.type is int:
            wrong.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()))
        else:
            wrong.append(st.sampled_from([math.nan, math.inf, -math.inf]))
        if _lo(o) is not None:
            below = _lo(o) if o.gt is not None else _lo(o) - (1 if o.type is int else 1e-9)
            wrong.append(st.just(int(below) if o.type is int else below))
            wrong.append(st.integers(max_value=-1) if o.type is int and _lo(o) >= 0
                         else st.floats(max_value=_lo(o), exclude_max=o.ge is not None, allow_nan=False,
                                        allow_infinity=False) if o.type is float else st.nothing())
        if _hi(o) is not None:
            wrong.append(st.floats(min_value=_hi(o), exclude_min=o.le is not None, allow_nan=False,
                                   allow_infinity=False))
    if not o.nullable and o.type in (int, float, bool, str):
        wrong.append(st.none())
    return st.one_of(wrong)


CASES = declared()
IDS = [f"{m}:{o.name}" for m, o in CASES]


def test_every_builtin_method_declares_its_options():
    """Each built-in method's declaration names exactly its keyword parameters, with the signature's defaults."""
    for m in BUILTIN:
        fn = registry.get(m)
        assert isinstance(fn.mecopt_options, OptionSet)
        assert registry.option_set(m).names() == registry.accepted_options(m)
        import inspect
        sig = inspect.signature(fn)
        for o in registry.option_set(m).options:
            assert o.default == sig.parameters[o.name].default
            assert o.doc, f"{m}:{o.name} has no doc"
            if o.default is not None and o.type in (int, float, bool, str) and o.choices is None:
                assert o.convert(o.default) == o.default        # every declared default passes its own check
            if o.choices is not None:
                assert o.default in o.allowed()


def test_one_engine_default_per_method():
    """The engine default is the method's declaration; compare uses TPOS-CAI's for every method."""
    for method in ("tpos-cai", "tpos-uai", "isolated"):   # one default engine for every command: dp
        assert registry.option_set(method)["engine"].default == "dp"
    _, shared, per = comparemod.plan(["tpos-cai", "isolated", "gtpos"])
    assert shared["engine"] == "dp" and per["isolated"]["engine"] == "dp" and "engine" not in per["gtpos"]
    _, shared, per = comparemod.plan(["tpos-cai", "isolated"], engine="milp")
    assert per["tpos-cai"]["engine"] == per["isolated"]["engine"] == "milp"


@pytest.mark.parametrize(("method", "opt"), CASES, ids=IDS)
@PROPERTY
@given(data=st.data())
def test_valid_values_are_accepted(method, opt, data):
    value = data.draw(valid_values(opt))
    got = registry.validate_options(method, {opt.name: value})
    assert got == {opt.name: value} and type(got[opt.name]) is type(value)
    # the same value as command-line text reads back to it (ints stay ints)
    text = "none" if value is None else str(value)
    assert registry.validate_options(method, {opt.name: text}, text=True) == {opt.name: value}


@pytest.mark.parametrize(("method", "opt"), CASES, ids=IDS)
@PROPERTY
@given(data=st.data())
def test_invalid_values_are_refused_naming_the_option(method, opt, data, inst):
    value = data.draw(invalid_values(opt))
    pattern = re.escape(f"The {opt.name!r} option of method {method!r} must be ")
    with pytest.raises(InputError, match=pattern):
        registry.validate_options(method, {opt.name: value})
    with pytest.raises(InputError, match=pattern):       # before any work: instant
        mecopt.solve(inst, method, **{opt.name: value})
    with pytest.raises(InputError, match=pattern):
        mecopt.compare(inst, methods=[method], options={method: {opt.name: value}})


@pytest.mark.parametrize("method", BUILTIN)
@PROPERTY
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_unknown_names_are_refused_with_the_valid_ones(method, name, inst):
    valid = registry.accepted_options(method)
    if name in valid:
        return
    with pytest.raises(InputError, match=re.escape(f"The {name!r} option is not accepted by method {method!r}")):
        mecopt.solve(inst, method, **{name: 1})


def test_python_strings_are_not_numbers(inst):
    """Only command-line text is read as a number: the Python API takes "3" as a string."""
    with pytest.raises(InputError, match="'draws' option of method 'all-offload' must be an integer >= 1"):
        mecopt.solve(inst, "all-offload", draws="3")
    assert registry.validate_options("all-offload", {"draws": "3"}, text=True) == {"draws": 3}


def test_the_issue_values_are_refused_before_any_work(inst):
    bad = [("gtpos", "time_limit", "abc"), ("gtpos", "mip_rel_gap", "abc"), ("gtpos", "threads", "abc"),
           ("tpos-cai", "max_iter", "abc"), ("tpos-cai", "seed", -1), ("gtpos", "mip_rel_gap", -1),
           ("gtpos", "threads", 0), ("gtpos", "canonical", "maybe"), ("tpos-cai", "eps", math.nan),
           ("gtpos", "time_limit", math.nan), ("gtpos", "time_limit", -1), ("tpos-best", "gap", 1.0),
           ("tpos-uai", "polish_after", 0), ("all-offload", "overflow", "drop"), ("gtpos", "warm_start", "eager")]
    for method, name, value in bad:
        with pytest.raises(InputError, match=f"'{name}' option of method '{method}'"):
            mecopt.solve(inst, method, **{name: value})


def test_direct_calls_of_a_method_function_are_checked_too(inst):
    from mecopt.methods.gtpos import solve_gtpos

    with pytest.raises(InputError, match="'threads' option of method 'gtpos' must be an integer >= 1"):
        solve_gtpos(inst, threads=0)


def test_compare_passes_shared_options_to_the_methods_that_declare_them():
    _, shared, per = comparemod.plan(["tpos-cai", "gtpos", "all-offload", "tpos-best"], seed="2", engine="dp",
                                     time_limit="30", draws="4", options={"gtpos": {"solver": "highs"}}, text=True,
                                     gtpos_objective="social")
    assert shared == {"engine": "dp", "seed": 2, "time_limit": 30, "draws": 4}
    assert per["tpos-cai"] == {"engine": "dp", "seed": 2, "time_limit": 30}
    assert per["gtpos"] == {"time_limit": 30, "solver": "highs", "objective": "social"}
    assert per["all-offload"] == {"seed": 2, "draws": 4}
    assert per["tpos-best"] == {"time_limit": 30, "pos": False}
    with pytest.raises(InputError, match="'engin' option is not accepted by any of the methods"):
        comparemod.plan(["tpos-cai"], options={"*": {"engin": "dp"}})
    with pytest.raises(InputError, match="names methods not compared: gtpos"):
        comparemod.plan(["tpos-cai"], options={"gtpos": {"solver": "highs"}})
    with pytest.raises(InputError, match="'objective'.*given twice"):
        comparemod.plan(["gtpos"], options={"gtpos": {"objective": "delay"}}, gtpos_objective="social")
    with pytest.raises(InputError, match="'seed' option of method 'tpos-cai' must be an integer >= 0"):
        comparemod.plan(["gtpos"], seed=-1)          # checked even when no compared method takes it


def test_sweep_checks_every_option_before_any_run(tmp_path):
    from mecopt.studies import sweep as sw

    def spec(**options):
        return sw.SweepSpec(instances=(FIG6,), methods=("tpos-cai", "gtpos"), options=options)

    with pytest.raises(InputError, match="'time_limit' option of method 'gtpos' must be a finite number > 0"):
        sw.plan(spec(gtpos={"time_limit": "abc"}))
    with pytest.raises(InputError, match="'engin' option is not accepted by any of the methods"):
        sw.plan(spec(**{"*": {"engin": "dp"}}))
    with pytest.raises(InputError, match="'time_limit' option of method 'tpos-cai'"):
        sw.plan(spec(**{"*": {"time_limit": -1}}))
    _, runs, _ = sw.plan(spec(**{"*": {"engine": "dp", "time_limit": 5}}))
    assert {r.method: dict(r.options) for r in runs} == {"tpos-cai": {"engine": "dp", "time_limit": 5, "seed": 0},
                                                        "gtpos": {"time_limit": 5}}


# ----------------------------------------------------------------------------- registered methods

def typed(instance, *, rounds: int = 3, share: float | None = None, greedy: bool = False, tag: str = "x",
          anything=None):
    return [[0] * d.M for d in instance.devices]


def untyped(instance, *, rounds=3, share=0.5, flag=True, what=None):
    return [[0] * d.M for d in instance.devices]


def test_options_of_an_undeclared_method_come_from_its_signature():
    opts = option_set_of(typed)
    assert [(o.name, o.type, o.nullable, o.default) for o in opts.options] == [
        ("rounds", int, False, 3), ("share", float, True, None), ("greedy", bool, False, False),
        ("tag", str, False, "x"), ("anything", object, False, None)]
    opts = option_set_of(untyped)
    assert [(o.name, o.type) for o in opts.options] == [("rounds", int), ("share", float), ("flag", bool),
                                                        ("what", object)]


def test_registered_methods_without_declaration_keep_working(inst, registries):
    mecopt.register_method("typed", typed)
    sol = mecopt.solve(inst, "typed", rounds=2, share=0.3, anything=[1, 2])
    assert sol.feasible
    with pytest.raises(InputError, match="'rounds' option of method 'typed' must be an integer"):
        mecopt.solve(inst, "typed", rounds="two")
    with pytest.raises(InputError, match="'share' option of method 'typed' must be a finite number, or None"):
        mecopt.solve(inst, "typed", share=math.inf)
    assert registry.validate_options("typed", {"rounds": "7", "tag": "7"}, text=True) == {"rounds": 7, "tag": "7"}


def test_a_declaration_must_match_the_signature():
    with pytest.raises(TypeError, match="differ from its keyword parameters"):
        @declare_options("bad", Option("seed", int, "seed"))
        def bad(instance, *, sed=0):
            return None


@given(text=st.one_of(st.integers().map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
                      st.sampled_from(["true", "false", "dp", "a b"])))
@settings(max_examples=50, deadline=None, database=None, derandomize=True)
def test_scalar_from_text_reads_toml_scalars(text):
    v = scalar_from_text(text)
    if text in ("true", "false"):
        assert v is (text == "true")
    elif text in ("dp", "a b"):
        assert v == text
    else:
        assert v == (int(text) if re.fullmatch(r"-?\d+", text) else float(text))


# ----------------------------------------------------------------------------- the generic registry

def test_registry_names_register_and_lazy_references():
    reg = Registry("widget", {"pi": "math:pi"})
    assert reg.names() == ["pi"] and "pi" in reg and "e" not in reg
    reg.register("e", "math:e")
    reg.register("two", 2)
    assert reg.get("pi") == math.pi and reg.get("e") == math.e and reg.get("two") == 2
    with pytest.raises(ValueError, match="widget 'two' is already registered"):
        reg.register("two", 3)
    reg.register("two", 3, replace=True)
    assert reg.get("two") == 3
    with pytest.raises(InputError, match="The 'widget' option must be one of pi, e, two. Got 'three' instead."):
        reg.get("three")
    reg.register("broken", "math:nosuch")
    with pytest.raises(InputError, match="widget 'broken' \\(math:nosuch\\) cannot be loaded"):
        reg.get("broken")
    assert resolve("os.path:join.__name__") == "join"


def test_registry_reads_its_entry_point_group_once(monkeypatch):
    from importlib.metadata import EntryPoint

    import mecopt.core.registry as regmod

    calls = []

    def fake(group):
        calls.append(group)
        return [EntryPoint("tau", "math:tau", group), EntryPoint("pi", "math:e", group)]

    monkeypatch.setattr(regmod, "entry_points", fake)
    reg = Registry("widget", {"pi": "math:pi"}, group="test.widgets")
    assert reg.names() == ["pi", "tau"] and reg.names() == ["pi", "tau"]
    assert reg.get("tau") == math.tau and reg.get("pi") == math.pi     # an entry point never replaces
    assert calls == ["test.widgets"]


def test_methods_and_engines_share_the_registry():
    from mecopt.bestresponse import engines

    assert isinstance(registry.REGISTRY, Registry) and registry.METHODS is registry.REGISTRY.entries
    assert isinstance(engines.ENGINES, Registry)
    with pytest.raises(InputError, match="The 'method' option must be one of tpos-cai"):
        registry.get("tpos-ca")
