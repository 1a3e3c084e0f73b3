import logging

import numpy as np
import pytest

logging.getLogger("pyomo").setLevel(logging.ERROR)  # test output only; the package itself sets nothing


@pytest.fixture(scope="session")
def case1_model():
    from flexspace.models.cases import case1

    return case1.model()


@pytest.fixture(scope="session")
def case2_model():
    from flexspace.models.cases import case2

    return case2.model()

