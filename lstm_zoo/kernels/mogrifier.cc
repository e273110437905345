// Native CPU time loops for the Mogrifier LSTM (Melis, Kocisky & Blunsom 2020;
// lstm_zoo/cells/mogrifier.py), forward (training and inference) and backward.
//
// The caller (lstm_zoo/kernels/mogrifier.py) hands over the raw inputs x of every step
// ([time, batch, M]: the rounds gate x_t by h_{t-1}, so x W cannot be hoisted), WU = [W; U]
// ([M + N, 4N]), the bias, the states and the r full gating matrices (Q^i [N, M] for odd i,
// R^i [M, N] for even i; a low-rank cell's products are formed by the caller). Per step, with
// x^{-1} = x_t and h^0 = h_{t-1} * (recurrent dropout mask):
//
//   x^i = 2 sigma(h^{i-1} Q^i) x^{i-2}     (odd i)
//   h^i = 2 sigma(x^{i-1} R^i) h^{i-2}     (even i)
//   z = [x^last | h^last] WU + b;  i, f, o = sigma(z_i, z_f, z_o);  g = phi(z_c)
//   c_t = f c_{t-1} + i g;  h_t = o phi(c_t)
//
// A masked step carries h and c. Work is split by batch rows (each range of rows runs every
// step on its own thread, with every weight; no barrier): a step is r + 1 GEMMs in sequence.
// The backward, per step from the last: the LSTM's gate derivatives dz, then
// [dx^last | dh^last] = dz WU^T, then the rounds from the last, with s_i the round's gate:
//
//   odd i:  dp_i = dx^i 2 x^{i-2} s_i (1 - s_i);  dx^{i-2} = dx^i 2 s_i;  dh^{i-1} += dp_i Q^iT
//   even i: dp_i = dh^i 2 h^{i-2} s_i (1 - s_i);  dh^{i-2} = dh^i 2 s_i;  dx^{i-1} += dp_i R^iT
//
// and d x_t = dx^{-1}, dh_{t-1} = dh^0 * (dropout mask). It returns dz and every round's dp_i
// of every step (the caller forms dWU = [X^last | H^last]^T dZ, db = sum dZ, dQ^i =
// H^{i-1 T} dP_i and dR^i = X^{i-1 T} dP_i as TensorFlow MatMuls over the trace the training
// forward stored), d x and the initial states' gradients.

#include "kernel_common.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace lstm_zoo {
namespace {

using tensorflow::DEVICE_CPU;
using tensorflow::OpInputList;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::errors::InvalidArgument;

// Where one step's values sit in a row of the trace (the training forward's record, [T, B,
// size]): x^{-1} [M], h^0 [N], then per round i its new value x^i or h^i and its gate s_i
// (each M wide for odd i, N for even). `grad` is round i's offset in a row of dP (the rounds'
// pre-activation gradients, [T, B, grad_size]).
struct TraceLayout {
  int64_t M, N, rounds, size, grad_size;
  std::vector<int64_t> width, value, gate, grad;  // index i - 1

