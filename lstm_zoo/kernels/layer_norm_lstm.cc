// Native CPU time loops for the layer-normalised LSTM (Ba, Kiros & Hinton 2016;
// lstm_zoo/cells/layer_norm.py), forward (training and inference) and backward.
//
// The caller (lstm_zoo/kernels/layer_norm_lstm.py) hands over xz = LN(x W; g_x, b_x) + b of
// every step ([time, batch, 4 units], the cell's `input_projection`), U, the states and the
// recurrent and state norms' gains and biases. Per step, with h_in = h * (recurrent dropout
// mask), LN(v; g, b) = (v - mean v) / sqrt(var v + eps) * g + b over the row:
//
//   hz = h_in U                    (one GEMM, U packed once per call)
//   z  = xz + LN(hz; g_h, b_h)     (over all 4 units of the row)
//   i, f, o = sigma(z_i, z_f, z_o);  g = phi(z_c);  c = f c' + i g
//   h  = o phi(LN(c; g_c, b_c))    (over the units; the carried state is c itself)
//
// Both norms reduce over a whole row, so work is split by batch rows only: each range of rows
// runs every step on its own thread with the whole U, without any barrier. The backward, per
// step from the last (x^ the normalised values, s = 1 / sqrt(var + eps)):
//
//   dh = dh_carried + d h_seq[t];  dc^ = dh o (1 - phi(c^)^2);  dz_o = dh phi(c^) o (1 - o)
//   LN back (c):  dc = dc_carried + s_c (d - mean d - x^_c mean(d x^_c)),  d = dc^ g_c
//   dz_i = dc g i (1 - i);  dz_f = dc c' f (1 - f);  dz_g = dc i (1 - g^2);  dc_carried = dc f
//   LN back (hz): dhz = s_h (e - mean e - x^_h mean(e x^_h)),  e = dz g_h
//   dh_carried = (dhz U^T) * (dropout mask)
//
// and returns d xz = dz, dhz (the caller forms dU = H_in^T dHZ as one TensorFlow MatMul), the
// initial states' gradients and those of the norms' gains and biases (sums over steps and
// rows: d g_h = sum dz x^_h, d b_h = sum dz, d g_c = sum dc^ x^_c, d b_c = sum dc^). Masked
// steps carry h and c through; their gradients go straight back.

