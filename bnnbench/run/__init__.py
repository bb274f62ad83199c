"""The run layer: one job from its config, and the sweeps of many.

- `job`: checks and wiring of data module, model and task from the config;
- `settings`: the run's own keys, threads, compile and multi-process settings;
- `execute`: train, test or count one job (`execute.run`), its outputs and summary;
- `recipe`: how a job trains: steps from the last one's weights, a teacher trained once per sweep;
- `outputs`: the job folder, earlier results, the checkpoint to continue from;
- `naming`, `folder_lock`, `summary`, `loggers`, `schedule_check`, `robustness`: names,
  locks, printed tables, loggers, continuation checks and the corruption grid of a run;
- `sweep`: a sweep's results and failures; `catalog`: every registered method;
- `run_model`: rebuilding a run's model from its folder or checkpoint (export, analyze).

Importing this package imports none of its modules (the Hydra resolvers import `naming` alone).
"""
