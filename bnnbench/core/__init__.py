"""The ground floor: what every other part of bnnbench may import, and which imports nothing of it.

- `registry`: every registry (binarizers, weight binarizers, blocks, models, data, tasks) and
  the one parser of a component choice;
- `complexity`, `elementwise`: Params, BOPs, FLOPs and OPs counted from the modules;
- `codes`, `thresholds`: the export vocabulary a method writes its packing rule in;
- `timestep`: the diffusion timestep published for timestep-aware layers;
- `checkpoint`: the one reader of checkpoint files; `errors`, `progress`, `keyvalue`: how
  commands report errors and progress and read `key=value` arguments.
"""
