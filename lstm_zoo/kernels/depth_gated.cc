// Native CPU time loops for the depth-gated LSTM (Yao, Cohn, Vylomova, Duh & Dyer 2015;
// lstm_zoo/cells/depth_gated.py): a stack of D LSTM layers in one cell, forward (training and
// inference) and backward.
//
// The caller (lstm_zoo/kernels/depth_gated.py) hands over xz = x W_1 + b_1 of every step
// ([time, batch, 4 units]), every layer's U_l, the upper layers' W_l [units, 5 units] (gates
// i, f, c, o, then the depth gate), their biases and depth weights (w_cd, w_ld), and the
// states of every layer (layer 1 first). Per step, with h_in = h * (recurrent dropout mask),
// layer 1 reading z = xz + h_in U_1 and layer l >= 2 reading the layer below at the same step:
//
//   p = h^{l-1}_t W_l + b_l;   z = p[:4N] + h^l_in U_l
//   i, f, o = sigma(z_i, z_f, z_o);  g = phi(z_c)
//   d = sigma(p[4N:] + w_cd c^l_{t-1} + w_ld c^{l-1}_t)        (l >= 2)
//   c^l_t = f c^l_{t-1} + i g [+ d c^{l-1}_t];  h^l_t = o phi(c^l_t)
//
// A masked step carries every layer's h and c. Work is split by batch rows (each range of
// rows runs every step and layer on its own thread, with every weight; no barrier). The
// backward, per step from the last and per layer from the top: the LSTM's gate derivatives,
// with dc^l = dc_carried + dh o (1 - phi(c)^2) and, for l >= 2, dd~ = dc^l c^{l-1} d (1 - d):
//
//   dc^l_{t-1} = dc^l f [+ dd~ w_cd];   dc^{l-1}_t += dc^l d + dd~ w_ld
//   dh^l_{t-1} = (dz U_l^T) * (dropout mask);   dh^{l-1}_t += [dz | dd~] W_l^T
//
// It returns dz of every layer (layer 1's is d xz; the caller forms dU_l = H_in^T dZ_l as
// TensorFlow MatMuls), [dz | dd~] of the upper layers (dW_l = H^{l-1 T} dP_l, db_l = sum dP_l),
// the depth weights' gradients and those of the initial states.

