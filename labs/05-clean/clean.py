"""Lab 05 — Spark cleaning, your DataFrame functions.

The clean stage (pipeline/clean.py ``run``) reads the raw zone, applies the data contract with
``apply_contract`` (given: it adds ``reason`` and the normalised event columns to every record),
then calls the four functions below to write the clean events, the quarantine and the quality
counts. Write them one step of labs/05-clean/README.md at a time; `lab check 05` tells you how far
you are, and `lab pipeline --mine --namespace $USER clean` runs them on your own raw zone.

Each one takes DataFrames and returns a DataFrame (``quality_counts``: a dict). Use DataFrame
methods and ``F`` (pyspark.sql.functions); a Python loop over rows would pull the whole data set
into this process.
"""

from __future__ import annotations

from pyspark.sql import DataFrame  # noqa: F401 (the type of what you take and return)
from pyspark.sql import functions as F  # noqa: F401 (F.col("reason").isNull(), ...)

from pipeline.clean import EVENT_COLUMNS, apply_contract  # noqa: F401 (given: the event columns, the contract)
from pipeline.contract import REASONS  # noqa: F401 (given: the six reject reasons, in the contract's order)


def valid_events(checked: DataFrame) -> DataFrame:
    """The valid records of an ``apply_contract`` result (those whose ``reason`` is null), with exactly the
    columns of ``EVENT_COLUMNS``: ``reason`` and the input columns (raw, source, line, ...) are left out."""
    raise NotImplementedError("lab 05, step 2: write valid_events in labs/05-clean/clean.py")


def rejected_records(checked: DataFrame) -> DataFrame:
    """The rejected records of an ``apply_contract`` result (those with a ``reason``): the column ``reason``
    and every input column (the columns of the frame given to ``apply_contract``: raw, source, line, ...,
    whatever they are), none of ``EVENT_COLUMNS`` (they are null on a rejected record)."""
    raise NotImplementedError("lab 05, step 3: write rejected_records in labs/05-clean/clean.py")


def deduplicate(events: DataFrame) -> DataFrame:
    """One event per row id, the columns unchanged. Two events are duplicates only when their ``row_id`` is
    equal (then their normalised values are equal too, so any one of them will do); different events of
    one user in one second are not duplicates."""
    raise NotImplementedError("lab 05, step 4: write deduplicate in labs/05-clean/clean.py")


def quality_counts(checked: DataFrame, clean: DataFrame) -> dict:
    """The quality counts of docs/data-contract.md, as plain ints, from an ``apply_contract`` result and the
    clean events: ``input_records`` (every record, valid + rejected), ``valid``, ``rejected`` (one count per
    reason of ``contract.REASONS``, zeros included), ``duplicates_removed`` (valid - clean events) and
    ``clean_events`` (the rows of ``clean``)."""
    raise NotImplementedError("lab 05, step 5: write quality_counts in labs/05-clean/clean.py")
