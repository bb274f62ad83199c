"""The binarizers of the papers' comparison tables, each against a hand computation of its equation.

Every test names the equation (or the authors' code expression) it checks.
"""

import math

import pytest
import torch

import bnnbench.binarizers as B
from bnnbench.binarizers.irnet import libra_pb
from bnnbench.binarizers.rbnn import factor_pair
from bnnbench.binarizers.recu import recu_clamp, recu_tau
from bnnbench.binarizers.reste import reste_o
from bnnbench.binarizers.weights import build_weight
from bnnbench.blocks.conv import BinaryConv2d


def x_2x2() -> torch.Tensor:
    """One sample, two channels, 2x2: channel 0 = [1, 2, 3, -2], channel 1 = [0, -1, 0.5, 0.5]."""
    return torch.tensor([[[[1.0, 2.0], [3.0, -2.0]], [[0.0, -1.0], [0.5, 0.5]]]])


def line(*values: float) -> torch.Tensor:
    """A (1, 1, 1, n) activation or weight."""
    return torch.tensor(values).view(1, 1, 1, -1)


def grad_of(module, x: torch.Tensor, upstream: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, d(sum(output * upstream))/dx)."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    (y * (torch.ones_like(y) if upstream is None else upstream)).sum().backward()
    return y.detach(), x.grad


# --- XNOR-Net -------------------------------------------------------------------------------


def test_xnor_activation_sign_clip_ste_and_scale_k():
    # XNOR-Net: sign(x) with gradient 1_{|x| <= 1}; scale=True multiplies by A = mean_c |x| (Eq. 11)
    y, g = grad_of(B.build("xnor", 2), x_2x2())
    assert y.flatten().tolist() == [1, 1, 1, -1, 1, -1, 1, 1]
    assert g.flatten().tolist() == [1, 0, 0, 0, 1, 1, 1, 1]
    scaled = B.build("xnor", 2, scale=True)
    a = torch.tensor([0.5, 1.5, 1.75, 1.25])  # (|1|+|0|)/2, (2+1)/2, (3+0.5)/2, (2+0.5)/2
    assert torch.allclose(scaled(x_2x2()).flatten(), torch.tensor([1, 1, 1, -1, 1, -1, 1, 1.0]) * a.repeat(2))
    assert scaled.levels_per_channel != 2


def test_xnor_weight_gradient_alpha_plus_one_over_n():
    # XNOR-Net weight gradient: dL/dW = g (alpha 1_{|W| <= 1} + 1/n); alpha = mean|W| = 1, n = 4
    w = torch.tensor([[[[0.5, -1.5]], [[2.0, 0.0]]]], requires_grad=True)
    y = build_weight("xnor")(w)
    assert y.flatten().tolist() == [1, -1, 1, 1]
    y.sum().backward()
    assert w.grad.flatten().tolist() == [1.25, 0.25, 0.25, 1.25]


# --- XNOR-Net++ -----------------------------------------------------------------------------


def test_xnorpp_paper_form_learned_output_scale():
    # XNOR-Net++ Eq. 5 with Gamma per output channel: Gamma_o sign(W); Gamma init mean|W|
    # (analytic_scale=False, center=False: the paper's form alone)
    conv = BinaryConv2d(2, 2, 1, binarizer={"name": "xnorpp",
                                            "weight_options": {"analytic_scale": False, "center": False}})
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.5, 1.5, -0.2, 0.4]).view(2, 2, 1, 1))
    wb = conv.weight_binarizer
    wb.bind(conv.weight)
    assert wb.alpha.flatten().tolist() == pytest.approx([1.0, 0.3])
    y = wb(conv.weight)
    assert y.flatten().tolist() == pytest.approx([1.0, 1.0, -0.3, 0.3])
    y.sum().backward()
    # dL/dGamma_o = sum sign(W_o); dL/dW = Gamma_o 1_{|W| <= 1}
    assert wb.alpha.grad.flatten().tolist() == [2.0, 0.0]
    assert conv.weight.grad.flatten().tolist() == pytest.approx([1.0, 0.0, 0.3, 0.3])


