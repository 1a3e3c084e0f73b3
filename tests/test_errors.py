"""Every refusal is a FlexspaceError that is also the matching built-in exception."""
import os
import sys

import numpy as np
import pytest

from flexspace.errors import (FlexspaceError, InputTypeError, MissingExtraError, OutputExistsError, UnknownNameError,
                              ValidationError)


def test_crystallization_refusals_are_flexspace_errors():
    from flexspace.crystallization.thermocycles import CycleProfileSpace
    from flexspace.crystallization.doe import validate_doe
    from flexspace.crystallization.profile import encode_profile

    with pytest.raises(ValidationError, match="n_cycles"):
        CycleProfileSpace(5)
    with pytest.raises(ValidationError, match="stage set-points"):
        encode_profile(40.0, 0.1, [], 0.5)
    with pytest.raises(InputTypeError) as info:
        validate_doe("doe.csv")
    assert isinstance(info.value, TypeError) and isinstance(info.value, FlexspaceError)


def test_surrogate_refusals_are_flexspace_errors():
    from flexspace.surrogates.constrained import TargetTransform
    from flexspace.surrogates.erm import erm_weights
    from flexspace.surrogates.omlt_embed import SurrogateEmbeddingError
    from flexspace.surrogates.omlt_process import parse_limit
    from flexspace.surrogates.selection import make_estimator
    from flexspace.surrogates.synthetic import make_generator
    from flexspace.surrogates.uq import forest_tree_std

    for call in (lambda: make_estimator("nope"), lambda: make_generator("nope"), lambda: TargetTransform("sqrt")):
        with pytest.raises(UnknownNameError) as info:
            call()
        assert isinstance(info.value, ValueError) and isinstance(info.value, KeyError)
    with pytest.raises(ValidationError, match="alpha"):
        erm_weights(3, 2, 1.0)
    with pytest.raises(ValidationError, match="limit"):
        parse_limit("20")
    with pytest.raises(InputTypeError, match="fitted forest"):
        forest_tree_std([object()], np.zeros((1, 1)))
    assert issubclass(SurrogateEmbeddingError, ValidationError) and issubclass(SurrogateEmbeddingError, ValueError)


def test_missing_torch_names_the_pip_command(monkeypatch):
    from flexspace.surrogates import deep

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.raises(MissingExtraError, match=r'pip install "flexspace\[deep\]"') as info:
        deep._torch()
    assert isinstance(info.value, ImportError) and isinstance(info.value, FlexspaceError)


def test_region_and_checkpoint_errors_are_flexspace_errors():
    from flexspace.designspace.checkpoint import CheckpointNotOpenError
    from flexspace.designspace.region import BracketError, NominalInfeasibleError

    for cls in (BracketError, NominalInfeasibleError):
        assert issubclass(cls, FlexspaceError) and issubclass(cls, ValueError)
    assert issubclass(CheckpointNotOpenError, FlexspaceError) and issubclass(CheckpointNotOpenError, RuntimeError)


def test_bench_unknown_preset_is_an_unknown_name_error(tmp_path):
    from flexspace.cli.bench import run_benchmarks

    with pytest.raises(UnknownNameError, match="unknown preset"):
        run_benchmarks("nope", out_dir=str(tmp_path), log=lambda *a: None)


def test_no_free_temporary_name_is_an_output_exists_error(tmp_path, monkeypatch):
    from flexspace import files

    def always_taken(*args, **kwargs):
        raise FileExistsError("taken")

    monkeypatch.setattr(files.os, "open", always_taken)
    with pytest.raises(OutputExistsError) as info:
        files._temp_beside(os.path.join(tmp_path, "out.csv"))
    assert isinstance(info.value, FileExistsError)
