"""The one error type of the data layer.

Example:

>>> try:
...     raise DataError("corpus.npz: key 'vectors' has 3 zero vectors (first at row 7)")
... except ValueError as exc:
...     print(exc)
corpus.npz: key 'vectors' has 3 zero vectors (first at row 7)
"""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data: the message names the file, the key and the problem.

    A subclass of ``ValueError``, so the CLI reports it as one line and exits with code 2.
    """