def test_xnorpp_default_is_the_first_authors_library_form():
    # 1adrianb/binary-networks-pytorch@176424f, recipe xnor-net-plus step 1: W_c = W - mean_(C_in) W,
    # a_o = mean|W_c| (detached), weight a_o sign(W_c) with the hardtanh STE, times a learned Gamma_o
    # (init 1). By hand: W_c = [-0.5, 0.5 | -0.3, 0.3], a = [0.5, 0.3], loss = sum(c * y), c = 1..4:
    # dGamma_o = a_o sum c sign(W_c) = [0.5, 0.3]; dW_c = c Gamma a = [0.5, 1.0, 0.9, 1.2], then
    # through the centring dW = dW_c - mean_(C_in) dW_c = [-0.25, 0.25, -0.15, 0.15]
    w = torch.tensor([0.5, 1.5, -0.2, 0.4]).view(2, 2, 1, 1).requires_grad_(True)
    wb = build_weight("xnorpp")
    wb.bind(w)
    assert wb.alpha.flatten().tolist() == [1.0, 1.0]
    y = wb(w)
    assert y.flatten().tolist() == pytest.approx([-0.5, 0.5, -0.3, 0.3])
    (y * torch.arange(1.0, 5.0).view_as(y)).sum().backward()
    assert wb.alpha.grad.flatten().tolist() == pytest.approx([0.5, 0.3])
    assert w.grad.flatten().tolist() == pytest.approx([-0.25, 0.25, -0.15, 0.15])
    # against the library's expression by autograd, float64, a 3x3 conv's weight
    torch.manual_seed(0)
    w1 = (torch.randn(4, 3, 3, 3, dtype=torch.float64) * 0.7).requires_grad_(True)
    w2 = w1.detach().clone().requires_grad_(True)
    wb1 = build_weight("xnorpp")
    wb1.bind(w1)
    gamma = (torch.rand(4, 1, 1, 1, dtype=torch.float64) + 0.5).requires_grad_(True)
    with torch.no_grad():
        wb1.alpha.copy_(gamma)
    g = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    (wb1(w1) * g).sum().backward()
    x = w2 - w2.mean(1, keepdim=True)
    alpha = x.abs().sum((1, 2, 3), keepdim=True).div(x[0].numel()).detach()
    ste = x.sign().detach() + (x - x.detach()) * (x.abs() < 1)  # SignActivation: hardtanh STE
    ((ste * alpha * gamma) * g).sum().backward()
    assert torch.allclose(w1.grad, w2.grad, atol=1e-12) and torch.allclose(wb1.alpha.grad, gamma.grad, atol=1e-12)


# --- Bi-Real --------------------------------------------------------------------------------


def test_bireal_approx_sign_and_code_init():
    # Bi-Real Eq. 5: d sign / dx = 2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 elsewhere
    y, g = grad_of(B.build("bireal", 1), line(-0.5, 0.25, 1.5, 0.0))
    assert y.flatten().tolist() == [-1, 1, 1, 1]
    assert g.flatten().tolist() == [1.0, 1.5, 0.0, 2.0]
    w = BinaryConv2d(8, 8, 3, binarizer="bireal").weight  # torch.rand(...) * 0.001 in the code
    assert 0 <= w.min() and w.max() < 1e-3


# --- IR-Net ---------------------------------------------------------------------------------