#include "kernel_common.h"
#include "row_sums.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace lstm_zoo {
namespace {

using tensorflow::DEVICE_CPU;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::errors::InvalidArgument;

// ----------------------------------------------------------------------------- forward
// Inputs: 0 xz [T, B, 4N], 1 kernel [N, 4N], 2 h0 [B, N], 3 c0 [B, N], 4 norms [2, 4N]
// (g_h; b_h), 5 state_norm [2, N] (g_c; b_c), 6 mask [T, B] or [0], 7 dropout [B, N] or [0].
// Outputs: 0 h_seq [T, B, N], 1 c_seq, 2 gates (activated) [T, B, 4N], 3 x^_h [T, B, 4N],
// 4 stats [T, B, 3] (s_h, mean c, s_c), 5 h_final, 6 c_final. 1-4 have 0 steps at inference.
class LayerNormForwardOp : public OpKernel {
 public:
  explicit LayerNormForwardOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("training", &training_));
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
    OP_REQUIRES_OK(context, context->GetAttr("epsilon", &epsilon_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& xz_t = context->input(0);
    const Tensor& kernel_t = context->input(1);
    OP_REQUIRES(context, xz_t.dims() == 3 && kernel_t.dims() == 2,
                InvalidArgument("xz must be [time, batch, 4 units] and kernel [units, 4 units]"));
    const int64_t T = xz_t.dim_size(0), B = xz_t.dim_size(1), N = kernel_t.dim_size(0);
    const int64_t G = 4 * N;
    OP_REQUIRES_OK(context, CheckShape(kernel_t, {N, G}, "kernel", false));
    OP_REQUIRES_OK(context, CheckShape(xz_t, {T, B, G}, "xz", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(2), {B, N}, "h0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(3), {B, N}, "c0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(4), {2, G}, "norms", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(5), {2, N}, "state_norm", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(6), {T, B}, "mask", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(7), {B, N}, "dropout", true));
    const float* xz = xz_t.flat<float>().data();
    const float* kernel = kernel_t.flat<float>().data();
    const float* h0 = context->input(2).flat<float>().data();
    const float* c0 = context->input(3).flat<float>().data();
    const float* gh = context->input(4).flat<float>().data();
    const float* bh = gh + G;
    const float* gc = context->input(5).flat<float>().data();
    const float* bc = gc + N;
    const float* mask = OptionalData(context->input(6));
    const float* dropout = OptionalData(context->input(7));

    const int64_t stored = training_ ? T : 0;
    Tensor *h_seq_t, *c_seq_t, *gates_t, *xhat_t, *stats_t, *h_final_t, *c_final_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, N}), &h_seq_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({stored, B, N}), &c_seq_t));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({stored, B, G}), &gates_t));
    OP_REQUIRES_OK(context, context->allocate_output(3, TensorShape({stored, B, G}), &xhat_t));
    OP_REQUIRES_OK(context, context->allocate_output(4, TensorShape({stored, B, 3}), &stats_t));
    OP_REQUIRES_OK(context, context->allocate_output(5, TensorShape({B, N}), &h_final_t));
    OP_REQUIRES_OK(context, context->allocate_output(6, TensorShape({B, N}), &c_final_t));
    float* hf = h_final_t->flat<float>().data();
    float* cf = c_final_t->flat<float>().data();
    if (B * N > 0) {
      std::copy(h0, h0 + B * N, hf);
      std::copy(c0, c0 + B * N, cf);
    }
    if (T == 0 || B == 0 || N == 0) return;
    float* hs = h_seq_t->flat<float>().data();
    float* cs = training_ ? c_seq_t->flat<float>().data() : nullptr;
    float* gs = training_ ? gates_t->flat<float>().data() : nullptr;
    float* xs = training_ ? xhat_t->flat<float>().data() : nullptr;
    float* ss = training_ ? stats_t->flat<float>().data() : nullptr;
    const float epsilon = epsilon_;

    const Split split = SplitByRows(context, B, 2.0 * N * 4 * N);
    std::vector<std::unique_ptr<PackedGemm>> gemms(split.chunks);
    std::vector<std::vector<float>> hz(split.chunks);
    GemmInput h_in[2] = {GemmInput(bf16_, B, N), GemmInput(bf16_, B, N)};
    for (int64_t b = 0; b < B; ++b)
      for (int64_t u = 0; u < N; ++u)
        h_in[0].Set(b, u, h0[b * N + u] * (dropout ? dropout[b * N + u] : 1.0f));

    auto step = [&](int64_t t, int /*phase*/, int chunk) {
      const Range rows = RowRange(B, split.chunks, chunk);
      if (rows.size() == 0) return;
      if (t == 0) {
        gemms[chunk] = std::make_unique<PackedGemm>(bf16_, rows.size(), G, N, kernel, G, false);
        hz[chunk].assign(static_cast<size_t>(rows.size() * G + 2 * N), 0.0f);
      }
      float* out = hz[chunk].data();
      gemms[chunk]->Run(h_in[t % 2].data(rows.begin), N, out, G);
      GemmInput& next = h_in[(t + 1) % 2];
      float* __restrict c_new = out + rows.size() * G;  // N floats
      float* __restrict scratch = c_new + N;            // N floats
      for (int64_t b = rows.begin; b < rows.end; ++b) {
        const int64_t row = t * B + b;
        float* __restrict z = out + (b - rows.begin) * G;
        const float* __restrict x = xz + row * G;
        float mu_h, s_h;
        Moments(z, G, epsilon, z, &mu_h, &s_h);  // z becomes hz - mean
#pragma GCC ivdep
        for (int64_t j = 0; j < G; ++j) z[j] *= s_h;  // x^_h
        if (xs) std::copy(z, z + G, xs + row * G);
#pragma GCC ivdep
        for (int64_t j = 0; j < G; ++j) z[j] = x[j] + (z[j] * gh[j] + bh[j]);
        float* __restrict zi = z;
        float* __restrict zg = z + 2 * N;
        float* __restrict zo = z + 3 * N;
        SigmoidInPlace(zi, 2 * N);  // i, f
        TanhInPlace(zg, N);
        SigmoidInPlace(zo, N);
        const float* __restrict zf = z + N;
        float* __restrict c = cf + b * N;
#pragma GCC ivdep
        for (int64_t j = 0; j < N; ++j) c_new[j] = zf[j] * c[j] + zi[j] * zg[j];
        float mu_c, s_c;
        Moments(c_new, N, epsilon, scratch, &mu_c, &s_c);  // scratch: c - mean
        if (gs) {
          std::copy(z, z + G, gs + row * G);
          ss[row * 3] = s_h;
          ss[row * 3 + 1] = mu_c;
          ss[row * 3 + 2] = s_c;
        }
        float* __restrict h = hf + b * N;
        float* __restrict h_out = hs + row * N;
        const bool real = mask == nullptr || mask[row] != 0.0f;
        if (real) {
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) scratch[j] = scratch[j] * s_c * gc[j] + bc[j];
          TanhInPlace(scratch, N);
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) {
            h[j] = zo[j] * scratch[j];
            c[j] = c_new[j];
          }
        }
        std::copy(h, h + N, h_out);  // a masked row carries h and c through
        if (cs) std::copy(c, c + N, cs + row * N);
        next.SetRow(b, 0, N, h, dropout ? dropout + b * N : nullptr);
      }
    };
    RunSteps(context, split, T, 1, step);
  }

 private:
  bool training_;
  bool bf16_;
  float epsilon_;
};

