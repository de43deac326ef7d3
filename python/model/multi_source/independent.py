"""IndependentMultiSource: named sources built from shared bases, summed and charge-mixed.

Old class path (unchanged): ``egenerator.model.multi_source.independent.IndependentMultiSource``.

Config ``sources`` maps each source name to a base name (a child component); several sources
may share one base (``cascade_00 .. cascade_09`` all using base ``cascade``). The parameters are
``<source>_<parameter>`` in the order of ``sources`` then of the base's ``parameter_names``.
All sources of one base are evaluated in ONE ``evaluate_stacked`` call (stacked along S), and
because multi-sources implement ``evaluate_stacked`` themselves, nesting batches at any depth.

Combination: charges and variances sum; ``pulse_pdf``, ``pulse_cdf`` and ``dom_cdf_exclusion``
are charge-weighted means ``sum_k mu_k v_k / sum_k mu_k``. Nothing is renormalised per source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from ...config.registry import register
from ...detector import DetectorTable
from ..source.base import RESULT_KEYS, Source, SourceConfigError, map_results, split_stacked


def _gather_components(
    values: tf.Tensor, event: tf.Tensor, dom: tf.Tensor, num_doms: int
) -> tf.Tensor:
    """values [B, S, C, D] -> [X, S, C] at (event[x], s, c, dom[x])."""
    shape = tf.shape(values)
    num_stack, num_comp = shape[1], shape[2]
    stack = tf.range(num_stack, dtype=tf.int32)[None, :, None]
    comp = tf.range(num_comp, dtype=tf.int32)[None, None, :]
    index = ((event[:, None, None] * num_stack + stack) * num_comp + comp) * num_doms + dom[
        :, None, None
    ]
    return tf.gather(tf.reshape(values, [-1]), index)


@register("IndependentMultiSource")
class IndependentMultiSource(Source):
    """A hypothesis made of independent named sources.

    Parameters
    ----------
    config : dict
        ``sources``: mapping source name -> base name. Empty (default): one source per base,
        named like the base.
    detector : DetectorTable
    name : str
    key_path : str, optional
    bases : mapping name -> Source
        The child components ("multi_source_bases").
    """

    DEFAULT_CONFIG = {"sources": {}}
    is_multi_source = True

    def __init__(
        self,
        config: Mapping[str, Any] | None,
        detector: DetectorTable,
        name: str = "model",
        key_path: str | None = None,
        bases: Mapping[str, Source] | None = None,
    ):
        super().__init__(config, detector, name, key_path)
        path = f"{self.key_path}.multi_source_bases"
        if not bases:
            raise SourceConfigError(f"{path}: a multi-source needs at least one base")
        for base_name, base in bases.items():
            if not isinstance(base, Source):
                raise SourceConfigError(
                    f"{path}.{base_name}: expected a Source, got {type(base).__name__}"
                )
            if base.num_doms != self.num_doms:
                raise SourceConfigError(
                    f"{path}.{base_name}: built for {base.num_doms} DOMs, the multi-source "
                    f"for {self.num_doms}"
                )
        sources = dict(self.config["sources"]) or {b: b for b in bases}
        spath = f"{self.key_path}.config.sources"
        for source_name, base_name in sources.items():
            if not isinstance(source_name, str) or not source_name:
                raise SourceConfigError(f"{spath}: source names must be strings: {source_name!r}")
            if base_name not in bases:
                raise SourceConfigError(
                    f"{spath}.{source_name}: base {base_name!r} is not among the "
                    f"multi_source_bases {sorted(bases)}"
                )
        unused = sorted(set(bases) - set(sources.values()))
        if unused:
            raise SourceConfigError(f"{spath}: base(s) {unused} are used by no source")
        self._config = type(self._config)({**self._config, "sources": sources})
        self._bases = dict(bases)  # tracked by tf.Module (variables of children)
        self._base_names = tuple(bases)

        names: list[str] = []
        offsets: dict[str, int] = {}
        for source_name, base_name in sources.items():
            offsets[source_name] = len(names)
            names += [f"{source_name}_{p}" for p in bases[base_name].parameter_names]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise SourceConfigError(f"{spath}: parameter names clash: {dupes}")
        self.parameter_names = tuple(names)
        self.parameter_offsets = offsets  # source name -> first parameter index

        # groups: base name -> (source names, parameter index [k * P_base])
        self._groups: list[tuple[str, tuple[str, ...], np.ndarray]] = []
        for base_name in self._base_names:
            members = tuple(s for s, b in sources.items() if b == base_name)
            num_params = bases[base_name].num_parameters
            index = np.asarray(
                [offsets[s] + p for s in members for p in range(num_params)], dtype=np.int32
            )
            self._groups.append((base_name, members, index))
        self._source_order = tuple(s for _, members, _ in self._groups for s in members)

    # ------------------------------------------------------------------ description
    @property
    def children(self) -> dict[str, Source]:
        return {n: self._bases[n] for n in self._base_names}

    @property
    def sources(self) -> dict[str, str]:
        """Source name -> base name."""
        return dict(self.config["sources"])

    # ------------------------------------------------------------------ evaluation
    def evaluate_stacked(
        self, parameters: tf.Tensor, batch: Mapping[str, tf.Tensor], with_nested: bool = True
    ) -> dict[str, Any]:
        self.check_stacked_parameters(parameters)
        shape = tf.shape(parameters)
        num_events, num_stack = shape[0], shape[1]

        parts: dict[str, list[tf.Tensor]] = {k: [] for k in RESULT_KEYS}
        nested: dict[str, Any] = {}
        for base_name, members, index in self._groups:
            base = self._bases[base_name]
            k = len(members)
            sub = tf.gather(parameters, index, axis=2)  # [B, S, k * P_base]
            sub = tf.reshape(sub, tf.stack([num_events, num_stack * k, base.num_parameters]))
            child = base.evaluate_stacked(sub, batch, with_nested=with_nested)
            child = split_stacked(child, k)  # every tensor [X, S, k, ...]
            for key in RESULT_KEYS:
                parts[key].append(child[key])
            if with_nested:
                for j, member in enumerate(members):
                    nested[member] = map_results(lambda t, j=j: t[:, :, j], child)

        charges = tf.concat(parts["dom_charges"], axis=2)  # [B, S, C, D]
        variances = tf.concat(parts["dom_charges_variance"], axis=2)
        exclusions = tf.concat(parts["dom_cdf_exclusion"], axis=2)
        pdfs = tf.concat(parts["pulse_pdf"], axis=2)  # [N, S, C]
        cdfs = tf.concat(parts["pulse_cdf"], axis=2)

        total = tf.reduce_sum(charges, axis=2)  # [B, S, D]
        exclusion = tf.math.divide_no_nan(tf.reduce_sum(charges * exclusions, axis=2), total)
        pulse_charges = _gather_components(
            charges, batch["pulse_event"], batch["pulse_dom"], self.num_doms
        )  # [N, S, C]
        pulse_total = tf.reduce_sum(pulse_charges, axis=2)
        pdf = tf.math.divide_no_nan(tf.reduce_sum(pulse_charges * pdfs, axis=2), pulse_total)
        cdf = tf.math.divide_no_nan(tf.reduce_sum(pulse_charges * cdfs, axis=2), pulse_total)

        results: dict[str, Any] = {
            "dom_charges": total,
            "dom_charges_variance": tf.reduce_sum(variances, axis=2),
            "pulse_pdf": pdf,
            "pulse_cdf": cdf,
            "dom_cdf_exclusion": exclusion,
            "component_dom_charges": {
                s: charges[:, :, c] for c, s in enumerate(self._source_order)
            },
        }
        if with_nested:
            results["nested_results"] = {s: nested[s] for s in self.config["sources"]}
        return results
