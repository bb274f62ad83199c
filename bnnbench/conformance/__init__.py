"""Conformance with the authors' released code, as a tool users can run (`python -m bnnbench.conformance`).

`pins.yaml` names each method's repository, commit and module; `source` brings the code (a
local checkout or a clone into the cache) and imports it on the CPU; `methods` runs one binary
conv per method on both sides; `compare` reports MATCH / documented deviation / DIFF and
reads and writes the golden tensors the fast suite checks without the authors' code.
"""