def test_irnet_ede_annealed_by_set_epoch():
    # IR-Net EDE: d/dx = k t (1 - tanh^2(t x)); t = 10^(-3 + 4 e/E) (T 1e-3 -> 10, the ResNet-20
    # trainer of htqin/IR-Net@831282f), k = max(1/t, 1)
    m = B.build("irnet", 1)
    x = line(0.5, -2.0)
    _, g = grad_of(m, x)  # epoch 0: t = 1e-3, k = 1e3
    assert g.flatten().tolist() == pytest.approx([1 - math.tanh(0.0005) ** 2, 1 - math.tanh(0.002) ** 2])
    m.set_epoch(3, 4)  # t = 10^(-3 + 3) = 1, k = 1
    _, g = grad_of(m, x)
    assert g.flatten().tolist() == pytest.approx([1 - math.tanh(0.5) ** 2, 1 - math.tanh(2.0) ** 2])
    vgg = B.build("irnet", 1, t_min=0.1)  # their VGG-Small: T 0.1 -> 10, epoch 0: t = 0.1, k = 10
    _, g = grad_of(vgg, x)
    assert g.flatten().tolist() == pytest.approx([1 - math.tanh(0.05) ** 2, 1 - math.tanh(0.2) ** 2])


def test_irnet_libra_pb_weights():
    # Libra-PB: W_std = (W - mean) / std (unbiased), s = 2^round(log2 mean|W_std|)
    w = torch.tensor([1.0, 2.0, 3.0, 6.0]).view(1, 1, 1, 4)
    std = math.sqrt(14 / 3)  # centred [-2, -1, 0, 3]
    w_std, s = libra_pb(w)
    assert w_std.flatten().tolist() == pytest.approx([-2 / std, -1 / std, 0.0, 3 / std])
    assert s.item() == 0.5  # mean|W_std| = 6 / 4 / 2.160 = 0.694, log2 = -0.53 -> -1
    assert build_weight("irnet")(w).flatten().tolist() == [-0.5, -0.5, 0.5, 0.5]


# --- ReCU -----------------------------------------------------------------------------------


def test_recu_tau_schedule():
    # ReCU `cpt_tau`: A e^(e/E) + B from tau_min = 0.85 to tau_max = 0.99
    assert recu_tau(0, 10) == pytest.approx(0.85)
    assert recu_tau(10, 10) == pytest.approx(0.99)
    a = 0.14 / (math.e - 1)
    assert recu_tau(5, 10) == pytest.approx(a * math.exp(0.5) + 0.85 - a)


def test_recu_weight_clamp_and_gradient():
    # ReCU: W1 = (W - mean) / (sqrt(var + 1e-5) / (2 sqrt 2)), Q = -mean|W1| ln(2 - 2 tau)
    w = torch.tensor([1.0, 2.0, 3.0, 6.0]).view(1, 1, 1, 4).requires_grad_(True)
    c = 2 * math.sqrt(2) / math.sqrt(14 / 3 + 1e-5)
    w1 = [-2 * c, -c, 0.0, 3 * c]
    q = -(sum(abs(v) for v in w1) / 4) * math.log(2 - 2 * 0.85)
    assert recu_clamp(w, 0.85).flatten().tolist() == pytest.approx([max(-q, v) if v < 0 else min(q, v) for v in w1])
    wb = build_weight("recu")
    wb.bind(w)
    y = wb(w)
    assert (y / wb.alpha).flatten().tolist() == pytest.approx([-1, -1, 1, 1])
    # gradient: identity through the sign, 0 where the clamp is active (|W1| > Q: entries 0 and 3)
    (y * torch.tensor([1.0, 2.0, 3.0, 4.0]).view_as(y)).sum().backward()
    ref = w.detach().clone().requires_grad_(True)
    centred = ref - ref.mean()
    w1_ref = centred / (torch.sqrt(centred.var() + 1e-5) / 2 / math.sqrt(2))
    (w1_ref.clamp(-q, q) * wb.alpha.detach().flatten() * torch.tensor([1.0, 2.0, 3.0, 4.0]).view_as(y)).sum().backward()
    assert torch.allclose(w.grad, ref.grad, atol=1e-6)