#include "kernel_common.h"
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
// Inputs: 0 xz [T, B, 4N], 1 recurrent [D, N, 4N], 2 upper [D-1, N, 5N], 3 upper_bias
// [D-1, 5N], 4 depth [D-1, 2, N] (w_cd; w_ld), 5 h0 [D, B, N], 6 c0 [D, B, N], 7 mask [T, B]
// or [0], 8 dropout [B, N] or [0]. Outputs: 0 h_seq [T, B, N] (the top layer's h),
// 1 h_all, 2 c_all [T, D, B, N] (every layer's states after each step), 3 gates [T, D, B, 4N]
// (activated), 4 depth_gates [T, D, B, N] (layer 1's unused) (1-4: 0 steps at inference),
// 5 h_final, 6 c_final [D, B, N].
class DepthGatedForwardOp : public OpKernel {
 public:
  explicit DepthGatedForwardOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("training", &training_));
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& xz_t = context->input(0);
    const Tensor& rec_t = context->input(1);
    OP_REQUIRES(context, xz_t.dims() == 3 && rec_t.dims() == 3,
                InvalidArgument("xz must be [time, batch, 4 units] and recurrent [depth, units, "
                                "4 units]"));
    const int64_t T = xz_t.dim_size(0), B = xz_t.dim_size(1);
    const int64_t D = rec_t.dim_size(0), N = rec_t.dim_size(1), G = 4 * N, P = 5 * N;
    OP_REQUIRES(context, D >= 1, InvalidArgument("depth must be >= 1"));
    OP_REQUIRES_OK(context, CheckShape(xz_t, {T, B, G}, "xz", false));
    OP_REQUIRES_OK(context, CheckShape(rec_t, {D, N, G}, "recurrent", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(2), {D - 1, N, P}, "upper", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(3), {D - 1, P}, "upper_bias", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(4), {D - 1, 2, N}, "depth", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(5), {D, B, N}, "h0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(6), {D, B, N}, "c0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(7), {T, B}, "mask", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(8), {B, N}, "dropout", true));
    const float* xz = xz_t.flat<float>().data();
    const float* rec = rec_t.flat<float>().data();
    const float* upper = context->input(2).flat<float>().data();
    const float* upper_bias = context->input(3).flat<float>().data();
    const float* depth_w = context->input(4).flat<float>().data();
    const float* h0 = context->input(5).flat<float>().data();
    const float* c0 = context->input(6).flat<float>().data();
    const float* mask = OptionalData(context->input(7));
    const float* dropout = OptionalData(context->input(8));

    const int64_t stored = training_ ? T : 0;
    Tensor *h_seq_t, *h_all_t, *c_all_t, *gates_t, *dg_t, *h_final_t, *c_final_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, N}), &h_seq_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({stored, D, B, N}), &h_all_t));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({stored, D, B, N}), &c_all_t));
    OP_REQUIRES_OK(context, context->allocate_output(3, TensorShape({stored, D, B, G}), &gates_t));
    OP_REQUIRES_OK(context, context->allocate_output(4, TensorShape({stored, D, B, N}), &dg_t));
    OP_REQUIRES_OK(context, context->allocate_output(5, TensorShape({D, B, N}), &h_final_t));
    OP_REQUIRES_OK(context, context->allocate_output(6, TensorShape({D, B, N}), &c_final_t));
    float* hf = h_final_t->flat<float>().data();
    float* cf = c_final_t->flat<float>().data();
    if (D * B * N > 0) {
      std::copy(h0, h0 + D * B * N, hf);
      std::copy(c0, c0 + D * B * N, cf);
    }
    if (T == 0 || B == 0 || N == 0) return;
    float* hs = h_seq_t->flat<float>().data();
    float* h_all = training_ ? h_all_t->flat<float>().data() : nullptr;
    float* c_all = training_ ? c_all_t->flat<float>().data() : nullptr;
    float* gs = training_ ? gates_t->flat<float>().data() : nullptr;
    float* ds = training_ ? dg_t->flat<float>().data() : nullptr;
    if (ds) std::fill(ds, ds + T * D * B * N, 0.0f);

    // per row and step: U_l 4 N^2 multiply-adds a layer, W_l 5 N^2 above layer 1
    const Split split = SplitByRows(context, B, 2.0 * N * N * (9 * D - 5));
    struct Chunk {
      std::vector<std::unique_ptr<PackedGemm>> rec, up;  // U_l; W_l (l >= 2)
      std::vector<float> z, p, c_new, tanh_c;
    };
    std::vector<Chunk> parts(split.chunks);
    // per layer: h_in = h * dropout, double-buffered; the layer's new h at step t (read by
    // the layer above as its input)
    std::vector<GemmInput> h_in;
    for (int k = 0; k < 2 * D; ++k) h_in.emplace_back(bf16_, B, N);
    std::vector<GemmInput> low;
    for (int64_t l = 0; l < D; ++l) low.emplace_back(bf16_, l + 1 < D ? B : 0, N);
    for (int64_t l = 0; l < D; ++l)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t u = 0; u < N; ++u)
          h_in[2 * l].Set(b, u,
                          h0[(l * B + b) * N + u] * (dropout ? dropout[b * N + u] : 1.0f));

    auto step = [&](int64_t t, int /*phase*/, int chunk) {
      const Range rows = RowRange(B, split.chunks, chunk);
      if (rows.size() == 0) return;
      Chunk& c = parts[chunk];
      const int64_t R = rows.size();
      if (t == 0) {
        for (int64_t l = 0; l < D; ++l) {
          c.rec.push_back(std::make_unique<PackedGemm>(bf16_, R, G, N, rec + l * N * G, G, false));
          if (l > 0)
            c.up.push_back(
                std::make_unique<PackedGemm>(bf16_, R, P, N, upper + (l - 1) * N * P, P, false));
        }
        c.z.assign(static_cast<size_t>(R * G), 0.0f);
        c.p.assign(static_cast<size_t>(R * P), 0.0f);
        c.c_new.assign(static_cast<size_t>(R * N), 0.0f);  // the layer's c_t (for the next)
        c.tanh_c.assign(static_cast<size_t>(N), 0.0f);
      }
      for (int64_t l = 0; l < D; ++l) {
        c.rec[l]->Run(h_in[2 * l + t % 2].data(rows.begin), N, c.z.data(), G);
        if (l > 0) c.up[l - 1]->Run(low[l - 1].data(rows.begin), N, c.p.data(), P);
        const float* bias = l > 0 ? upper_bias + (l - 1) * P : nullptr;
        const float* w_cd = l > 0 ? depth_w + (l - 1) * 2 * N : nullptr;
        const float* w_ld = l > 0 ? w_cd + N : nullptr;
        for (int64_t b = rows.begin; b < rows.end; ++b) {
          const int64_t i = b - rows.begin;
          const int64_t row = t * B + b;
          float* __restrict z = c.z.data() + i * G;
          float* __restrict p = c.p.data() + i * P;
          if (l == 0) {
            AddInPlace(z, xz + row * G, G);
          } else {
            AddInPlace(p, bias, P);
            AddInPlace(z, p, G);
          }
          SigmoidInPlace(z, 2 * N);  // i, f
          TanhInPlace(z + 2 * N, N);
          SigmoidInPlace(z + 3 * N, N);
          float* __restrict h = hf + (l * B + b) * N;
          float* __restrict cs = cf + (l * B + b) * N;
          float* __restrict c_new = c.c_new.data() + i * N;  // in: c^{l-1}_t; out: c^l_t
          const float* __restrict zi = z;
          const float* __restrict zf = z + N;
          const float* __restrict zg = z + 2 * N;
          const float* __restrict zo = z + 3 * N;
          float* __restrict dgate = p + 4 * N;  // l >= 2: its pre-activation, then d
          if (l > 0) {
#pragma GCC ivdep
            for (int64_t j = 0; j < N; ++j)
              dgate[j] = FastSigmoid(dgate[j] + w_cd[j] * cs[j] + w_ld[j] * c_new[j]);
#pragma GCC ivdep
            for (int64_t j = 0; j < N; ++j)
              c_new[j] = zf[j] * cs[j] + zi[j] * zg[j] + dgate[j] * c_new[j];
          } else {
#pragma GCC ivdep
            for (int64_t j = 0; j < N; ++j) c_new[j] = zf[j] * cs[j] + zi[j] * zg[j];
          }
          float* __restrict tc = c.tanh_c.data();
          std::copy(c_new, c_new + N, tc);
          TanhInPlace(tc, N);
          const bool real = mask == nullptr || mask[row] != 0.0f;
          if (l + 1 < D) {  // the layer above reads this step's h (its value for a masked row
                            // is never used)
            float* __restrict hn = c.tanh_c.data();
#pragma GCC ivdep
            for (int64_t j = 0; j < N; ++j) hn[j] = zo[j] * tc[j];
            low[l].SetRow(b, 0, N, hn, nullptr);
            if (real) std::copy(hn, hn + N, h);
          } else if (real) {
#pragma GCC ivdep
            for (int64_t j = 0; j < N; ++j) h[j] = zo[j] * tc[j];
          }
          if (real) std::copy(c_new, c_new + N, cs);
          if (gs) {
            const int64_t at = (t * D + l) * B + b;
            std::copy(z, z + G, gs + at * G);
            if (l > 0) std::copy(dgate, dgate + N, ds + at * N);
            std::copy(h, h + N, h_all + at * N);
            std::copy(cs, cs + N, c_all + at * N);
          }
          if (l + 1 == D) std::copy(h, h + N, hs + row * N);
          h_in[2 * l + (t + 1) % 2].SetRow(b, 0, N, h, dropout ? dropout + b * N : nullptr);
        }
      }
    };
    RunSteps(context, split, T, 1, step);
  }

 private:
  bool training_;
  bool bf16_;
};

