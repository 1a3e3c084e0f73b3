"""The shipped case studies and the registry the CLI and the benchmarks read.

* ``case1`` — A+B→C→D+E in a steady-state CSTR (seed §3.1, :mod:`.case1`);
* ``case2`` — Michael addition in a steady-state CSTR (seed §3.2, :mod:`.case2`);
* ``case3`` — saponification in an IDAES CSTR, the flowsheet as IDAES builds it (:mod:`.case3`);
* ``hx_network`` — heat-exchanger network with one control, the cooling duty Qc
  (Grossmann & Floudas 1987, :mod:`.hx_network`; analysed with recourse).

Each case's ``model(covariance=None, formulation="full"|"reduced")`` returns a
:class:`~flexspace.ProcessModel` that carries everything generic code needs (its
``grid_shape`` and a picklable ``factory`` for worker processes); nothing outside this
package looks a case up by its name except through :func:`get_case`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Tuple

from ...errors import UnknownNameError
from . import case1, case2, case3, hx_network
from ..base import ProcessModel

__all__ = ["Case", "CASES", "get_case", "case_model", "case1", "case2", "case3", "hx_network"]


@dataclass(frozen=True)
class Case:
    """One shipped case: its factory and what a user should know to run it."""

    name: str
    build: Callable[..., ProcessModel]  #: ``build(covariance=None, formulation="full")``
    description: str
    formulations: Tuple[str, ...] = ("full", "reduced")


CASES: Dict[str, Case] = {
    "case1": Case("case1", case1.model, "A+B->C->D+E steady-state CSTR (seed §3.1)"),
    "case2": Case("case2", case2.model, "Michael addition steady-state CSTR (seed §3.2)"),
    "case3": Case("case3", case3.model, "saponification of ethyl acetate in an IDAES CSTR (IDAES flowsheet)",
                  ("full",)),
    "hx_network": Case("hx_network", hx_network.model, "heat-exchanger network with the control Qc (recourse; "
                       "Grossmann & Floudas 1987)", ("full",)),
}


def get_case(name: str) -> Case:
    """The registered case ``name`` (an :class:`~flexspace.errors.UnknownNameError`, also a
    ``ValueError`` and a ``KeyError``, lists the known ones)."""
    try:
        return CASES[name]
    except KeyError:
        raise UnknownNameError(f"unknown case {name!r}; choose from {sorted(CASES)}") from None


def case_model(name: str, formulation: str = "full") -> ProcessModel:
    """``get_case(name).build(formulation=formulation)``."""
    case = get_case(name)
    if formulation not in case.formulations:
        raise UnknownNameError(f"formulation must be one of {list(case.formulations)} for {name}, "
                               f"got {formulation!r}")
    return case.build(formulation=formulation)
