"""egenerator.loss: likelihood terms and their weighted combination (loss modules).

Terms are pure functions ``term(batch, results) -> [B]`` float64 negative log-likelihoods
(resources/docs/internals.md); :class:`MultiLossModule` builds the loss of a config's
``loss_module_settings``.
"""

from .errors import LossConfigError, LossInputError
from .exclusions import EXCLUSION_CLIP, exclusion_fraction, pulse_valid_mask
from .module import (
    LOSS_MODULE_NAMES,
    OLD_LOSS_MODULE_PATHS,
    LossModule,
    MultiLossModule,
    build_loss_module,
)
from .terms import (
    PDF_FLOOR,
    TERMS,
    dom_charge_pdf,
    negative_binomial_charge_pdf,
    poisson_charge_pdf,
    total_charge_negative_binomial_pdf,
    total_charge_pdf,
    unbinned_pulse_time_llh,
)

__all__ = [
    "EXCLUSION_CLIP",
    "LOSS_MODULE_NAMES",
    "OLD_LOSS_MODULE_PATHS",
    "PDF_FLOOR",
    "TERMS",
    "LossConfigError",
    "LossInputError",
    "LossModule",
    "MultiLossModule",
    "build_loss_module",
    "dom_charge_pdf",
    "exclusion_fraction",
    "negative_binomial_charge_pdf",
    "poisson_charge_pdf",
    "pulse_valid_mask",
    "total_charge_negative_binomial_pdf",
    "total_charge_pdf",
    "unbinned_pulse_time_llh",
]