  TraceLayout(int64_t m, int64_t n, int64_t r) : M(m), N(n), rounds(r) {
    int64_t at = M + N, dp = 0;
    for (int64_t i = 1; i <= r; ++i) {
      const int64_t w = i % 2 ? M : N;
      width.push_back(w);
      value.push_back(at);
      gate.push_back(at + w);
      grad.push_back(dp);
      at += 2 * w;
      dp += w;
    }
    size = at;
    grad_size = dp;
  }
  int64_t X(int64_t i) const { return i < 0 ? 0 : value[i - 1]; }  // x^i, i = -1 or odd
  int64_t H(int64_t i) const { return i == 0 ? M : value[i - 1]; }  // h^i, i even
  int64_t LastX() const { return rounds % 2 ? rounds : rounds - 1; }  // -1 when no odd round
  int64_t LastH() const { return rounds % 2 ? rounds - 1 : rounds; }
};

// The gating matrices as the op's list input, checked: Q^i [N, M] (odd i), R^i [M, N].
tensorflow::Status ReadRounds(OpKernelContext* context, int64_t M, int64_t N,
                              std::vector<const float*>* rounds) {
  OpInputList list;
  TF_RETURN_IF_ERROR(context->input_list("mogrifier", &list));
  for (int i = 0; i < list.size(); ++i) {
    const bool odd = (i + 1) % 2 == 1;
    const std::string name = std::string(odd ? "Q^" : "R^") + std::to_string(i + 1);
    TF_RETURN_IF_ERROR(CheckShape(list[i], {odd ? N : M, odd ? M : N}, name.c_str(), false));
    rounds->push_back(list[i].flat<float>().data());
  }
  return tensorflow::OkStatus();
}

// GEMM flops per row of a step: the r rounds (M N each) and the LSTM's (M + N) 4N.
double StepFlopsPerRow(int64_t M, int64_t N, int64_t rounds) {
  return 2.0 * (rounds * M * N + (M + N) * 4 * N);
}

// ----------------------------------------------------------------------------- forward
// Inputs: 0 x [T, B, M], 1 wu [M + N, 4N], 2 bias [4N] or [0], 3 h0 [B, N], 4 c0 [B, N],
// 5 mask [T, B] or [0], 6 dropout [B, N] or [0], 7.. mogrifier (r matrices). Outputs: 0 h_seq
// [T, B, N], 1 c_seq [T, B, N], 2 gates [T, B, 4N] (activated), 3 trace [T, B, layout.size]
// (1-3: 0 steps at inference), 4 h_final, 5 c_final [B, N].
class MogrifierForwardOp : public OpKernel {
 public:
  explicit MogrifierForwardOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("training", &training_));
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& x_t = context->input(0);
    const Tensor& wu_t = context->input(1);
    const Tensor& h0_t = context->input(3);
    OP_REQUIRES(context, x_t.dims() == 3 && wu_t.dims() == 2 && h0_t.dims() == 2,
                InvalidArgument("x must be [time, batch, inputs], wu [inputs + units, 4 units] "
                                "and h0 [batch, units]"));
    const int64_t T = x_t.dim_size(0), B = x_t.dim_size(1), M = x_t.dim_size(2);
    const int64_t N = h0_t.dim_size(1), G = 4 * N, K = M + N;
    OP_REQUIRES_OK(context, CheckShape(wu_t, {K, G}, "wu", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(2), {G}, "bias", true));
    OP_REQUIRES_OK(context, CheckShape(h0_t, {B, N}, "h0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(4), {B, N}, "c0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(5), {T, B}, "mask", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(6), {B, N}, "dropout", true));
    std::vector<const float*> rounds;
    OP_REQUIRES_OK(context, ReadRounds(context, M, N, &rounds));
    const TraceLayout layout(M, N, static_cast<int64_t>(rounds.size()));
    const float* x = x_t.flat<float>().data();
    const float* wu = wu_t.flat<float>().data();
    const float* bias = OptionalData(context->input(2));
    const float* h0 = h0_t.flat<float>().data();
    const float* c0 = context->input(4).flat<float>().data();
    const float* mask = OptionalData(context->input(5));
    const float* dropout = OptionalData(context->input(6));