// ----------------------------------------------------------------------------- backward
// Inputs: 0 d_h_seq [T, B, N], 1 d_h_final [D, B, N] or [0], 2 d_c_final [D, B, N] or [0],
// 3 recurrent, 4 upper, 5 depth, 6 h0, 7 c0, 8 mask, 9 dropout, 10 h_all, 11 c_all, 12 gates,
// 13 depth_gates (a training forward's outputs 1-4). Outputs: 0 d_z [T, D, B, 4N],
// 1 d_p [T, D-1, B, 5N], 2 d_depth [D-1, 2, N], 3 d_h0 [D, B, N], 4 d_c0 [D, B, N].
class DepthGatedBackwardOp : public OpKernel {
 public:
  explicit DepthGatedBackwardOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& d_h_seq_t = context->input(0);
    const Tensor& rec_t = context->input(3);
    OP_REQUIRES(context, d_h_seq_t.dims() == 3 && rec_t.dims() == 3,
                InvalidArgument("d_h_seq must be [T, B, N] and recurrent [D, N, 4N]"));
    const int64_t T = d_h_seq_t.dim_size(0), B = d_h_seq_t.dim_size(1), N = d_h_seq_t.dim_size(2);
    const int64_t D = rec_t.dim_size(0), G = 4 * N, P = 5 * N;
    OP_REQUIRES(context, D >= 1, InvalidArgument("depth must be >= 1"));
    OP_REQUIRES_OK(context, CheckShape(context->input(1), {D, B, N}, "d_h_final", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(2), {D, B, N}, "d_c_final", true));
    OP_REQUIRES_OK(context, CheckShape(rec_t, {D, N, G}, "recurrent", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(4), {D - 1, N, P}, "upper", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(5), {D - 1, 2, N}, "depth", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(6), {D, B, N}, "h0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(7), {D, B, N}, "c0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(8), {T, B}, "mask", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(9), {B, N}, "dropout", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(10), {T, D, B, N}, "h_all", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(11), {T, D, B, N}, "c_all", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(12), {T, D, B, G}, "gates", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(13), {T, D, B, N}, "depth_gates", false));
    const float* d_h_seq = d_h_seq_t.flat<float>().data();
    const float* d_h_final = OptionalData(context->input(1));
    const float* d_c_final = OptionalData(context->input(2));
    const float* rec = rec_t.flat<float>().data();
    const float* upper = context->input(4).flat<float>().data();
    const float* depth_w = context->input(5).flat<float>().data();
    const float* c0 = context->input(7).flat<float>().data();
    const float* mask = OptionalData(context->input(8));
    const float* dropout = OptionalData(context->input(9));
    const float* c_all = context->input(11).flat<float>().data();
    const float* gates = context->input(12).flat<float>().data();
    const float* dgates = context->input(13).flat<float>().data();

