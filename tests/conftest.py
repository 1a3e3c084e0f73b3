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



@pytest.fixture(scope="session")
def cryst_doe():
    """The seed's Table 1 DoE run on the in-silico lab (seeded): a validated DoE table."""
    import pandas as pd

    from flexspace.crystallization.doe import TABLE1_MIX, sample_profiles, validate_doe
    from flexspace.crystallization.lab import InSilicoLab
    from flexspace.crystallization.profile import FEATURE_NAMES

    X = sample_profiles(TABLE1_MIX, random_state=0)
    Y = InSilicoLab(random_state=0).measure(X, random_state=1)
    df = pd.concat([pd.DataFrame(X, columns=list(FEATURE_NAMES)), Y[["D50", "DoA", "crystallinity"]]], axis=1)
    return validate_doe(df)
