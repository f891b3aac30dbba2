//===- SpinQuantLearn.cpp - Learning SpinQuant's R1/R2 with libtorch -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// SpinQuant (Liu et al., ICLR 2025, arXiv:2405.16406): with norms folded, an
// orthogonal R1 [D, D] on the residual stream and one R2 [d, d] per layer on
// the heads of V leave the float network unchanged (QuaRot.cpp fuses them),
// but change how well weights and activations quantize. SpinQuant minimizes
// the loss of the *quantized* network over R = {R1, R2_l} on the Stiefel
// manifold (RᵀR = I) with Cayley SGD (Li, Li and Todorovic, ICLR 2020,
// arXiv:2002.01113):
//
//     G = ∂L/∂R (Euclidean, through straight-through fake quantization)
//     Ŵ = -GᵀR + ½ RᵀR GᵀR,  W = Ŵ - Ŵᵀ          (skew: a tangent direction)
//     α = min(lr, 1 / ‖W‖₁)
//     Rᵀ ← (I - α/2 W)⁻¹ (I + α/2 W) Rᵀ            (Cayley transform: orthogonal)
//
// solved exactly in float64 (no fixed-point iteration), lr on a cosine
// schedule to 0. This is tools/spinquant/learn.py ported one-to-one to
// libtorch's C++ API (same operations in the same order and precision, so on
// the same batches both give the same R1/R2: test/Transforms/
// spinquant-learn.test). The rotated network, in the passes' row-vector
// convention (weights here are [in, out], y = x W):
//   E' = E R1; q/k/v/gate/up/lm_head W' = R1ᵀ W; o_proj W' = R2ᵀ W R1 (R2
//   block-diagonal per head); v_proj W' = R1ᵀ W R2; down_proj: online
//   Hadamard R4 on its input (x -> x T4), W' = T4ᵀ W R1.
// Fake quantization: weights symmetric RTN per output channel and group of
// `group` inputs (absmax / (2^(b-1) - 1)); activations symmetric per token at
// run time; every linear including lm_head; round() has gradient 1.
// Master weights and rotations are float64, the forward float32.
//
//===----------------------------------------------------------------------===//

#include "SpinQuantLearn.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using torch::Tensor;
namespace F = torch::nn::functional;

struct RoundSTE : torch::autograd::Function<RoundSTE> {
  static Tensor forward(torch::autograd::AutogradContext *, Tensor x) {
    return torch::round(x);
  }
  static torch::autograd::variable_list
  backward(torch::autograd::AutogradContext *,
           torch::autograd::variable_list g) {
    return {g[0]};
  }
};

/// w [K, N] (y = x w): symmetric RTN per output column and group of K.
Tensor fqWeight(const Tensor &w, int bits, int64_t group) {
  if (bits >= 16)
    return w;
  const int64_t K = w.size(0), N = w.size(1);
  const int64_t g = group > 0 && K % group == 0 ? group : K;
  const double qmax = std::pow(2.0, bits - 1) - 1;
  Tensor wg = w.reshape({K / g, g, N});
  Tensor s = wg.abs().amax({1}, /*keepdim=*/true).clamp_min(1e-12) / qmax;
  Tensor q = torch::clamp(RoundSTE::apply(wg / s), -qmax, qmax);
  return (q * s).reshape({K, N});
}

/// Symmetric per-token (last dim) dynamic quantization.
Tensor fqAct(const Tensor &x, int bits) {
  if (bits >= 16)
    return x;
  const double qmax = std::pow(2.0, bits - 1) - 1;
  Tensor s = x.abs().amax({-1}, /*keepdim=*/true).clamp_min(1e-12) / qmax;
  return torch::clamp(RoundSTE::apply(x / s), -qmax, qmax) * s;
}