    Tensor *d_z_t, *d_p_t, *d_depth_t, *d_h0_t, *d_c0_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, D, B, G}), &d_z_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({T, D - 1, B, P}), &d_p_t));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({D - 1, 2, N}), &d_depth_t));
    OP_REQUIRES_OK(context, context->allocate_output(3, TensorShape({D, B, N}), &d_h0_t));
    OP_REQUIRES_OK(context, context->allocate_output(4, TensorShape({D, B, N}), &d_c0_t));
    float* d_z = d_z_t->flat<float>().data();
    float* d_p = d_p_t->flat<float>().data();
    float* d_depth = d_depth_t->flat<float>().data();
    float* dh = d_h0_t->flat<float>().data();  // carried dh of every layer, ends as d_h0
    float* dc = d_c0_t->flat<float>().data();  // carried dc, ends as d_c0
    std::fill(d_depth, d_depth + (D - 1) * 2 * N, 0.0f);
    if (D * B * N > 0) {
      if (d_h_final) std::copy(d_h_final, d_h_final + D * B * N, dh);
      else std::fill(dh, dh + D * B * N, 0.0f);
      if (d_c_final) std::copy(d_c_final, d_c_final + D * B * N, dc);
      else std::fill(dc, dc + D * B * N, 0.0f);
    }
    if (T == 0 || B == 0 || N == 0) {
      if (T * D * B * G > 0) std::fill(d_z, d_z + T * D * B * G, 0.0f);
      if (T * (D - 1) * B * P > 0) std::fill(d_p, d_p + T * (D - 1) * B * P, 0.0f);
      return;
    }

    // per row and step: U_l 4 N^2 multiply-adds a layer, W_l 5 N^2 above layer 1
    const Split split = SplitByRows(context, B, 2.0 * N * N * (9 * D - 5));
    struct Chunk {
      std::vector<std::unique_ptr<PackedGemm>> rec, up;  // U_l^T; W_l^T (l >= 2)
      std::vector<float> out, d_low_h, d_low_c, direct, d_depth;
      GemmInput dz16, dp16;
      Chunk() : dz16(false, 0, 0), dp16(false, 0, 0) {}
    };
    std::vector<Chunk> parts(split.chunks);

    auto step = [&](int64_t s, int /*phase*/, int chunk) {
      const int64_t t = T - 1 - s;
      const Range rows = RowRange(B, split.chunks, chunk);
      if (rows.size() == 0) return;
      Chunk& c = parts[chunk];
      const int64_t R = rows.size();
      if (s == 0) {
        for (int64_t l = 0; l < D; ++l) {
          c.rec.push_back(std::make_unique<PackedGemm>(bf16_, R, N, G, rec + l * N * G, G, true));
          if (l > 0)
            c.up.push_back(
                std::make_unique<PackedGemm>(bf16_, R, N, P, upper + (l - 1) * N * P, P, true));
        }
        c.out.assign(static_cast<size_t>(R * N), 0.0f);
        c.d_low_h.assign(static_cast<size_t>(R * N), 0.0f);
        c.d_low_c.assign(static_cast<size_t>(R * N), 0.0f);
        c.direct.assign(static_cast<size_t>(R * N), 0.0f);
        c.d_depth.assign(static_cast<size_t>((D - 1) * 2 * N), 0.0f);
        c.dz16 = GemmInput(bf16_, bf16_ ? R : 0, G);
        c.dp16 = GemmInput(bf16_, bf16_ ? R : 0, P);
      }
      std::fill(c.d_low_h.begin(), c.d_low_h.end(), 0.0f);
      std::fill(c.d_low_c.begin(), c.d_low_c.end(), 0.0f);
      for (int64_t l = D - 1; l >= 0; --l) {
        const float* w_cd = l > 0 ? depth_w + (l - 1) * 2 * N : nullptr;
        const float* w_ld = l > 0 ? w_cd + N : nullptr;
        float* dw_cd = l > 0 ? c.d_depth.data() + (l - 1) * 2 * N : nullptr;
        float* dw_ld = l > 0 ? dw_cd + N : nullptr;
        float* dz_rows = d_z + ((t * D + l) * B + rows.begin) * G;
        float* dp_rows = l > 0 ? d_p + ((t * (D - 1) + l - 1) * B + rows.begin) * P : nullptr;
        for (int64_t b = rows.begin; b < rows.end; ++b) {
          const int64_t i = b - rows.begin;
          const int64_t row = t * B + b;
          const int64_t at = (t * D + l) * B + b;
          float* __restrict dz = dz_rows + i * G;
          float* __restrict dp = l > 0 ? dp_rows + i * P : nullptr;
          float* __restrict dh_l = dh + (l * B + b) * N;
          float* __restrict dc_l = dc + (l * B + b) * N;
          float* __restrict low_h = c.d_low_h.data() + i * N;  // from the layer above
          float* __restrict low_c = c.d_low_c.data() + i * N;
          float* __restrict direct = c.direct.data() + i * N;
          const float* __restrict dh_out = l + 1 == D ? d_h_seq + row * N : nullptr;
          const bool real = mask == nullptr || mask[row] != 0.0f;
          if (!real) {  // every state carried: its gradient goes straight back
#pragma GCC ivdep
            for (int64_t j = 0; j < N; ++j) {
              direct[j] = dh_l[j] + low_h[j] + (dh_out ? dh_out[j] : 0.0f);
              dc_l[j] += low_c[j];
              low_h[j] = 0.0f;  // nothing reaches the layer below at a masked step
              low_c[j] = 0.0f;
            }
            std::fill(dz, dz + G, 0.0f);
            if (dp) std::fill(dp, dp + P, 0.0f);
            continue;
          }
          const float* __restrict gi = gates + at * G;
          const float* __restrict gf = gi + N;
          const float* __restrict gg = gi + 2 * N;
          const float* __restrict go = gi + 3 * N;
          const float* __restrict cv = c_all + at * N;
          const float* __restrict cp =
              t > 0 ? c_all + ((t - 1) * D + l) * B * N + b * N : c0 + (l * B + b) * N;
          const float* __restrict dg = l > 0 ? dgates + at * N : nullptr;
          const float* __restrict c_low = l > 0 ? c_all + (at - B) * N : nullptr;  // layer l-1
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) {
            const float dht = dh_l[j] + low_h[j] + (dh_out ? dh_out[j] : 0.0f);
            const float tc = FastTanh(cv[j]);
            const float og = go[j], ig = gi[j], fg = gf[j], g = gg[j];
            dz[3 * N + j] = dht * tc * og * (1.0f - og);
            const float dct = dc_l[j] + low_c[j] + dht * og * (1.0f - tc * tc);
            dz[j] = dct * g * ig * (1.0f - ig);
            dz[N + j] = dct * cp[j] * fg * (1.0f - fg);
            dz[2 * N + j] = dct * ig * (1.0f - g * g);
            float carry = dct * fg;
            if (l > 0) {
              const float d = dg[j];
              const float dd = dct * c_low[j] * d * (1.0f - d);
              dp[4 * N + j] = dd;
              carry += dd * w_cd[j];
              dw_cd[j] += dd * cp[j];
              dw_ld[j] += dd * c_low[j];
              low_c[j] = dct * d + dd * w_ld[j];  // to layer l-1 at this step
            } else {
              low_c[j] = 0.0f;
            }
            dc_l[j] = carry;
            direct[j] = 0.0f;
          }
          if (dp) std::copy(dz, dz + G, dp);
          if (bf16_) {
            c.dz16.SetRow(i, 0, G, dz, nullptr);
            if (dp) c.dp16.SetRow(i, 0, P, dp, nullptr);
          }
        }
        // dh^l_{t-1} = (dz U_l^T) * dropout (+ the carried dh of masked rows)
        c.rec[l]->Run(bf16_ ? c.dz16.data() : static_cast<const void*>(dz_rows), G,
                      c.out.data(), N);
        for (int64_t b = rows.begin; b < rows.end; ++b) {
          const int64_t i = b - rows.begin;
          const float* __restrict through = c.out.data() + i * N;
          const float* __restrict direct = c.direct.data() + i * N;
          const float* __restrict d = dropout ? dropout + b * N : nullptr;
          float* __restrict dh_l = dh + (l * B + b) * N;
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) dh_l[j] = direct[j] + through[j] * (d ? d[j] : 1.0f);
        }
        // dh^{l-1}_t from this layer's input: [dz | dd~] W_l^T
        if (l > 0)
          c.up[l - 1]->Run(bf16_ ? c.dp16.data() : static_cast<const void*>(dp_rows), P,
                           c.d_low_h.data(), N);
      }
    };
    RunSteps(context, split, T, 1, step);
    for (const Chunk& p : parts)
      for (size_t j = 0; j < p.d_depth.size(); ++j) d_depth[j] += p.d_depth[j];
  }

 private:
  bool bf16_;
};

