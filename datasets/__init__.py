"""Synthetic ecommerce events in the schema of the REES46 Kaggle data set.

``generate(out_path, rows, seed, ...)`` writes a CSV and its manifest; see
``datasets/README.md`` for the data dictionary, realism model and defects.
"""

from .generator import HEADER, generate
from .manifest import Manifest, manifest_path

__all__ = ["HEADER", "Manifest", "generate", "manifest_path"]
