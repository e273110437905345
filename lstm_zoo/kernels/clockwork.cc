// Native CPU time loops for the clockwork RNN (Koutnik, Greff, Gomez & Schmidhuber 2014;
// lstm_zoo/cells/clockwork.py), forward (training and inference) and backward.
//
// The caller (lstm_zoo/kernels/clockwork.py) hands over xz = x W + b of every step
// ([time, batch, units]), the block-triangular U (the cell's `loop_kernel`: its recurrent
// kernel times the connectivity), the states (h, clock: [batch, 1]), each unit's period and
// the clock's cycle lcm(periods). Per step, with h_in = h * (recurrent dropout mask):
//
//   active_u = (clock mod T_u == 0)
//   h_u  = phi(xz_u + (h_in U)_u)  where active_u,  else h_{t-1, u}
//   clock = (clock + 1) mod cycle
//
// A masked step carries h and the clock. Work is split by batch rows (each row has its own
// clock; each range of rows runs every step on its own thread, without a barrier). The
// backward, per step from the last: dh = dh_carried + d h_seq[t]; da = dh (1 - n^2) where
// active, else 0 (and dh passes straight to h_{t-1}); dh_carried = (da U^T) * (dropout mask)
// + dh where inactive. It returns d xz = da (the caller forms dU = H_in^T dA as one
// TensorFlow MatMul); the clock gets no gradient.

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

// a mod b with the sign of b (TensorFlow's floormod, which the XLA path computes)
inline float FloorMod(float a, float b) {
  float r = std::fmod(a, b);
  if (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) r += b;
  return r;
}

// Which units a clock value activates: 1 where clock mod T_u == 0. A table over the clock
// values 0 .. cycle - 1 when it is small (the default periods (1, 2, 4, 8): 8 rows), else
// (or for a clock outside it: a user's initial state) computed per unit.
class ActiveUnits {
 public:
  ActiveUnits(const float* periods, int64_t units, float cycle)
      : periods_(periods), units_(units) {
    if (cycle >= 1.0f && cycle * units <= kMaxTable && cycle == std::floor(cycle)) {
      rows_ = static_cast<int64_t>(cycle);
      table_.resize(static_cast<size_t>(rows_ * units));
      for (int64_t c = 0; c < rows_; ++c)
        for (int64_t u = 0; u < units; ++u)
          table_[c * units + u] = FloorMod(static_cast<float>(c), periods[u]) == 0.0f;
    }
  }
  // the flags of `clock`, in `scratch` (units floats) when not in the table
  const float* Of(float clock, float* scratch) const {
    if (clock >= 0.0f && clock < static_cast<float>(rows_) && clock == std::floor(clock))
      return table_.data() + static_cast<int64_t>(clock) * units_;
    for (int64_t u = 0; u < units_; ++u) scratch[u] = FloorMod(clock, periods_[u]) == 0.0f;
    return scratch;
  }

 private:
  static constexpr int64_t kMaxTable = int64_t{1} << 20;
  const float* periods_;
  int64_t units_;
  int64_t rows_ = 0;
  std::vector<float> table_;
};