// ----------------------------------------------------------------------------- backward
// Inputs: 0 d_h_seq [T, B, N], 1 d_h_final [B, N] or [0], 2 d_c_final [B, N] or [0],
// 3 kernel [N, 4N], 4 c0 [B, N], 5 norms [2, 4N], 6 state_norm [2, N], 7 mask, 8 dropout,
// 9 c_seq, 10 gates, 11 x^_h, 12 stats (a training forward's outputs 1-4).
// Outputs: 0 d_xz [T, B, 4N], 1 d_hz [T, B, 4N], 2 d_h0, 3 d_c0, 4 d_norms [2, 4N] (g_h; b_h),
// 5 d_state_norm [2, N] (g_c; b_c).
class LayerNormBackwardOp : public OpKernel {
 public:
  explicit LayerNormBackwardOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& d_h_seq_t = context->input(0);
    const Tensor& kernel_t = context->input(3);
    OP_REQUIRES(context, d_h_seq_t.dims() == 3 && kernel_t.dims() == 2,
                InvalidArgument("d_h_seq must be [T, B, N] and kernel [N, 4N]"));
    const int64_t T = d_h_seq_t.dim_size(0), B = d_h_seq_t.dim_size(1), N = d_h_seq_t.dim_size(2);
    const int64_t G = 4 * N;
    OP_REQUIRES_OK(context, CheckShape(context->input(1), {B, N}, "d_h_final", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(2), {B, N}, "d_c_final", true));
    OP_REQUIRES_OK(context, CheckShape(kernel_t, {N, G}, "kernel", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(4), {B, N}, "c0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(5), {2, G}, "norms", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(6), {2, N}, "state_norm", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(7), {T, B}, "mask", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(8), {B, N}, "dropout", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(9), {T, B, N}, "c_seq", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(10), {T, B, G}, "gates", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(11), {T, B, G}, "xhat", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(12), {T, B, 3}, "stats", false));
    const float* d_h_seq = d_h_seq_t.flat<float>().data();
    const float* d_h_final = OptionalData(context->input(1));
    const float* d_c_final = OptionalData(context->input(2));
    const float* kernel = kernel_t.flat<float>().data();
    const float* c0 = context->input(4).flat<float>().data();
    const float* gh = context->input(5).flat<float>().data();
    const float* gc = context->input(6).flat<float>().data();
    const float* mask = OptionalData(context->input(7));
    const float* dropout = OptionalData(context->input(8));
    const float* c_seq = context->input(9).flat<float>().data();
    const float* gates = context->input(10).flat<float>().data();
    const float* xhat_h = context->input(11).flat<float>().data();
    const float* stats = context->input(12).flat<float>().data();

    Tensor *d_xz_t, *d_hz_t, *d_h0_t, *d_c0_t, *d_norms_t, *d_state_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, G}), &d_xz_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({T, B, G}), &d_hz_t));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({B, N}), &d_h0_t));
    OP_REQUIRES_OK(context, context->allocate_output(3, TensorShape({B, N}), &d_c0_t));
    OP_REQUIRES_OK(context, context->allocate_output(4, TensorShape({2, G}), &d_norms_t));
    OP_REQUIRES_OK(context, context->allocate_output(5, TensorShape({2, N}), &d_state_t));
    float* d_xz = d_xz_t->flat<float>().data();
    float* d_hz = d_hz_t->flat<float>().data();
    float* dh = d_h0_t->flat<float>().data();  // carried dh, ends as d_h0
    float* dc = d_c0_t->flat<float>().data();  // carried dc, ends as d_c0
    float* d_norms = d_norms_t->flat<float>().data();
    float* d_state = d_state_t->flat<float>().data();
    std::fill(d_norms, d_norms + 2 * G, 0.0f);
    std::fill(d_state, d_state + 2 * N, 0.0f);
    if (B * N > 0) {
      if (d_h_final) std::copy(d_h_final, d_h_final + B * N, dh);
      else std::fill(dh, dh + B * N, 0.0f);
      if (d_c_final) std::copy(d_c_final, d_c_final + B * N, dc);
      else std::fill(dc, dc + B * N, 0.0f);
    }
    if (T == 0 || B == 0 || N == 0) {
      if (T * B * G > 0) {
        std::fill(d_xz, d_xz + T * B * G, 0.0f);
        std::fill(d_hz, d_hz + T * B * G, 0.0f);
      }
      return;
    }

    const Split split = SplitByRows(context, B, 2.0 * N * 4 * N);
    const int chunks = split.chunks;
    // per row range: U^T packed at its first step, the GEMM output, the norms' gradient sums
    // (added up after) and scratch for one row
    struct Chunk {
      std::unique_ptr<PackedGemm> gemm;
      std::vector<float> out, d_norms, d_state, scratch;
    };
    std::vector<Chunk> parts(chunks);
    GemmInput dz16(bf16_, bf16_ ? B : 0, G);  // bf16 copy of dhz_t for the GEMM

    auto step = [&](int64_t s, int /*phase*/, int chunk) {
      const int64_t t = T - 1 - s;
      const Range rows = RowRange(B, chunks, chunk);
      if (rows.size() == 0) return;
      Chunk& p = parts[chunk];
      if (s == 0) {
        p.gemm = std::make_unique<PackedGemm>(bf16_, rows.size(), N, G, kernel, G, true);
        p.out.assign(static_cast<size_t>(rows.size() * N), 0.0f);
        p.d_norms.assign(static_cast<size_t>(2 * G), 0.0f);
        p.d_state.assign(static_cast<size_t>(2 * N), 0.0f);
        p.scratch.assign(static_cast<size_t>(3 * N), 0.0f);
      }
      float* __restrict dgh = p.d_norms.data();
      float* __restrict dbh = dgh + G;
      float* __restrict dgc = p.d_state.data();
      float* __restrict dbc = dgc + N;
      for (int64_t b = rows.begin; b < rows.end; ++b) {
        const int64_t row = t * B + b;
        float* __restrict dz = d_xz + row * G;
        float* __restrict dhz = d_hz + row * G;
        float* __restrict dh_b = dh + b * N;
        const float* __restrict dh_out = d_h_seq + row * N;
        const bool real = mask == nullptr || mask[row] != 0.0f;
        if (!real) {  // no gradient into a masked step; dh and dc go straight back
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) dh_b[j] += dh_out[j];
          std::fill(dz, dz + G, 0.0f);
          std::fill(dhz, dhz + G, 0.0f);
          if (bf16_) dz16.SetRow(b, 0, G, dhz, nullptr);
          continue;
        }
        const float* __restrict gi = gates + row * G;
        const float* __restrict gf = gi + N;
        const float* __restrict gg = gi + 2 * N;
        const float* __restrict go = gi + 3 * N;
        const float* __restrict c = c_seq + row * N;
        const float* __restrict c_prev = t > 0 ? c_seq + (row - B) * N : c0 + b * N;
        const float s_h = stats[row * 3], mu_c = stats[row * 3 + 1], s_c = stats[row * 3 + 2];
        float* __restrict xc = p.scratch.data();
        float* __restrict dxc = xc + N;
        float* __restrict dc_b = dc + b * N;
        float* __restrict d_cn = xc + 2 * N;  // scratch holds 3 N floats
#pragma GCC ivdep
        for (int64_t j = 0; j < N; ++j) {
          const float x = (c[j] - mu_c) * s_c;
          const float tc = FastTanh(x * gc[j] + gc[N + j]);
          const float dht = dh_b[j] + dh_out[j];
          const float og = go[j];
          d_cn[j] = dht * og * (1.0f - tc * tc);
          dz[3 * N + j] = dht * tc * og * (1.0f - og);
          xc[j] = x;
          dxc[j] = d_cn[j] * gc[j];
        }
#pragma GCC ivdep
        for (int64_t j = 0; j < N; ++j) {
          dgc[j] += d_cn[j] * xc[j];
          dbc[j] += d_cn[j];
        }
        const float sum_d = Sum(dxc, N), sum_dx = Dot(dxc, xc, N);
        const float mean_d = sum_d / static_cast<float>(N);
        const float mean_dx = sum_dx / static_cast<float>(N);
#pragma GCC ivdep
        for (int64_t j = 0; j < N; ++j) {
          const float dct = dc_b[j] + s_c * (dxc[j] - mean_d - xc[j] * mean_dx);
          const float ig = gi[j], fg = gf[j], g = gg[j];
          dz[j] = dct * g * ig * (1.0f - ig);
          dz[N + j] = dct * c_prev[j] * fg * (1.0f - fg);
          dz[2 * N + j] = dct * ig * (1.0f - g * g);
          dc_b[j] = dct * fg;
        }
        const float* __restrict xh = xhat_h + row * G;
#pragma GCC ivdep
        for (int64_t j = 0; j < G; ++j) {
          dgh[j] += dz[j] * xh[j];
          dbh[j] += dz[j];
          dhz[j] = dz[j] * gh[j];  // e, normalised below
        }
        const float sum_e = Sum(dhz, G), sum_ex = Dot(dhz, xh, G);
        const float mean_e = sum_e / static_cast<float>(G);
        const float mean_ex = sum_ex / static_cast<float>(G);
#pragma GCC ivdep
        for (int64_t j = 0; j < G; ++j) dhz[j] = s_h * (dhz[j] - mean_e - xh[j] * mean_ex);
        if (bf16_) dz16.SetRow(b, 0, G, dhz, nullptr);
      }
      const void* a = bf16_ ? dz16.data(rows.begin)
                            : static_cast<const void*>(d_hz + (t * B + rows.begin) * G);
      p.gemm->Run(a, G, p.out.data(), N);
      for (int64_t b = rows.begin; b < rows.end; ++b) {
        const int64_t row = t * B + b;
        if (mask != nullptr && mask[row] == 0.0f) continue;  // dh went straight back
        const float* __restrict through = p.out.data() + (b - rows.begin) * N;
        const float* __restrict d = dropout ? dropout + b * N : nullptr;
        float* __restrict dh_b = dh + b * N;
#pragma GCC ivdep
        for (int64_t j = 0; j < N; ++j) dh_b[j] = through[j] * (d ? d[j] : 1.0f);
      }
    };
    RunSteps(context, split, T, 1, step);
    for (const Chunk& p : parts) {
      if (p.d_norms.empty()) continue;
      for (int64_t j = 0; j < 2 * G; ++j) d_norms[j] += p.d_norms[j];
      for (int64_t j = 0; j < 2 * N; ++j) d_state[j] += p.d_state[j];
    }
  }

 private:
  bool bf16_;
};

