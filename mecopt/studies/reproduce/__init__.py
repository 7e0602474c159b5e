"""Reproduction of the paper's §5 (Figs. 5-10): tables, one image per figure, and REPORT.md.

Each figure runs as a :mod:`mecopt.studies.sweep` of the instances in ``instances/paper/``
(so it is parallel, and resumable with ``resume=True``), its table is written
beside the report, and every claim of the paper's text about that figure is
judged *from that table* by a rule stated in the report: **reproduced**,
**partly** (saying where it fails) or **not reproduced** — never forced.

Cases (the paper's §5): Case 1 = TPOS-UAI, Case 2 = GTPOS (minimum average
delay), Case 3 = all offload (figures are the means over its seeded draws),
Case 4 = all local.

Layout of ``OUT``: ``fig*_*.<fmt>`` (the tables), ``claims.<fmt>``,
``fig5.png`` ... ``fig10.png`` (or ``.pdf``, ``.svg``), ``REPORT.md``, and ``sweeps/figN/`` (each
figure's sweep: its log, results and solution directories, always CSV so that
figures can be re-drawn from them).


Modules: :mod:`.scenarios` (settings, the figures' sweeps and tables), :mod:`.claims`
(the rules and verdicts), :mod:`.report` (REPORT.md, the figures, the entry points).
"""

from mecopt.studies.reproduce.scenarios import *  # noqa: F401,F403
from mecopt.studies.reproduce.claims import *  # noqa: F401,F403
from mecopt.studies.reproduce.report import *  # noqa: F401,F403