@pytest.mark.parametrize("name,center", [("recu", False), ("siman", True)])
def test_standardized_activation_matches_authors_expression(name, center):
    # ReCU: a / sqrt(var(a) + 1e-5); SiMaN: (a - mean) / sqrt(var + 1e-5), per sample over (C, H, W);
    # sign with the gradient (2 - |2 v|)_+, taken through the statistics
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 5) * 0.7 + 0.2
    g = torch.randn(2, 3, 4, 5)
    y, ours = grad_of(B.build(name, 3), x, g)
    ref_x = x.clone().requires_grad_(True)
    a = ref_x - ref_x.mean((1, 2, 3), keepdim=True) if center else ref_x
    v = a / torch.sqrt(a.var((1, 2, 3), keepdim=True) + 1e-5)
    surrogate = (2 - (2 * v).abs()).clamp_min(0)
    (v * surrogate.detach() * g).sum().backward()  # d/dv of the surrogate path is (2 - |2v|)_+
    assert torch.equal(y, torch.where(v >= 0, 1.0, -1.0).detach())
    assert torch.allclose(ours, ref_x.grad, atol=1e-5)


# --- DoReFa ---------------------------------------------------------------------------------


def test_dorefa_activation_and_weight():
    # DoReFa k = 1: round(clip(x, 0, 1)) in {0, 1}, gradient 1 on [0, 1]
    y, g = grad_of(B.build("dorefa", 1), line(-0.5, 0.25, 0.5, 0.75, 1.2))
    assert y.flatten().tolist() == [0, 0, 1, 1, 1]
    assert g.flatten().tolist() == [0, 1, 1, 1, 0]
    # weights: E(|W|) sign(W), one E per layer, straight-through gradient (no clipping)
    w = torch.tensor([[[[0.5, -1.5]], [[2.0, 0.0]]], [[[-0.2, -0.2]], [[0.2, 0.6]]]], requires_grad=True)
    yw = build_weight("dorefa")(w)
    e = (0.5 + 1.5 + 2 + 0 + 0.2 + 0.2 + 0.2 + 0.6) / 8
    assert yw.flatten().tolist() == pytest.approx([e, -e, e, e, -e, -e, e, e])
    yw.sum().backward()
    assert w.grad.flatten().tolist() == [1.0] * 8


# --- RBNN -----------------------------------------------------------------------------------


def test_rbnn_factor_pair_and_training_aware_gradient():
    # RBNN `get_ab`: a = largest divisor <= sqrt(n); the cited commit's activation (standardize=False):
    # sign(x) with the gradient k (sqrt 2 t - t^2 |x|)_+
    assert [factor_pair(n) for n in (2304, 9, 7, 12)] == [(48, 48), (3, 3), (1, 7), (3, 4)]
    m = B.build("rbnn", 1, standardize=False)
    m.set_epoch(2, 3)  # t = 10^(-2 + 3 * 2/3) = 1, k = 1
    _, g = grad_of(m, line(0.5, -1.0, 2.0))
    assert g.flatten().tolist() == pytest.approx([math.sqrt(2) - 0.5, math.sqrt(2) - 1.0, 0.0])


def test_rbnn_released_activation_standardises_each_sample():
    # lmbxmu/RBNN@6c96079: a2 = (a - mean) / std over (C, H, W) (unbiased, no eps), sign(a2) with
    # `BinaryQuantize_a`: k = 1, t' = max(t, 1), gradient (sqrt 2 t' - t'^2 |a2|)_+ through mean and std
    torch.manual_seed(0)
    m = B.build("rbnn", 2)
    m.set_epoch(0, 10)  # t = 0.01 < 1: t' = 1
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    ref = x.detach().clone().requires_grad_(True)
    g = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    y = m(x)
    (y * g).sum().backward()
    a1 = ref - ref.mean((1, 2, 3), keepdim=True)
    a2 = a1 / a1.std((1, 2, 3), keepdim=True)
    surrogate = (math.sqrt(2) - a2.abs()).clamp_min(0)
    ((torch.where(a2 >= 0, 1.0, -1.0).detach() + (a2 - a2.detach()) * surrogate.detach()) * g).sum().backward()
    assert torch.equal(y, torch.where(a2 >= 0, 1.0, -1.0).detach())
    assert torch.allclose(x.grad, ref.grad, atol=1e-12)
    # its threshold is a per-sample mean (a run-time statistic): no export rule; the cited form has one
    assert m.export_code() is None and B.build("rbnn", 2, standardize=False).export_code() is not None