REGISTER_KERNEL_BUILDER(Name("ZooLayerNormLstmForward").Device(DEVICE_CPU), LayerNormForwardOp);
REGISTER_KERNEL_BUILDER(Name("ZooLayerNormLstmBackward").Device(DEVICE_CPU), LayerNormBackwardOp);

}  // namespace
}  // namespace lstm_zoo

using tensorflow::shape_inference::InferenceContext;

REGISTER_OP("ZooLayerNormLstmForward")
    .Input("xz: float")
    .Input("kernel: float")
    .Input("h0: float")
    .Input("c0: float")
    .Input("norms: float")
    .Input("state_norm: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Attr("training: bool")
    .Attr("epsilon: float")
    .Attr("bf16_matmul: bool = false")
    .Output("h_seq: float")
    .Output("c_seq: float")
    .Output("gates: float")
    .Output("xhat: float")
    .Output("stats: float")
    .Output("h_final: float")
    .Output("c_final: float")
    .SetShapeFn([](InferenceContext* c) {
      auto xz = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(xz, 3, &xz));
      auto kernel = c->input(1);
      TF_RETURN_IF_ERROR(c->WithRank(kernel, 2, &kernel));
      auto t = c->Dim(xz, 0), b = c->Dim(xz, 1), n = c->Dim(kernel, 0), g = c->Dim(xz, 2);
      c->set_output(0, c->MakeShape({t, b, n}));
      c->set_output(1, c->MakeShape({c->UnknownDim(), b, n}));
      c->set_output(2, c->MakeShape({c->UnknownDim(), b, g}));
      c->set_output(3, c->MakeShape({c->UnknownDim(), b, g}));
      c->set_output(4, c->MakeShape({c->UnknownDim(), b, 3}));
      c->set_output(5, c->MakeShape({b, n}));
      c->set_output(6, c->MakeShape({b, n}));
      return tensorflow::OkStatus();
    });