    const int64_t stored = training_ ? T : 0;
    Tensor *h_seq_t, *c_seq_t, *gates_t, *trace_t, *h_final_t, *c_final_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, N}), &h_seq_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({stored, B, N}), &c_seq_t));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({stored, B, G}), &gates_t));
    OP_REQUIRES_OK(context,
                   context->allocate_output(3, TensorShape({stored, B, layout.size}), &trace_t));
    OP_REQUIRES_OK(context, context->allocate_output(4, TensorShape({B, N}), &h_final_t));
    OP_REQUIRES_OK(context, context->allocate_output(5, TensorShape({B, N}), &c_final_t));
    float* hf = h_final_t->flat<float>().data();
    float* cf = c_final_t->flat<float>().data();
    if (B * N > 0) {
      std::copy(h0, h0 + B * N, hf);
      std::copy(c0, c0 + B * N, cf);
    }
    if (T == 0 || B == 0 || N == 0) return;
    float* hs = h_seq_t->flat<float>().data();
    float* c_seq = training_ ? c_seq_t->flat<float>().data() : nullptr;
    float* gs = training_ ? gates_t->flat<float>().data() : nullptr;
    float* trace = training_ ? trace_t->flat<float>().data() : nullptr;

    const Split split = SplitByRows(context, B, StepFlopsPerRow(M, N, layout.rounds));
    struct Chunk {
      std::vector<std::unique_ptr<PackedGemm>> round;  // Q^i or R^i
      std::unique_ptr<PackedGemm> lstm;                // [W; U]
      GemmInput xh;  // [x | h] of the rows: every GEMM's A operand
      std::vector<float> xv, hv, pre, z, tanh_c;
      Chunk() : xh(false, 0, 0) {}
    };
    std::vector<Chunk> parts(split.chunks);

    auto step = [&](int64_t t, int /*phase*/, int chunk) {
      const Range rows = RowRange(B, split.chunks, chunk);
      if (rows.size() == 0) return;
      Chunk& c = parts[chunk];
      const int64_t R = rows.size();
      if (t == 0) {
        for (int64_t i = 1; i <= layout.rounds; ++i) {
          const int64_t w = layout.width[i - 1], k = i % 2 ? N : M;
          c.round.push_back(std::make_unique<PackedGemm>(bf16_, R, w, k, rounds[i - 1], w, false));
        }
        c.lstm = std::make_unique<PackedGemm>(bf16_, R, G, K, wu, G, false);
        c.xh = GemmInput(bf16_, R, K);
        c.xv.assign(static_cast<size_t>(R * M), 0.0f);
        c.hv.assign(static_cast<size_t>(R * N), 0.0f);
        c.pre.assign(static_cast<size_t>(R * std::max(M, N)), 0.0f);
        c.z.assign(static_cast<size_t>(R * G), 0.0f);
        c.tanh_c.assign(static_cast<size_t>(N), 0.0f);
      }
      for (int64_t b = rows.begin; b < rows.end; ++b) {  // x^{-1} = x_t, h^0 = h_in
        const int64_t i = b - rows.begin;
        float* __restrict xv = c.xv.data() + i * M;
        float* __restrict hv = c.hv.data() + i * N;
        std::copy(x + (t * B + b) * M, x + (t * B + b + 1) * M, xv);
        const float* __restrict h = hf + b * N;
        const float* __restrict d = dropout ? dropout + b * N : nullptr;
#pragma GCC ivdep
        for (int64_t j = 0; j < N; ++j) hv[j] = d ? h[j] * d[j] : h[j];
        c.xh.SetRow(i, 0, M, xv, nullptr);
        c.xh.SetRow(i, M, N, hv, nullptr);
        if (trace) {
          float* row = trace + (t * B + b) * layout.size;
          std::copy(xv, xv + M, row);
          std::copy(hv, hv + N, row + M);
        }
      }
      for (int64_t r = 1; r <= layout.rounds; ++r) {
        const bool odd = r % 2 == 1;
        const int64_t w = layout.width[r - 1];
        // odd: sigma(h Q) gates x; even: sigma(x R) gates h
        c.round[r - 1]->Run(c.xh.data(0, odd ? M : 0), K, c.pre.data(), w);
        for (int64_t b = rows.begin; b < rows.end; ++b) {
          const int64_t i = b - rows.begin;
          float* __restrict s = c.pre.data() + i * w;
          float* __restrict v = odd ? c.xv.data() + i * M : c.hv.data() + i * N;
          SigmoidInPlace(s, w);
#pragma GCC ivdep
          for (int64_t j = 0; j < w; ++j) v[j] *= 2.0f * s[j];
          c.xh.SetRow(i, odd ? 0 : M, w, v, nullptr);
          if (trace) {
            float* row = trace + (t * B + b) * layout.size;
            std::copy(v, v + w, row + layout.value[r - 1]);
            std::copy(s, s + w, row + layout.gate[r - 1]);
          }
        }
      }
      c.lstm->Run(c.xh.data(), K, c.z.data(), G);
      for (int64_t b = rows.begin; b < rows.end; ++b) {
        const int64_t i = b - rows.begin;
        const int64_t row = t * B + b;
        float* __restrict z = c.z.data() + i * G;
        if (bias) AddInPlace(z, bias, G);
        SigmoidInPlace(z, 2 * N);  // i, f
        TanhInPlace(z + 2 * N, N);
        SigmoidInPlace(z + 3 * N, N);
        float* __restrict h = hf + b * N;
        float* __restrict cs = cf + b * N;
        const bool real = mask == nullptr || mask[row] != 0.0f;
        if (real) {
          float* __restrict tc = c.tanh_c.data();
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) cs[j] = z[N + j] * cs[j] + z[j] * z[2 * N + j];
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) tc[j] = FastTanh(cs[j]);
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) h[j] = z[3 * N + j] * tc[j];
        }
        std::copy(h, h + N, hs + row * N);
        if (gs) {
          std::copy(z, z + G, gs + row * G);
          std::copy(cs, cs + N, c_seq + row * N);
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
// Inputs: 0 d_h_seq [T, B, N], 1 d_h_final [B, N] or [0], 2 d_c_final [B, N] or [0], 3 wu,
// 4 c0, 5 mask, 6 dropout, 7 c_seq, 8 gates, 9 trace (a training forward's outputs 1-3),
// 10.. mogrifier. Outputs: 0 d_z [T, B, 4N], 1 d_p [T, B, layout.grad_size], 2 d_x [T, B, M],
// 3 d_h0 [B, N], 4 d_c0 [B, N].
class MogrifierBackwardOp : public OpKernel {
 public:
  explicit MogrifierBackwardOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& d_h_seq_t = context->input(0);
    const Tensor& wu_t = context->input(3);
    OP_REQUIRES(context, d_h_seq_t.dims() == 3 && wu_t.dims() == 2,
                InvalidArgument("d_h_seq must be [T, B, N] and wu [M + N, 4N]"));
    const int64_t T = d_h_seq_t.dim_size(0), B = d_h_seq_t.dim_size(1), N = d_h_seq_t.dim_size(2);
    const int64_t K = wu_t.dim_size(0), M = K - N, G = 4 * N;
    OP_REQUIRES(context, M >= 0, InvalidArgument("wu has fewer rows than units"));
    OP_REQUIRES_OK(context, CheckShape(context->input(1), {B, N}, "d_h_final", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(2), {B, N}, "d_c_final", true));
    OP_REQUIRES_OK(context, CheckShape(wu_t, {K, G}, "wu", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(4), {B, N}, "c0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(5), {T, B}, "mask", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(6), {B, N}, "dropout", true));
    std::vector<const float*> rounds;
    OP_REQUIRES_OK(context, ReadRounds(context, M, N, &rounds));
    const TraceLayout layout(M, N, static_cast<int64_t>(rounds.size()));
    const int64_t P = layout.grad_size;
    OP_REQUIRES_OK(context, CheckShape(context->input(7), {T, B, N}, "c_seq", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(8), {T, B, G}, "gates", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(9), {T, B, layout.size}, "trace", false));
    const float* d_h_seq = d_h_seq_t.flat<float>().data();
    const float* d_h_final = OptionalData(context->input(1));
    const float* d_c_final = OptionalData(context->input(2));
    const float* wu = wu_t.flat<float>().data();
    const float* c0 = context->input(4).flat<float>().data();
    const float* mask = OptionalData(context->input(5));
    const float* dropout = OptionalData(context->input(6));
    const float* c_seq = context->input(7).flat<float>().data();
    const float* gates = context->input(8).flat<float>().data();
    const float* trace = context->input(9).flat<float>().data();

    Tensor *d_z_t, *d_p_t, *d_x_t, *d_h0_t, *d_c0_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, G}), &d_z_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({T, B, P}), &d_p_t));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({T, B, M}), &d_x_t));
    OP_REQUIRES_OK(context, context->allocate_output(3, TensorShape({B, N}), &d_h0_t));
    OP_REQUIRES_OK(context, context->allocate_output(4, TensorShape({B, N}), &d_c0_t));
    float* d_z = d_z_t->flat<float>().data();
    float* d_p = d_p_t->flat<float>().data();
    float* d_x = d_x_t->flat<float>().data();
    float* dh = d_h0_t->flat<float>().data();  // carried dh, ends as d_h0
    float* dc = d_c0_t->flat<float>().data();  // carried dc, ends as d_c0
    if (B * N > 0) {
      if (d_h_final) std::copy(d_h_final, d_h_final + B * N, dh);
      else std::fill(dh, dh + B * N, 0.0f);
      if (d_c_final) std::copy(d_c_final, d_c_final + B * N, dc);
      else std::fill(dc, dc + B * N, 0.0f);
    }
    if (T == 0 || B == 0 || N == 0) {
      if (T * B * G > 0) std::fill(d_z, d_z + T * B * G, 0.0f);
      if (T * B * P > 0) std::fill(d_p, d_p + T * B * P, 0.0f);
      if (T * B * M > 0) std::fill(d_x, d_x + T * B * M, 0.0f);
      return;
    }

    const Split split = SplitByRows(context, B, StepFlopsPerRow(M, N, layout.rounds));
    struct Chunk {
      std::vector<std::unique_ptr<PackedGemm>> round;  // Q^iT or R^iT
      std::unique_ptr<PackedGemm> lstm;                // [W; U]^T
      std::vector<float> dxh, through, direct;  // [dx | dh] of the rows; a round's product
      GemmInput dz16, dp16;                     // bf16 copies of the GEMMs' A operands
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
        for (int64_t i = 1; i <= layout.rounds; ++i) {
          const int64_t w = layout.width[i - 1], k = i % 2 ? N : M;
          // d(other) = dp_i (Q^i or R^i)^T: [R, w] x [w, k]
          c.round.push_back(std::make_unique<PackedGemm>(bf16_, R, k, w, rounds[i - 1], w, true));
        }
        c.lstm = std::make_unique<PackedGemm>(bf16_, R, K, G, wu, G, true);
        c.dxh.assign(static_cast<size_t>(R * K), 0.0f);
        c.through.assign(static_cast<size_t>(R * std::max(M, N)), 0.0f);
        c.direct.assign(static_cast<size_t>(R * N), 0.0f);
        c.dz16 = GemmInput(bf16_, bf16_ ? R : 0, G);
        c.dp16 = GemmInput(bf16_, bf16_ ? R : 0, std::max(M, N));
      }
      float* dz_rows = d_z + (t * B + rows.begin) * G;
      for (int64_t b = rows.begin; b < rows.end; ++b) {  // the LSTM step
        const int64_t i = b - rows.begin;
        const int64_t row = t * B + b;
        float* __restrict dz = dz_rows + i * G;
        float* __restrict dh_b = dh + b * N;
        float* __restrict dc_b = dc + b * N;
        float* __restrict direct = c.direct.data() + i * N;
        const float* __restrict dh_out = d_h_seq + row * N;
        if (mask != nullptr && mask[row] == 0.0f) {  // h and c carried
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) direct[j] = dh_b[j] + dh_out[j];
          std::fill(dz, dz + G, 0.0f);
        } else {
          const float* __restrict gi = gates + row * G;
          const float* __restrict gf = gi + N;
          const float* __restrict gg = gi + 2 * N;
          const float* __restrict go = gi + 3 * N;
          const float* __restrict cv = c_seq + row * N;
          const float* __restrict cp = t > 0 ? c_seq + (row - B) * N : c0 + b * N;
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) {
            const float dht = dh_b[j] + dh_out[j];
            const float tc = FastTanh(cv[j]);
            const float og = go[j], ig = gi[j], fg = gf[j], g = gg[j];
            dz[3 * N + j] = dht * tc * og * (1.0f - og);
            const float dct = dc_b[j] + dht * og * (1.0f - tc * tc);
            dz[j] = dct * g * ig * (1.0f - ig);
            dz[N + j] = dct * cp[j] * fg * (1.0f - fg);
            dz[2 * N + j] = dct * ig * (1.0f - g * g);
            dc_b[j] = dct * fg;
            direct[j] = 0.0f;
          }
        }
        if (bf16_) c.dz16.SetRow(i, 0, G, dz, nullptr);
      }
      // [dx^last | dh^last] = dz [W; U]^T
      c.lstm->Run(bf16_ ? c.dz16.data() : static_cast<const void*>(dz_rows), G, c.dxh.data(), K);
      for (int64_t r = layout.rounds; r >= 1; --r) {
        const bool odd = r % 2 == 1;
        const int64_t w = layout.width[r - 1], k = odd ? N : M;
        const int64_t previous = odd ? layout.X(r - 2) : layout.H(r - 2);
        float* dp_rows = d_p + (t * B + rows.begin) * P + layout.grad[r - 1];
        for (int64_t b = rows.begin; b < rows.end; ++b) {
          const int64_t i = b - rows.begin;
          const float* trace_row = trace + (t * B + b) * layout.size;
          const float* __restrict before = trace_row + previous;  // x^{r-2} or h^{r-2}
          const float* __restrict gate = trace_row + layout.gate[r - 1];
          float* __restrict dv = c.dxh.data() + i * K + (odd ? 0 : M);  // d x^r or d h^r
          float* __restrict dp = dp_rows + i * P;
#pragma GCC ivdep
          for (int64_t j = 0; j < w; ++j) {
            const float sg = gate[j];
            dp[j] = dv[j] * 2.0f * before[j] * sg * (1.0f - sg);
            dv[j] *= 2.0f * sg;
          }
          if (bf16_) c.dp16.SetRow(i, 0, w, dp, nullptr);
        }
        if (bf16_) {
          c.round[r - 1]->Run(c.dp16.data(), c.dp16.cols, c.through.data(), k);
        } else {
          c.round[r - 1]->Run(dp_rows, P, c.through.data(), k);
        }
        for (int64_t b = rows.begin; b < rows.end; ++b) {  // into d h^{r-1} or d x^{r-1}
          const int64_t i = b - rows.begin;
          AddInPlace(c.dxh.data() + i * K + (odd ? M : 0), c.through.data() + i * k, k);
        }
      }
      for (int64_t b = rows.begin; b < rows.end; ++b) {
        const int64_t i = b - rows.begin;
        const float* __restrict dxh = c.dxh.data() + i * K;
        std::copy(dxh, dxh + M, d_x + (t * B + b) * M);
        const float* __restrict dh0 = dxh + M;
        const float* __restrict direct = c.direct.data() + i * N;
        const float* __restrict d = dropout ? dropout + b * N : nullptr;
        float* __restrict dh_b = dh + b * N;
#pragma GCC ivdep
        for (int64_t j = 0; j < N; ++j) dh_b[j] = direct[j] + dh0[j] * (d ? d[j] : 1.0f);
      }
    };
    RunSteps(context, split, T, 1, step);
  }

 private:
  bool bf16_;
};