REGISTER_KERNEL_BUILDER(Name("ZooDepthGatedForward").Device(DEVICE_CPU), DepthGatedForwardOp);
REGISTER_KERNEL_BUILDER(Name("ZooDepthGatedBackward").Device(DEVICE_CPU), DepthGatedBackwardOp);

}  // namespace
}  // namespace lstm_zoo

using tensorflow::shape_inference::InferenceContext;

REGISTER_OP("ZooDepthGatedForward")
    .Input("xz: float")
    .Input("recurrent: float")
    .Input("upper: float")
    .Input("upper_bias: float")
    .Input("depth: float")
    .Input("h0: float")
    .Input("c0: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Attr("training: bool")
    .Attr("bf16_matmul: bool = false")
    .Output("h_seq: float")
    .Output("h_all: float")
    .Output("c_all: float")
    .Output("gates: float")
    .Output("depth_gates: float")
    .Output("h_final: float")
    .Output("c_final: float")
    .SetShapeFn([](InferenceContext* c) {
      auto xz = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(xz, 3, &xz));
      auto rec = c->input(1);
      TF_RETURN_IF_ERROR(c->WithRank(rec, 3, &rec));
      auto t = c->Dim(xz, 0), b = c->Dim(xz, 1), g = c->Dim(xz, 2);
      auto d = c->Dim(rec, 0), n = c->Dim(rec, 1);
      c->set_output(0, c->MakeShape({t, b, n}));
      c->set_output(1, c->MakeShape({c->UnknownDim(), d, b, n}));
      c->set_output(2, c->MakeShape({c->UnknownDim(), d, b, n}));
      c->set_output(3, c->MakeShape({c->UnknownDim(), d, b, g}));
      c->set_output(4, c->MakeShape({c->UnknownDim(), d, b, n}));
      c->set_output(5, c->MakeShape({d, b, n}));
      c->set_output(6, c->MakeShape({d, b, n}));
      return tensorflow::OkStatus();
    });