/// RoPE on the last dimension: pair i is (i, i + hd/2) (rotate-half, HF
/// Llama) or (2i, 2i+1) (`interleaved`, llama2.c / GPT-J); cos/sin are
/// [T, hd/2], one angle per pair.
Tensor rope(const Tensor &x, const Tensor &cos, const Tensor &sin,
            bool interleaved) {
  const int64_t h = x.size(-1) / 2;
  using torch::indexing::None;
  using torch::indexing::Slice;
  using torch::indexing::Ellipsis;
  if (interleaved) {
    Tensor x0 = x.index({Ellipsis, Slice(0, None, 2)});
    Tensor x1 = x.index({Ellipsis, Slice(1, None, 2)});
    return torch::stack({x0 * cos - x1 * sin, x0 * sin + x1 * cos}, -1)
        .flatten(-2);
  }
  return x * torch::cat({cos, cos}, -1) +
         torch::cat({-x.index({Ellipsis, Slice(h, None)}),
                     x.index({Ellipsis, Slice(None, h)})},
                    -1) *
             torch::cat({sin, sin}, -1);
}

Tensor blockdiag(const Tensor &R, int64_t n) {
  std::vector<Tensor> parts(n, R);
  return torch::block_diag(parts);
}

struct Layer {
  Tensor q, k, v, o, gate, up, down; // [in, out], float64
};

/// The norm-folded network (float64 master copies, float32 compute).
struct Model {
  Tensor E, head; // [V, D], [D, V]
  std::vector<Layer> layers;
  int64_t H, KV, hd, hidden, D, V;
  double theta, eps;
  bool interleaved;

  explicit Model(const lq_spinquant_problem_t &p) {
    auto in = [](const float *w, int64_t out, int64_t inDim) {
      // [out, in] f32 -> [in, out] f64
      return torch::from_blob(const_cast<float *>(w), {out, inDim}, torch::kFloat)
          .to(torch::kDouble)
          .t()
          .contiguous();
    };
    D = p.dim, V = p.vocab, H = p.heads, KV = p.kv_heads, hd = p.head_dim;
    hidden = p.hidden, theta = p.rope_theta, eps = p.eps;
    interleaved = p.rope_interleaved != 0;
    E = torch::from_blob(const_cast<float *>(p.embedding), {V, D}, torch::kFloat)
            .to(torch::kDouble);
    head = in(p.lm_head, V, D);
    for (int64_t l = 0; l < p.layers; ++l) {
      const lq_spinquant_layer_t &s = p.layer[l];
      layers.push_back({in(s.q, H * hd, D), in(s.k, KV * hd, D),
                        in(s.v, KV * hd, D), in(s.o, D, H * hd),
                        in(s.gate, hidden, D), in(s.up, hidden, D),
                        in(s.down, D, hidden)});
    }
  }
};

struct Quant {
  int wbits, abits;
  int64_t group;
};

/// Logits [B, T, V] of the rotated (R1 defined), fake-quantized network.
Tensor forward(const Model &m, const Tensor &ids, const Tensor &R1,
               const std::vector<Tensor> &R2s, const Tensor &T4, Quant qz) {
  const auto f32 = torch::kFloat;
  auto lin = [&](const Tensor &x, const Tensor &w) {
    return torch::matmul(fqAct(x, qz.abits), fqWeight(w.to(f32), qz.wbits, qz.group));
  };
  const int64_t B = ids.size(0), T = ids.size(1), hd = m.hd;
  Tensor inv = 1.0 / torch::pow(m.theta, torch::arange(0, hd, 2, torch::kDouble) / double(hd));
  Tensor fr = torch::outer(torch::arange(T, torch::kDouble), inv);
  Tensor cos = torch::cos(fr).to(f32), sin = torch::sin(fr).to(f32);
  Tensor mask = torch::full({T, T}, -std::numeric_limits<float>::infinity()).triu(1);
  const bool rot = R1.defined();
  Tensor x = rot ? torch::matmul(m.E, R1).to(f32).index({ids})
                 : m.E.to(f32).index({ids});
  auto rms = [&](const Tensor &x) {
    return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + m.eps);
  };
  auto rin = [&](const Tensor &w) { return rot ? torch::matmul(R1.t(), w) : w; };
  auto rout = [&](const Tensor &w) { return rot ? torch::matmul(w, R1) : w; };
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const Layer &p = m.layers[l];
    Tensor wv = rin(p.v), wo = rout(p.o);
    if (!R2s.empty()) {
      wv = torch::matmul(wv, blockdiag(R2s[l], m.KV));
      wo = torch::matmul(blockdiag(R2s[l], m.H).t(), wo);
    }
    Tensor wdown = rout(p.down);
    if (T4.defined())
      wdown = torch::matmul(T4.t(), wdown);
    Tensor h = rms(x);
    Tensor q = lin(h, rin(p.q)).view({B, T, m.H, hd}).transpose(1, 2);
    Tensor k = lin(h, rin(p.k)).view({B, T, m.KV, hd}).transpose(1, 2);
    Tensor v = lin(h, wv).view({B, T, m.KV, hd}).transpose(1, 2);
    q = rope(q, cos, sin, m.interleaved);
    k = rope(k, cos, sin, m.interleaved);
    const int64_t rep = m.H / m.KV;
    k = k.repeat_interleave(rep, 1);
    v = v.repeat_interleave(rep, 1);
    Tensor a = torch::softmax(
        torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(hd)) + mask, -1);
    Tensor o = torch::matmul(a, v).transpose(1, 2).reshape({B, T, m.H * hd});
    x = x + lin(o, wo);
    h = rms(x);
    Tensor g = lin(h, rin(p.gate));
    Tensor u = lin(h, rin(p.up));
    Tensor z = F::silu(g) * u;
    if (T4.defined())
      z = torch::matmul(z, T4.to(f32));
    x = x + lin(z, wdown);
  }
  Tensor head = rot ? torch::matmul(R1.t(), m.head) : m.head;
  return lin(rms(x), head);
}

