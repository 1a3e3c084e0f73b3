"""Model libraries shared by several test modules.  They are modules, not fixtures, because
``pytest.mark.parametrize`` needs them when the tests are collected; the shipped case models
are session fixtures (``conftest.py``)."""