// ----------------------------------------------------------------------------- forward
// Inputs: 0 xz [T, B, N], 1 kernel [N, N], 2 h0 [B, N], 3 clock0 [B, 1], 4 periods [N],
// 5 mask [T, B] or [0], 6 dropout [B, N] or [0]. Outputs: 0 h_seq [T, B, N], 1 candidate
// phi(...) [T, B, N] and 2 clocks (each step's clock before it) [T, B] (0 steps at
// inference), 3 h_final [B, N], 4 clock_final [B, 1].
class ClockworkForwardOp : public OpKernel {
 public:
  explicit ClockworkForwardOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("training", &training_));
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
    OP_REQUIRES_OK(context, context->GetAttr("cycle", &cycle_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& xz_t = context->input(0);
    const Tensor& kernel_t = context->input(1);
    OP_REQUIRES(context, xz_t.dims() == 3 && kernel_t.dims() == 2,
                InvalidArgument("xz must be [time, batch, units] and kernel [units, units]"));
    const int64_t T = xz_t.dim_size(0), B = xz_t.dim_size(1), N = kernel_t.dim_size(0);
    OP_REQUIRES_OK(context, CheckShape(kernel_t, {N, N}, "kernel", false));
    OP_REQUIRES_OK(context, CheckShape(xz_t, {T, B, N}, "xz", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(2), {B, N}, "h0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(3), {B, 1}, "clock0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(4), {N}, "periods", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(5), {T, B}, "mask", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(6), {B, N}, "dropout", true));
    const float* xz = xz_t.flat<float>().data();
    const float* kernel = kernel_t.flat<float>().data();
    const float* h0 = context->input(2).flat<float>().data();
    const float* clock0 = context->input(3).flat<float>().data();
    const float* periods = context->input(4).flat<float>().data();
    const float* mask = OptionalData(context->input(5));
    const float* dropout = OptionalData(context->input(6));

    const int64_t stored = training_ ? T : 0;
    Tensor *h_seq_t, *cand_t, *clocks_t, *h_final_t, *clock_final_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, N}), &h_seq_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({stored, B, N}), &cand_t));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({stored, B}), &clocks_t));
    OP_REQUIRES_OK(context, context->allocate_output(3, TensorShape({B, N}), &h_final_t));
    OP_REQUIRES_OK(context, context->allocate_output(4, TensorShape({B, 1}), &clock_final_t));
    float* hf = h_final_t->flat<float>().data();
    float* clock = clock_final_t->flat<float>().data();
    if (B * N > 0) std::copy(h0, h0 + B * N, hf);
    if (B > 0) std::copy(clock0, clock0 + B, clock);
    if (T == 0 || B == 0 || N == 0) return;
    float* hs = h_seq_t->flat<float>().data();
    float* cs = training_ ? cand_t->flat<float>().data() : nullptr;
    float* ks = training_ ? clocks_t->flat<float>().data() : nullptr;
    const float cycle = cycle_;

    const Split split = SplitByRows(context, B, 2.0 * N * N);
    const ActiveUnits active(periods, N, cycle);
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
        gemms[chunk] = std::make_unique<PackedGemm>(bf16_, rows.size(), N, N, kernel, N, false);
        hz[chunk].assign(static_cast<size_t>((rows.size() + 1) * N), 0.0f);
      }
      float* out = hz[chunk].data();
      float* scratch = out + rows.size() * N;
      gemms[chunk]->Run(h_in[t % 2].data(rows.begin), N, out, N);
      GemmInput& next = h_in[(t + 1) % 2];
      for (int64_t b = rows.begin; b < rows.end; ++b) {
        const int64_t row = t * B + b;
        float* __restrict a = out + (b - rows.begin) * N;
        const float* __restrict x = xz + row * N;
#pragma GCC ivdep
        for (int64_t j = 0; j < N; ++j) a[j] = FastTanh(x[j] + a[j]);
        if (cs) {
          std::copy(a, a + N, cs + row * N);
          ks[row] = clock[b];
        }
        float* __restrict h = hf + b * N;
        const bool real = mask == nullptr || mask[row] != 0.0f;
        if (real) {
          const float now = clock[b];
          const float* __restrict on = active.Of(now, scratch);
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) h[j] = on[j] != 0.0f ? a[j] : h[j];
          clock[b] = FloorMod(now + 1.0f, cycle);
        }
        std::copy(h, h + N, hs + row * N);  // a masked row carries h and the clock
        next.SetRow(b, 0, N, h, dropout ? dropout + b * N : nullptr);
      }
    };
    RunSteps(context, split, T, 1, step);
  }

 private:
  bool training_;
  bool bf16_;
  float cycle_;
};

