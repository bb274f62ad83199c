"""The seed papers' analysis figures for a trained run: `python -m bnnbench.analyze ckpt=... what=...`.

One module per figure, each with the pure computation (tested against known answers) and a
`run(context, options, progress)` that writes its CSV and PNG files:

- `entropy`: entropy (bits) of each binary layer's binarized activations (BiDense Eq. 3, Figs. 3, 6d);
- `dab_params`: per-block distributions of DAB's k, b, a (BiDense Fig. 6a-c);
- `hessian`: top-k Hessian eigenvalues of the training loss by Lanczos on HVPs (BD-Net Fig. 5);
- `landscape`: 1-D and 2-D loss landscapes on filter-normalised directions (Li et al. 2018;
  BD-Net Figs. 2, 6; ES-BNN Fig. 6);
- `capacity`: representation capacity per binary layer, with and without ES (ES-BNN Sec. 3.1, Fig. 4);
- `replicas`: mean |correlation| between replicated feature maps per ES layer (ES-BNN Fig. 7).
"""

from __future__ import annotations

ANALYSES = ("entropy", "dab_params", "hessian", "landscape", "capacity", "replicas")


class AnalysisUnavailable(ValueError):
    """An analysis this run's model cannot take (the message says what it needs)."""


__all__ = ["ANALYSES", "AnalysisUnavailable"]
