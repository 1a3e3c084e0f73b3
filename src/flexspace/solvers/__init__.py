"""One small solver layer: a solver (a name, or any backend object) -> a configured
:class:`Solver` with a wall-clock guard -> a status in our own enum.

Names: ``"ipopt"`` (local NLP, Ipopt through PyNumero's ``cyipopt``), ``"maingo"``
(global MINLP, ``appsi_maingo``), ``"scip"`` (global MINLP, ``scip_direct``),
``"highs"`` (LP/MILP, ``appsi_highs``) and the optional ``"baron"`` (global, through
GAMS; demo licence only for small models) and ``"gurobi"`` (global MINLP through
``gurobi_direct_minlp``, extra ``gurobi``; the pip licence is size-limited and Gurobi's
nonlinear interface knows only some functions: see :func:`gurobi_unsupported`).

Layout: ``backends/<solver>.py`` holds one backend class per solver (its spec, version
probe, solve routine and status mapping, and the solver's quirks); ``registry.py`` maps
names to backend classes (the built-in ones listed once; :func:`register_backend` adds
one's own); ``solver.py`` the :class:`Solver` (guard, verification, targets, second opinion,
pickling) and :func:`get_solver`; ``status.py`` the statuses and results; ``util.py`` helpers
on Pyomo models; ``guard.py`` the guard's forked children; ``table.py`` ``flexspace solvers``.

**A backend of one's own** is any object with ``solve(model, request)`` → :class:`SolveResult`
and ``available()`` → bool (:class:`SolverBackend`; optional attributes ``name``,
``is_global``, ``supports_integers``, ``guard``, ``why_unavailable``, ...: see :mod:`.backends.base`).
:func:`unavailable_reason` says why a solver cannot be used here and how to fix it.  Pass it
(or its class) wherever a solver name is taken — ``flexibility_index(model, solver=MyBackend())``
— or register its class and use its name: ``register_backend(MyBackend)``, then
``solver="mine"``.  A backend that does not declare ``is_global = True`` is a local solver:
its answers are never certificates.

Two measured traps (``shared/spec/solvers.md``) shape the built-in backends:

* MAiNGO with its default relative gap can take 100x longer than with
  ``epsilonR = 1e-4``; the gap is therefore always set explicitly.
* Time limits (per solve; :class:`~flexspace.options.SolveOptions`): a solve returns
  within ``time_limit + max(2 s, 5 %)`` wall-clock.  Each solver is handed what is left of
  the limit when it starts, and (all built-in solvers but HiGHS) runs under a *hard
  wall-clock guard*: the solve runs in a forked child process which is killed when the
  limit plus :func:`~.solver.guard_grace` has passed.  Measured overruns it catches: SCIP
  blocked writing its log into Pyomo's output pipe (now silenced: ``backends/scip.py``),
  MAiNGO's preprocessing and its CPU-time limit, one long Ipopt iteration.  A time-out is
  :attr:`SolverStatus.TIME_LIMIT` with a one-line message.  The child sends back the values
  of all variables, which the parent loads into its own model.

A failed solve is never feasible: every result carries a :class:`SolverStatus`, and
only ``OPTIMAL`` / ``LOCALLY_OPTIMAL`` have usable solutions (``INFEASIBLE`` is a
statement about the problem, certified only by a global solver).  A global backend's
``OPTIMAL`` is re-checked from its numbers (:meth:`Solver._verified`).

**Objective targets** (``solve(model, point_target=..., bound_target=...)``): when only
the side of a threshold matters (the sign of χ in a flexibility test; whether δ_k can
still beat the best δ of an index), a global solver may stop as soon as a feasible point
reaches ``point_target`` or its proven bound passes ``bound_target``.  Measured honoured
by MAiNGO (``targetUpperBound`` / ``targetLowerBound``, status ``BOUND_TARGETS``), SCIP
10 (``limits/primal`` / ``limits/dual``, status ``primallimit`` / ``duallimit``) and
Gurobi (``BestObjStop`` / ``BestBdStop``); the others ignore targets and solve to
optimality.  Such a stop is :attr:`SolverStatus.TARGET`, never ``OPTIMAL``: the result
carries the proven bound and, when the solver had one, a feasible point whose objective
is re-evaluated by Pyomo; which side was proven is re-checked from those numbers (a stop
that proves neither is an ``ERROR``).  The wall-clock guard still applies.
"""
from __future__ import annotations

from .backends.base import _AVAIL_CACHE, Backend, BackendSpec, SolveRequest, SolverBackend, unavailable_reason
from .backends.base import BackendSpec as _Spec
from .backends.gurobi import gurobi_unsupported
from .guard import _PDEATHSIG, exit_with_parent
from .registry import (UnknownSolverError, available_solvers, register_backend, second_opinions, solver_names,
                       unregister_backend)
from .registry import raw_version as _raw_version
from .solver import Solver, get_solver
from .status import SolveResult, SolverStatus
from .status import Targets as _Targets
from .table import _check_problem, solver_table
from .util import has_user_scaling, objective_sense

#: Settings of :meth:`Solver.second_opinion`, per built-in solver (each backend's
#: ``second_opinion_options``; the measurements behind SCIP's are in ``backends/scip.py``).
#: MAiNGO and Gurobi: no wrong bound seen in the same sweep.
SECOND_OPINION = second_opinions()

__all__ = [
    "SolverStatus",
    "SolveResult",
    "Solver",
    "get_solver",
    "available_solvers",
    "solver_names",
    "UnknownSolverError",
    "solver_table",
    "gurobi_unsupported",
    "objective_sense",
    "has_user_scaling",
    "exit_with_parent",
    "SECOND_OPINION",
    "SolverBackend",
    "Backend",
    "BackendSpec",
    "SolveRequest",
    "register_backend",
    "unregister_backend",
    "unavailable_reason",
]
