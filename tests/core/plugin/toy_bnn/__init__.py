"""A throwaway binarizer, block, data set and task, written only by the README's "Adding a
component" table, outside the package (tests/core/test_adding_components.py)."""

from toy_bnn import toy_block, toy_data, toy_sign, toy_task  # noqa: F401  (registrations)