/// Mean next-token cross-entropy of logits [B, T, V] on ids [B, T].
Tensor nextTokenCE(const Tensor &logits, const Tensor &ids) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  const int64_t V = logits.size(-1);
  return F::cross_entropy(logits.index({Slice(), Slice(None, -1)}).reshape({-1, V}),
                          ids.index({Slice(), Slice(1, None)}).reshape({-1}));
}

/// One step of Li et al.'s Cayley SGD (no momentum, as SpinQuant) on an
/// orthogonal R [n, n] with Euclidean gradient G; returns the new R.
Tensor cayleyStep(const Tensor &R, const Tensor &G, double lr) {
  torch::NoGradGuard noGrad;
  const int64_t n = R.size(0);
  Tensor MX = torch::matmul(-G.t(), R);
  Tensor What = MX - 0.5 * torch::matmul(R.t(), torch::matmul(R, MX));
  Tensor W = What - What.t();
  double alpha = std::min(
      lr, 1.0 / (W.abs().sum(0).max().item<double>() + 1e-8));
  Tensor I = torch::eye(n, R.options());
  Tensor Y = torch::linalg::solve(I - 0.5 * alpha * W,
                                  torch::matmul(I + 0.5 * alpha * W, R.t()),
                                  /*left=*/true);
  return Y.t();
}

Tensor f64(const double *p, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<double *>(p), shape, torch::kDouble).clone();
}

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int fail(lq_spinquant_problem_t *p, const std::string &msg) {
  std::snprintf(p->error, sizeof p->error, "%s", msg.c_str());
  return 1;
}

std::string checkProblem(const lq_spinquant_problem_t &p) {
  if (p.abi_version != LQ_SPINQUANT_ABI_VERSION)
    return "ABI version " + std::to_string(p.abi_version) + ", the plugin has " +
           std::to_string(LQ_SPINQUANT_ABI_VERSION) + " (rebuild both)";
  if (p.heads <= 0 || p.kv_heads <= 0 || p.heads % p.kv_heads || p.head_dim % 2)
    return "bad head counts";
  return "";
}