REGISTER_KERNEL_BUILDER(Name("ZooMogrifierForward").Device(DEVICE_CPU), MogrifierForwardOp);
REGISTER_KERNEL_BUILDER(Name("ZooMogrifierBackward").Device(DEVICE_CPU), MogrifierBackwardOp);

}  // namespace
}  // namespace lstm_zoo

using tensorflow::shape_inference::InferenceContext;

REGISTER_OP("ZooMogrifierForward")
    .Input("x: float")
    .Input("wu: float")
    .Input("bias: float")
    .Input("h0: float")
    .Input("c0: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Input("mogrifier: rounds * float")
    .Attr("rounds: int >= 1")
    .Attr("training: bool")
    .Attr("bf16_matmul: bool = false")
    .Output("h_seq: float")
    .Output("c_seq: float")
    .Output("gates: float")
    .Output("trace: float")
    .Output("h_final: float")
    .Output("c_final: float")
    .SetShapeFn([](InferenceContext* c) {
      auto x = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(x, 3, &x));
      auto h0 = c->input(3);
      TF_RETURN_IF_ERROR(c->WithRank(h0, 2, &h0));
      auto t = c->Dim(x, 0), b = c->Dim(x, 1), n = c->Dim(h0, 1);
      c->set_output(0, c->MakeShape({t, b, n}));
      c->set_output(1, c->MakeShape({c->UnknownDim(), b, n}));
      c->set_output(2, c->MakeShape({c->UnknownDim(), b, c->UnknownDim()}));
      c->set_output(3, c->MakeShape({c->UnknownDim(), b, c->UnknownDim()}));
      c->set_output(4, c->MakeShape({b, n}));
      c->set_output(5, c->MakeShape({b, n}));
      return tensorflow::OkStatus();
    });

REGISTER_OP("ZooMogrifierBackward")
    .Input("d_h_seq: float")
    .Input("d_h_final: float")
    .Input("d_c_final: float")
    .Input("wu: float")
    .Input("c0: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Input("c_seq: float")
    .Input("gates: float")
    .Input("trace: float")
    .Input("mogrifier: rounds * float")
    .Attr("rounds: int >= 1")
    .Attr("bf16_matmul: bool = false")
    .Output("d_z: float")
    .Output("d_p: float")
    .Output("d_x: float")
    .Output("d_h0: float")
    .Output("d_c0: float")
    .SetShapeFn([](InferenceContext* c) {
      auto d_h = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(d_h, 3, &d_h));
      auto t = c->Dim(d_h, 0), b = c->Dim(d_h, 1), n = c->Dim(d_h, 2);
      c->set_output(0, c->MakeShape({t, b, c->UnknownDim()}));
      c->set_output(1, c->MakeShape({t, b, c->UnknownDim()}));
      c->set_output(2, c->MakeShape({t, b, c->UnknownDim()}));
      c->set_output(3, c->MakeShape({b, n}));
      c->set_output(4, c->MakeShape({b, n}));
      return tensorflow::OkStatus();
    });