REGISTER_OP("ZooLayerNormLstmBackward")
    .Input("d_h_seq: float")
    .Input("d_h_final: float")
    .Input("d_c_final: float")
    .Input("kernel: float")
    .Input("c0: float")
    .Input("norms: float")
    .Input("state_norm: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Input("c_seq: float")
    .Input("gates: float")
    .Input("xhat: float")
    .Input("stats: float")
    .Attr("bf16_matmul: bool = false")
    .Output("d_xz: float")
    .Output("d_hz: float")
    .Output("d_h0: float")
    .Output("d_c0: float")
    .Output("d_norms: float")
    .Output("d_state_norm: float")
    .SetShapeFn([](InferenceContext* c) {
      auto d_h = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(d_h, 3, &d_h));
      auto kernel = c->input(3);
      TF_RETURN_IF_ERROR(c->WithRank(kernel, 2, &kernel));
      auto t = c->Dim(d_h, 0), b = c->Dim(d_h, 1), n = c->Dim(d_h, 2), g = c->Dim(kernel, 1);
      c->set_output(0, c->MakeShape({t, b, g}));
      c->set_output(1, c->MakeShape({t, b, g}));
      c->set_output(2, c->MakeShape({b, n}));
      c->set_output(3, c->MakeShape({b, n}));
      c->set_output(4, c->MakeShape({2, g}));
      c->set_output(5, c->MakeShape({2, n}));
      return tensorflow::OkStatus();
    });
