"""Model libraries shared by several test modules.  They are modules, not fixtures, because
``pytest.mark.parametrize`` needs them when the tests are collected; the shipped case models
are session fixtures (``conftest.py``)."""


def trusted_status(solver) -> str:
    """The status a correct answer of ``solver`` earns on a nonlinear model: ``ok`` (proven) for
    a global solver, ``sampled`` (a scenario statement, never a proof) for a local one."""
    import flexspace

    return "ok" if flexspace.get_solver(solver).is_global else "sampled"