// ----------------------------------------------------------------------------- backward
// Inputs: 0 d_h_seq [T, B, N], 1 d_h_final [B, N] or [0], 2 kernel [N, N], 3 periods [N],
// 4 mask [T, B] or [0], 5 dropout [B, N] or [0], 6 candidate [T, B, N], 7 clocks [T, B].
// Outputs: 0 d_xz [T, B, N], 1 d_h0 [B, N].
class ClockworkBackwardOp : public OpKernel {
 public:
  explicit ClockworkBackwardOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
    OP_REQUIRES_OK(context, context->GetAttr("cycle", &cycle_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& d_h_seq_t = context->input(0);
    const Tensor& kernel_t = context->input(2);
    OP_REQUIRES(context, d_h_seq_t.dims() == 3 && kernel_t.dims() == 2,
                InvalidArgument("d_h_seq must be [T, B, N] and kernel [N, N]"));
    const int64_t T = d_h_seq_t.dim_size(0), B = d_h_seq_t.dim_size(1), N = d_h_seq_t.dim_size(2);
    OP_REQUIRES_OK(context, CheckShape(context->input(1), {B, N}, "d_h_final", true));
    OP_REQUIRES_OK(context, CheckShape(kernel_t, {N, N}, "kernel", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(3), {N}, "periods", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(4), {T, B}, "mask", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(5), {B, N}, "dropout", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(6), {T, B, N}, "candidate", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(7), {T, B}, "clocks", false));
    const float* d_h_seq = d_h_seq_t.flat<float>().data();
    const float* d_h_final = OptionalData(context->input(1));
    const float* kernel = kernel_t.flat<float>().data();
    const float* periods = context->input(3).flat<float>().data();
    const float* mask = OptionalData(context->input(4));
    const float* dropout = OptionalData(context->input(5));
    const float* candidate = context->input(6).flat<float>().data();
    const float* clocks = context->input(7).flat<float>().data();

    Tensor *d_xz_t, *d_h0_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, N}), &d_xz_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({B, N}), &d_h0_t));
    float* d_xz = d_xz_t->flat<float>().data();
    float* dh = d_h0_t->flat<float>().data();  // carried dh, ends as d_h0
    if (B * N > 0) {
      if (d_h_final) std::copy(d_h_final, d_h_final + B * N, dh);
      else std::fill(dh, dh + B * N, 0.0f);
    }
    if (T == 0 || B == 0 || N == 0) {
      if (T * B * N > 0) std::fill(d_xz, d_xz + T * B * N, 0.0f);
      return;
    }

    const Split split = SplitByRows(context, B, 2.0 * N * N);
    const ActiveUnits active(periods, N, cycle_);
    std::vector<std::unique_ptr<PackedGemm>> gemms(split.chunks);
    std::vector<std::vector<float>> outs(split.chunks);
    GemmInput da16(bf16_, bf16_ ? B : 0, N);  // bf16 copy of da_t for the GEMM

    auto step = [&](int64_t s, int /*phase*/, int chunk) {
      const int64_t t = T - 1 - s;
      const Range rows = RowRange(B, split.chunks, chunk);
      if (rows.size() == 0) return;
      if (s == 0) {
        gemms[chunk] = std::make_unique<PackedGemm>(bf16_, rows.size(), N, N, kernel, N, true);
        outs[chunk].assign(static_cast<size_t>((rows.size() + 1) * N), 0.0f);
      }
      float* scratch = outs[chunk].data() + rows.size() * N;
      for (int64_t b = rows.begin; b < rows.end; ++b) {
        const int64_t row = t * B + b;
        float* __restrict da = d_xz + row * N;
        float* __restrict dh_b = dh + b * N;
        const float* __restrict dh_out = d_h_seq + row * N;
        const bool real = mask == nullptr || mask[row] != 0.0f;
        const float* __restrict n = candidate + row * N;
        // where a unit took the candidate, h_{t-1} reaches h_t only through U; a unit (or
        // a masked row) that kept h_{t-1} passes dh straight back
        const float* __restrict on = real ? active.Of(clocks[row], scratch) : nullptr;
        if (on == nullptr) {
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) {
            da[j] = 0.0f;
            dh_b[j] += dh_out[j];
          }
        } else {
#pragma GCC ivdep
          for (int64_t j = 0; j < N; ++j) {
            const float dht = dh_b[j] + dh_out[j];
            const bool took = on[j] != 0.0f;
            da[j] = took ? dht * (1.0f - n[j] * n[j]) : 0.0f;
            dh_b[j] = took ? 0.0f : dht;
          }
        }
        if (bf16_) da16.SetRow(b, 0, N, da, nullptr);
      }
      const void* a = bf16_ ? da16.data(rows.begin)
                            : static_cast<const void*>(d_xz + (t * B + rows.begin) * N);
      float* out = outs[chunk].data();
      gemms[chunk]->Run(a, N, out, N);
      for (int64_t b = rows.begin; b < rows.end; ++b) {
        const float* __restrict through = out + (b - rows.begin) * N;
        const float* __restrict d = dropout ? dropout + b * N : nullptr;
        float* __restrict dh_b = dh + b * N;
#pragma GCC ivdep
        for (int64_t j = 0; j < N; ++j) dh_b[j] += through[j] * (d ? d[j] : 1.0f);
      }
    };
    RunSteps(context, split, T, 1, step);
  }

 private:
  bool bf16_;
  float cycle_;
};

REGISTER_KERNEL_BUILDER(Name("ZooClockworkForward").Device(DEVICE_CPU), ClockworkForwardOp);
REGISTER_KERNEL_BUILDER(Name("ZooClockworkBackward").Device(DEVICE_CPU), ClockworkBackwardOp);

}  // namespace
}  // namespace lstm_zoo

using tensorflow::shape_inference::InferenceContext;

REGISTER_OP("ZooClockworkForward")
    .Input("xz: float")
    .Input("kernel: float")
    .Input("h0: float")
    .Input("clock0: float")
    .Input("periods: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Attr("training: bool")
    .Attr("cycle: float")
    .Attr("bf16_matmul: bool = false")
    .Output("h_seq: float")
    .Output("candidate: float")
    .Output("clocks: float")
    .Output("h_final: float")
    .Output("clock_final: float")
    .SetShapeFn([](InferenceContext* c) {
      auto xz = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(xz, 3, &xz));
      auto t = c->Dim(xz, 0), b = c->Dim(xz, 1), n = c->Dim(xz, 2);
      c->set_output(0, c->MakeShape({t, b, n}));
      c->set_output(1, c->MakeShape({c->UnknownDim(), b, n}));
      c->set_output(2, c->MakeShape({c->UnknownDim(), b}));
      c->set_output(3, c->MakeShape({b, n}));
      c->set_output(4, c->MakeShape({b, 1}));
      return tensorflow::OkStatus();
    });

REGISTER_OP("ZooClockworkBackward")
    .Input("d_h_seq: float")
    .Input("d_h_final: float")
    .Input("kernel: float")
    .Input("periods: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Input("candidate: float")
    .Input("clocks: float")
    .Attr("cycle: float")
    .Attr("bf16_matmul: bool = false")
    .Output("d_xz: float")
    .Output("d_h0: float")
    .SetShapeFn([](InferenceContext* c) {
      auto d_h = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(d_h, 3, &d_h));
      auto t = c->Dim(d_h, 0), b = c->Dim(d_h, 1), n = c->Dim(d_h, 2);
      c->set_output(0, c->MakeShape({t, b, n}));
      c->set_output(1, c->MakeShape({b, n}));
      return tensorflow::OkStatus();
    });
