"""Crystallization digital twin (GitHub issue 5; seed: Barhate et al., PSE 2025).

Sub-modules: :mod:`.kinetics` (solubility/kinetics with sources), :mod:`.profile`
(13-feature profile encoding, Eq. 2–4), :mod:`.lab` (in-silico lab, population balance),
:mod:`.doe` (DoE generator, CSV validator), :mod:`.design` (NSGA-II design problem),
:mod:`.workflow` (steps 2–9 and the report), :mod:`.cli` (``flexspace crystallization``).
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