def test_rbnn_released_theta_init_leaves_the_latent_weights_without_gradient():
    # the released code starts theta at pi/2 (float32): |sin theta| = 1, so dL/dW = ... (1 - |sin theta|)
    # = 0 and dL/dtheta carries cos theta (-4.4e-8); the cited commit drew theta uniform in [0, pi/2)
    torch.manual_seed(0)
    conv = BinaryConv2d(4, 3, 3, binarizer="rbnn")
    assert torch.equal(conv.weight_binarizer.theta, torch.full((3, 1, 1, 1), math.pi / 2))
    conv(torch.randn(2, 4, 5, 5)).square().sum().backward()
    assert torch.count_nonzero(conv.weight.grad) == 0
    assert 0 < float(conv.weight_binarizer.theta.grad.abs().max()) < 1e-5
    cited = BinaryConv2d(4, 3, 3, binarizer={"name": "rbnn", "weight_options": {"theta_init": "uniform"}})
    theta = cited.weight_binarizer.theta
    assert float(theta.min()) >= 0 and float(theta.max()) < math.pi / 2


def test_rbnn_refits_the_rotation_once_per_epoch_or_every_step():
    # released: on the first training batch of each epoch (its main.py sets epoch -1 from batch 2);
    # cited 75a304b (refit="step"): every training forward
    torch.manual_seed(0)
    for refit, fits in (("epoch", [True, False, False, True]), ("step", [True, True, True, True])):
        conv = BinaryConv2d(4, 3, 3, binarizer={"name": "rbnn", "weight_options": {"refit": refit}})
        wb = conv.weight_binarizer
        seen = []
        for epoch in (0, 0, 0, 1):
            wb.set_epoch(epoch, 4)
            with torch.no_grad():
                wb.r1.copy_(torch.eye(6))  # a fit changes R1 away from the identity
            wb(conv.weight)
            seen.append(not torch.equal(wb.r1, torch.eye(6)))
        assert seen == fits, refit


def test_rbnn_rotation_and_weight():
    torch.manual_seed(0)
    conv = BinaryConv2d(4, 3, 3, binarizer="rbnn")
    wb = conv.weight_binarizer
    assert (wb.a, wb.b) == (6, 6)
    eye = torch.eye(6)
    x = torch.randn(3, 6, 6)

    def fit(r1, r2):  # RBNN objective: sum_i tr(B_i^T R1^T X_i R2), B = sign(R1^T X R2)
        return (r1.T @ x @ r2).abs().sum().item()

    before = fit(wb.r1, wb.r2)
    wb.fit_rotation(x)
    assert torch.allclose(wb.r1.T @ wb.r1, eye, atol=1e-5) and torch.allclose(wb.r2 @ wb.r2.T, eye, atol=1e-5)
    assert fit(wb.r1, wb.r2) >= before
    # theta = 0: W3 = W_std, output alpha sign(W_std); |sin theta| = 1: sign of the rotated weight
    wb.eval()
    w = conv.weight.detach()
    w_std = (w - w.mean((1, 2, 3), keepdim=True)) / w.flatten(1).std(1).view(-1, 1, 1, 1)
    with torch.no_grad():
        wb.theta.zero_()
        assert torch.equal(wb(w), wb.alpha * torch.where(w_std >= 0, 1.0, -1.0))
        wb.theta.fill_(math.pi / 2)
        rotated = (wb.r1.T @ w_std.reshape(3, 6, 6) @ wb.r2).reshape_as(w)
        assert torch.equal(wb(w), wb.alpha * torch.where(rotated >= 0, 1.0, -1.0))


# --- SiMaN ----------------------------------------------------------------------------------


