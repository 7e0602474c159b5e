"""Run a plan for real: split DNNs, a slot-scheduled server process, shaped links, predicted vs measured (issue 25).

Modules: :mod:`.split` (head and tail of an ONNX model, per-layer segments),
:mod:`.protocol` (length-prefixed messages, no pickle), :mod:`.shaping` (token
bucket), :mod:`.server` (the server process), :mod:`.runner` (the devices and
the orchestration) and :mod:`.report` (the tables). ``docs/execute.md``.
"""