int learn(lq_spinquant_problem_t *p) {
  if (std::string e = checkProblem(*p); !e.empty())
    return fail(p, e);
  if (p->threads > 0)
    torch::set_num_threads(p->threads);
  const Model m(*p);
  const Quant qz{p->wbits, p->abits, p->group};
  const Quant none{16, 16, p->group};
  Tensor seqs = torch::from_blob(const_cast<int64_t *>(p->tokens),
                                 {p->num_seqs, p->seq_len}, torch::kLong)
                    .clone();
  const int64_t ntrain = p->num_seqs - p->heldout;
  if (ntrain < 1 || p->heldout < 1)
    return fail(p, "need at least one sequence to learn on and one held out");
  using torch::indexing::None;
  using torch::indexing::Slice;
  Tensor train = seqs.index({Slice(None, ntrain)});
  Tensor held = seqs.index({Slice(ntrain, None)});

  Tensor R1 = f64(p->r1_start, {m.D, m.D});
  std::vector<Tensor> R2;
  for (int64_t l = 0; l < int64_t(m.layers.size()); ++l)
    R2.push_back(f64(p->r2_start, {m.hd, m.hd}));
  Tensor T4 = f64(p->t4, {m.hidden, m.hidden});

  auto loss = [&](const Tensor &ids, const Tensor &r1,
                  const std::vector<Tensor> &r2, bool kl) {
    Tensor logits = forward(m, ids, r1, r2, T4, qz);
    if (kl) {
      Tensor ref;
      {
        torch::NoGradGuard g;
        ref = torch::log_softmax(forward(m, ids, Tensor(), {}, Tensor(), none), -1);
      }
      const int64_t V = logits.size(-1);
      return F::kl_div(torch::log_softmax(logits, -1).reshape({-1, V}),
                       ref.reshape({-1, V}),
                       F::KLDivFuncOptions().reduction(torch::kBatchMean).log_target(true));
    }
    return nextTokenCE(logits, ids);
  };
  auto heldLoss = [&](const Tensor &r1, const std::vector<Tensor> &r2) {
    torch::NoGradGuard g;
    return loss(held, r1, r2, false).item<double>();
  };
  {
    torch::NoGradGuard g;
    p->float_ce = nextTokenCE(forward(m, held, Tensor(), {}, Tensor(), none), held)
                      .item<double>();
    p->norot_ce = nextTokenCE(forward(m, held, Tensor(), {}, Tensor(), qz), held)
                      .item<double>();
  }
  const auto t0 = std::chrono::steady_clock::now();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto report = [&](const lq_spinquant_step_t &s) {
    p->curve[s.step] = s;
    if (p->progress)
      p->progress(p->progress_ctx, &s);
  };
  report({0, 0.0, nan, heldLoss(R1, R2), seconds(t0)});
  for (int64_t step = 1; step <= p->steps; ++step) {
    const double lr =
        0.5 * p->lr * (1 + std::cos(M_PI * double(step - 1) / double(p->steps)));
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < p->batch; ++i)
      idx.push_back(((step - 1) * p->batch + i) % ntrain);
    Tensor batch = train.index({torch::tensor(idx, torch::kLong)});
    Tensor P1 = R1.clone().requires_grad_(true);
    std::vector<Tensor> P2;
    for (const Tensor &r : R2)
      P2.push_back(r.clone().requires_grad_(true));
    Tensor l = loss(batch, P1, P2, p->loss_kl != 0);
    l.backward();
    R1 = cayleyStep(R1, P1.grad(), lr);
    for (size_t i = 0; i < R2.size(); ++i)
      R2[i] = cayleyStep(R2[i], P2[i].grad(), lr);
    const bool eval = (p->eval_every > 0 && step % p->eval_every == 0) ||
                      step == p->steps;
    double hl = eval ? heldLoss(R1, R2) : nan;
    report({step, lr, l.item<double>(), hl, seconds(t0)});
  }
  Tensor r1 = R1.contiguous();
  std::memcpy(p->r1, r1.data_ptr<double>(), sizeof(double) * m.D * m.D);
  for (size_t l = 0; l < R2.size(); ++l) {
    Tensor r = R2[l].contiguous();
    std::memcpy(p->r2 + l * m.hd * m.hd, r.data_ptr<double>(),
                sizeof(double) * m.hd * m.hd);
  }
  return 0;
}

} // namespace

extern "C" int lq_spinquant_learn(lq_spinquant_problem_t *p) {
  try {
    return learn(p);
  } catch (const std::exception &e) {
    return fail(p, std::string("libtorch: ") + e.what());
  }
}