def test_siman_weight_codes_the_larger_half():
    # SiMaN: B = 1 on the n//2 largest |W_std|, output alpha (2B - 1), gradient of |W_std|
    w = torch.tensor([0.1, -3.0, 2.0, 0.5]).view(1, 1, 1, 4).requires_grad_(True)
    wb = build_weight("siman")
    wb.bind(w)
    y = wb(w)
    alpha = (0.1 + 3 + 2 + 0.5) / 4
    assert y.flatten().tolist() == pytest.approx([-alpha, alpha, alpha, -alpha])
    y.sum().backward()
    ref = w.detach().clone().requires_grad_(True)
    c = ref - ref.mean()
    (alpha * (c / torch.sqrt(c.var() + 1e-5)).abs()).sum().backward()
    assert torch.allclose(w.grad, ref.grad, atol=1e-6)
    wb.eval()  # evaluation keeps the code chosen in training
    assert torch.equal(wb(-w.detach()), y.detach())


def test_siman_clips_the_latent_weights_at_percentiles_each_training_step():
    # lmbxmu/SiMaN@68664c0 cifar/main.py: percent = 15 (1 - e/E); binarized_modules.py: W_c = W - mean_o,
    # W <- clamp(|W_c|, P_p, P_(100-p)) sign(W_c), percentiles (numpy, linear) over the whole layer
    import numpy as np

    from bnnbench.binarizers.spec import BinarizerSpec

    w0 = torch.tensor([[0.1, -3.0, 2.0, 0.5, 1.2], [0.3, 0.2, -0.7, 4.0, -1.1]]).view(2, 1, 1, 5)
    w = w0.clone().requires_grad_(True)
    wb = build_weight("siman")
    wb.bind(w)
    assert wb.percent == 15.0
    wb(w)
    centred = (w0 - w0.mean(dim=(1, 2, 3), keepdim=True)).numpy()
    low, high = np.percentile(np.abs(centred).ravel(), [15.0, 85.0])
    want = np.clip(np.abs(centred), low, high) * np.sign(centred)
    assert np.allclose(w.detach().numpy(), want, atol=1e-6)
    wb.set_epoch(2, 4)  # p = 15 (1 - 2/4)
    assert wb.percent == 7.5
    wb.eval()
    before = w.detach().clone()
    wb(w)  # evaluation leaves the weights as they are
    assert torch.equal(w.detach(), before)
    # clip_percent 0: centring only (the cited d06a22d's default); 5: commit 0f608a6's --percent
    only = w0.clone()
    centring = build_weight("siman", clip_percent=0)
    centring.bind(only)
    centring(only)
    assert torch.allclose(only, torch.from_numpy(centred), atol=1e-7)
    spec = BinarizerSpec.of({"name": "siman", "weight_options": {"clip_percent": 5}})
    assert spec.weight_binarizer().clip_percent == 5.0
    with pytest.raises(ValueError, match="weight binarizer 'siman' .* has no option 'clip': valid options are clip_percent"):
        BinarizerSpec.of({"name": "siman", "weight_options": {"clip": 5}})


def test_siman_activation_thresholds_at_the_sample_mean():
    # SiMaN: sign((x - mean_CHW) / std) = sign(x - mean_CHW); mean of x_2x2 = 4 / 8 = 0.5
    y = B.build("siman", 2)(x_2x2())
    assert y.flatten().tolist() == [1, 1, 1, -1, -1, -1, 1, 1]


# --- ReSTE ----------------------------------------------------------------------------------


def test_reste_gradient_and_schedule():
    # ReSTE: d/dx sign(x)|x|^(1/o) = (1/o)|x|^((1-o)/o) for 0.1 < |x| <= 1.5, the secant
    # 0.1^(1/o) / 0.1 below 0.1, 0 beyond; o = 1 + (o_end - 1)(1 - cos(pi/2 e/E)), o_end = 3
    assert [reste_o(0, 10), reste_o(10, 10)] == pytest.approx([1.0, 3.0])
    assert reste_o(5, 10) == pytest.approx(1 + 2 * (1 - math.cos(math.pi / 4)))
    m = B.build("reste", 1)
    x = line(0.8, -0.05, 2.0, 1.5)
    _, g = grad_of(m, x)  # o = 1: the clipped STE with t = 1.5
    assert g.flatten().tolist() == pytest.approx([1.0, 1.0, 0.0, 1.0])
    m.set_epoch(10, 10)  # o = 3
    _, g = grad_of(m, x)
    assert g.flatten().tolist() == pytest.approx([0.8 ** (-2 / 3) / 3, 0.1 ** (1 / 3) / 0.1, 0.0, 1.5 ** (-2 / 3) / 3])