REGISTER_OP("ZooDepthGatedBackward")
    .Input("d_h_seq: float")
    .Input("d_h_final: float")
    .Input("d_c_final: float")
    .Input("recurrent: float")
    .Input("upper: float")
    .Input("depth: float")
    .Input("h0: float")
    .Input("c0: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Input("h_all: float")
    .Input("c_all: float")
    .Input("gates: float")
    .Input("depth_gates: float")
    .Attr("bf16_matmul: bool = false")
    .Output("d_z: float")
    .Output("d_p: float")
    .Output("d_depth: float")
    .Output("d_h0: float")
    .Output("d_c0: float")
    .SetShapeFn([](InferenceContext* c) {
      auto d_h = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(d_h, 3, &d_h));
      auto rec = c->input(3);
      TF_RETURN_IF_ERROR(c->WithRank(rec, 3, &rec));
      auto t = c->Dim(d_h, 0), b = c->Dim(d_h, 1), n = c->Dim(d_h, 2), d = c->Dim(rec, 0);
      c->set_output(0, c->MakeShape({t, d, b, c->UnknownDim()}));
      c->set_output(1, c->MakeShape({t, c->UnknownDim(), b, c->UnknownDim()}));
      c->set_output(2, c->MakeShape({c->UnknownDim(), 2, n}));
      c->set_output(3, c->MakeShape({d, b, n}));
      c->set_output(4, c->MakeShape({d, b, n}));
      return tensorflow::OkStatus();
    });
