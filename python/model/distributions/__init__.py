"""egenerator.model.distributions: probability distributions written with TensorFlow.

TFP-like classes (no TFP dependency) with ``log_prob``, ``prob``, ``cdf``, ``log_cdf``,
``survival``, ``log_survival``, ``integral(a, b)``, ``sample(sample_shape, seed)``, ``mean``,
``variance``; parameters broadcast elementwise, float32 or float64 (the parameters' dtype).
"""

from .asymmetric_gaussian import AsymmetricGaussian
from .base import Distribution, DistributionError, sanitize_seed
from .gamma import Gamma
from .mixture import Mixture
from .negative_binomial import MEAN_FLOOR, NegativeBinomial, negative_binomial_log_prob
from .poisson import RATE_FLOOR, Poisson, poisson_log_prob

__all__ = [
    "MEAN_FLOOR",
    "RATE_FLOOR",
    "AsymmetricGaussian",
    "Distribution",
    "DistributionError",
    "Gamma",
    "Mixture",
    "NegativeBinomial",
    "Poisson",
    "negative_binomial_log_prob",
    "poisson_log_prob",
    "sanitize_seed",
]