def test_reste_weight_scale_takes_gradient():
    # ReSTE code: bw = ReSTE(W) * mean|W| (layer-wise, not detached): dL/dW_i = E g_i s'(W_i) + sign(W_i)/N sum g sign(W)
    w = torch.tensor([0.5, -0.25, 1.0, -2.0]).view(1, 1, 1, 4).requires_grad_(True)
    y = build_weight("reste")(w)
    e = 3.75 / 4
    assert y.flatten().tolist() == pytest.approx([e, -e, e, -e])
    g = torch.tensor([1.0, 2.0, 3.0, 4.0]).view_as(y)
    (y * g).sum().backward()
    s = torch.tensor([1.0, -1.0, 1.0, -1.0])
    inside = torch.tensor([1.0, 1.0, 1.0, 0.0])  # o = 1: |W| <= 1.5
    expected = e * g.flatten() * inside + s * (g.flatten() * s).sum() / 4
    assert torch.allclose(w.grad.flatten(), expected)


# --- INSTA-BNN ------------------------------------------------------------------------------


def test_insta_threshold_from_the_third_moment():
    # INSTA-Th: sign(x - (k cbrt(E_hw[x^3]) + b)) per sample and channel, ApproxSign backward
    m = B.build("insta", 2)
    with torch.no_grad():
        m.k.copy_(torch.tensor([0.5, 2.0]).view(1, 2, 1, 1))
        m.b.copy_(torch.tensor([0.1, 0.0]).view(1, 2, 1, 1))
    # channel 0: E[x^3] = (1 + 8 + 27 - 8) / 4 = 7; channel 1: (0 - 1 + 0.125 + 0.125) / 4 = -0.1875
    thr = torch.tensor([0.5 * 7 ** (1 / 3) + 0.1, -2 * 0.1875 ** (1 / 3)])
    assert torch.allclose(m.threshold(x_2x2()).flatten(), thr)
    y, g = grad_of(m, x_2x2())
    xs = x_2x2() - thr.view(1, 2, 1, 1)
    assert y.flatten().tolist() == torch.where(xs >= 0, 1.0, -1.0).flatten().tolist()
    assert torch.allclose(g, (2 - 2 * xs.abs()).clamp_min(0))


@pytest.mark.parametrize("shape", [(6, 4, 3, 3), (6, 1, 3, 3), (3, 1, 1, 1)])
def test_irnet_fused_weight_equals_autograd_through_libra_pb(shape):
    # IR-Net Eq. 5-6 and 10: the one-Function form saves W only, and must equal autograd through
    # (W - mean) / std, s = 2^round(log2 mean|W_std|) detached, and EDE
    torch.manual_seed(0)
    from bnnbench.binarizers.ste import ede

    wb = build_weight("irnet")
    wb.set_epoch(3, 10)
    w1 = torch.randn(shape, requires_grad=True)
    w2 = w1.detach().clone().requires_grad_()
    g = torch.randn(shape)
    out1 = wb(w1)
    w_std, s = libra_pb(w2)
    out2 = ede(w_std, wb.t, wb.k) * s
    assert torch.equal(out1, out2)
    (out1 * g).sum().backward()
    (out2 * g).sum().backward()
    if shape[1:] == (1, 1, 1):  # a one-weight filter centres to 0 whatever W: no gradient (autograd: NaN)
        assert torch.equal(w1.grad, torch.zeros(shape))
        return
    assert torch.allclose(w1.grad, w2.grad, atol=1e-5, rtol=1e-4)
