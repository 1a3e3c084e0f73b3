"""Crystallization digital twin (after the crystallization paper: Barhate et al., PSE 2025).

The application package on top of flexspace: it uses :mod:`flexspace.designspace`,
:mod:`flexspace.surrogates` and :mod:`flexspace.models`, and nothing below it imports it
(only :mod:`flexspace.cli` does).

Sub-modules: :mod:`.kinetics` (solubility/kinetics with sources), :mod:`.profile`
(13-feature profile encoding, Eq. 2–4), :mod:`.lab` (in-silico lab, population balance),
:mod:`.doe` (DoE generator, CSV validator), :mod:`.design` (NSGA-II design problem),
:mod:`.workflow` (steps 2–9), :mod:`.process` (batch time, yield, final temperature,
redissolution and their limits), :mod:`.calibration` (bounded scales and interval settings per
CQA), :mod:`.loop` (recommendation, validation and the closed loop of step 8),
:mod:`.report` (the engineer's HTML report), :mod:`.design_space` (design space of
OMLT-embedded surrogates), :mod:`.pareto` (ε-constraint Pareto front on the embedded
surrogates).  The commands (``flexspace crystallization run | design-space``) are in
:mod:`flexspace.cli.crystallization` and :mod:`flexspace.cli.crystallization_design_space`.
"""
from .kinetics import LabParameters, saturation_temperature, solubility
from .lab import BatchResult, InSilicoLab
from .profile import (CQA_NAMES, FEATURE_BOUNDS, FEATURE_NAMES, LOWER, UPPER, ProfileLatentTransform,
                      check_profiles, decode_profile, encode_profile, is_feasible, n_cycles, n_stages,
                      seeding_temperature)

__all__ = [
    "LabParameters", "saturation_temperature", "solubility", "BatchResult", "InSilicoLab", "CQA_NAMES",
    "FEATURE_BOUNDS", "FEATURE_NAMES", "LOWER", "UPPER", "ProfileLatentTransform", "check_profiles",
    "decode_profile", "encode_profile", "is_feasible", "n_cycles", "n_stages", "seeding_temperature",
]
