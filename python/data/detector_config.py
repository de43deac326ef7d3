"""The detector table a config names (``detector_settings``)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..config.loader import ConfigError
from ..detector import DetectorTable, ic86_like


def detector_from_config(config: Mapping) -> DetectorTable:
    """The DetectorTable of a resolved config (or of its ``detector_settings`` mapping).

    ``geometry: ic86_like`` gives the generated detector (``layout_seed``); anything else is
    read as a CSV DOM table (:meth:`DetectorTable.from_csv`).
    """
    settings = config.get("detector_settings", config)
    geometry = settings.get("geometry", "ic86_like")
    if geometry == "ic86_like":
        return ic86_like(seed=int(settings.get("layout_seed", 86)))
    if not os.path.exists(geometry):
        raise ConfigError(
            "detector_settings",
            [("detector_settings.geometry", f"'{geometry}' is neither 'ic86_like' nor a file")],
        )
    return DetectorTable.from_csv(geometry)
