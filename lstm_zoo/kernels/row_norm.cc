// A layer norm over the rows of a matrix, with an added bias, forward and backward: the
// layer-norm LSTM's input projection LN(x W; g_x, b_x) + b for all steps at once
// (lstm_zoo/kernels/layer_norm_lstm.py), where TensorFlow's ops took ten passes over x W
// forward and about twenty backward. Per row v (n values), s = 1 / sqrt(var v + eps):
//
//   x^ = (v - mean v) s;   y = x^ g + b_n + b
//   backward, e = dy g:    dv = s (e - mean e - x^ mean(e x^))
//                          dg = sum_rows dy x^;  db_n = db = sum_rows dy
//
// Rows are split over TensorFlow's intra-op threads; each range keeps its own dg, db_n, summed
// after.

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

// One row range per intra-op thread (8 at most), each of at least 64k values (a range does
// about ten passes over its values: less is not worth a thread).
Split RowNormSplit(OpKernelContext* context, int64_t rows, int64_t width) {
  const int64_t threads = context->device()->tensorflow_cpu_worker_threads()->num_threads;
  const int64_t most = std::max<int64_t>(1, rows * width / 65536);
  return {static_cast<int>(std::max<int64_t>(1, std::min({threads, int64_t{8}, most, rows}))),
          true};
}

// Inputs: 0 v [R, n], 1 gamma [n], 2 beta [n], 3 bias [n] or [0]. Outputs: 0 y [R, n],
// 1 stats [R, 2] (mean, s).
class RowNormOp : public OpKernel {
 public:
  explicit RowNormOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("epsilon", &epsilon_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& v_t = context->input(0);
    OP_REQUIRES(context, v_t.dims() == 2, InvalidArgument("v must be [rows, n]"));
    const int64_t R = v_t.dim_size(0), n = v_t.dim_size(1);
    OP_REQUIRES_OK(context, CheckShape(context->input(1), {n}, "gamma", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(2), {n}, "beta", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(3), {n}, "bias", true));
    const float* v = v_t.flat<float>().data();
    const float* gamma = context->input(1).flat<float>().data();
    const float* beta = context->input(2).flat<float>().data();
    const float* bias = OptionalData(context->input(3));
    Tensor *y_t, *stats_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({R, n}), &y_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({R, 2}), &stats_t));
    if (R == 0 || n == 0) return;
    float* y = y_t->flat<float>().data();
    float* stats = stats_t->flat<float>().data();
    std::vector<float> shift(n);  // b_n + b
    for (int64_t j = 0; j < n; ++j) shift[j] = beta[j] + (bias ? bias[j] : 0.0f);
    const float epsilon = epsilon_;
    const Split split = RowNormSplit(context, R, n);
    RunStaged(context, 1, split.chunks, [&](int64_t, int chunk) {
      const Range rows = RowRange(R, split.chunks, chunk);
      const float* __restrict add = shift.data();
      for (int64_t r = rows.begin; r < rows.end; ++r) {
        float* __restrict out = y + r * n;
        float mean, inv_std;
        Moments(v + r * n, n, epsilon, out, &mean, &inv_std);  // out: v - mean
#pragma GCC ivdep
        for (int64_t j = 0; j < n; ++j) out[j] = out[j] * inv_std * gamma[j] + add[j];
        stats[2 * r] = mean;
        stats[2 * r + 1] = inv_std;
      }
    });
  }

 private:
  float epsilon_;
};

// Inputs: 0 dy [R, n], 1 v [R, n], 2 stats [R, 2], 3 gamma [n]. Outputs: 0 dv [R, n],
// 1 d_gamma [n], 2 d_beta [n] (also the added bias's gradient).
class RowNormGradOp : public OpKernel {
 public:
  explicit RowNormGradOp(OpKernelConstruction* context) : OpKernel(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& dy_t = context->input(0);
    OP_REQUIRES(context, dy_t.dims() == 2, InvalidArgument("dy must be [rows, n]"));
    const int64_t R = dy_t.dim_size(0), n = dy_t.dim_size(1);
    OP_REQUIRES_OK(context, CheckShape(context->input(1), {R, n}, "v", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(2), {R, 2}, "stats", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(3), {n}, "gamma", false));
    const float* dy = dy_t.flat<float>().data();
    const float* v = context->input(1).flat<float>().data();
    const float* stats = context->input(2).flat<float>().data();
    const float* gamma = context->input(3).flat<float>().data();
    Tensor *dv_t, *dg_t, *db_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({R, n}), &dv_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({n}), &dg_t));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({n}), &db_t));
    float* dv = dv_t->flat<float>().data();
    float* dg = dg_t->flat<float>().data();
    float* db = db_t->flat<float>().data();
    std::fill(dg, dg + n, 0.0f);
    std::fill(db, db + n, 0.0f);
    if (R == 0 || n == 0) return;
    const Split split = RowNormSplit(context, R, n);
    std::vector<std::vector<float>> partial(split.chunks);  // per range: dg, db_n
    RunStaged(context, 1, split.chunks, [&](int64_t, int chunk) {
      const Range rows = RowRange(R, split.chunks, chunk);
      std::vector<float>& sums = partial[chunk];
      sums.assign(static_cast<size_t>(2 * n), 0.0f);
      float* __restrict pg = sums.data();
      float* __restrict pb = pg + n;
      const float inv_n = 1.0f / static_cast<float>(n);
      for (int64_t r = rows.begin; r < rows.end; ++r) {
        const float* __restrict d = dy + r * n;
        const float* __restrict x = v + r * n;
        float* __restrict out = dv + r * n;  // first x^, then dv
        const float mean = stats[2 * r], inv_std = stats[2 * r + 1];
#pragma GCC ivdep
        for (int64_t j = 0; j < n; ++j) {
          const float xhat = (x[j] - mean) * inv_std;
          out[j] = xhat;
          pg[j] += d[j] * xhat;
          pb[j] += d[j];
        }
        float e_sum = 0.0f, ex_sum = 0.0f;
        {
          float lanes_e[kSumLanes] = {}, lanes_ex[kSumLanes] = {};
          const int64_t whole = n / kSumLanes * kSumLanes;
          for (int64_t j = 0; j < whole; j += kSumLanes)
            for (int l = 0; l < kSumLanes; ++l) {
              const float e = d[j + l] * gamma[j + l];
              lanes_e[l] += e;
              lanes_ex[l] += e * out[j + l];
            }
          for (int64_t j = whole; j < n; ++j) {
            const float e = d[j] * gamma[j];
            e_sum += e;
            ex_sum += e * out[j];
          }
          for (int l = 0; l < kSumLanes; ++l) {
            e_sum += lanes_e[l];
            ex_sum += lanes_ex[l];
          }
        }
        const float e_mean = e_sum * inv_n, ex_mean = ex_sum * inv_n;
#pragma GCC ivdep
        for (int64_t j = 0; j < n; ++j)
          out[j] = inv_std * (d[j] * gamma[j] - e_mean - out[j] * ex_mean);
      }
    });
    for (const std::vector<float>& sums : partial)
      for (int64_t j = 0; j < n; ++j) {
        dg[j] += sums[j];
        db[j] += sums[n + j];
      }
  }
};

REGISTER_KERNEL_BUILDER(Name("ZooRowNorm").Device(DEVICE_CPU), RowNormOp);
REGISTER_KERNEL_BUILDER(Name("ZooRowNormGrad").Device(DEVICE_CPU), RowNormGradOp);

}  // namespace
}  // namespace lstm_zoo

using tensorflow::shape_inference::InferenceContext;

REGISTER_OP("ZooRowNorm")
    .Input("v: float")
    .Input("gamma: float")
    .Input("beta: float")
    .Input("bias: float")
    .Attr("epsilon: float")
    .Output("y: float")
    .Output("stats: float")
    .SetShapeFn([](InferenceContext* c) {
      auto v = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(v, 2, &v));
      c->set_output(0, v);
      c->set_output(1, c->MakeShape({c->Dim(v, 0), 2}));
      return tensorflow::OkStatus();
    });

REGISTER_OP("ZooRowNormGrad")
    .Input("dy: float")
    .Input("v: float")
    .Input("stats: float")
    .Input("gamma: float")
    .Output("dv: float")
    .Output("d_gamma: float")
    .Output("d_beta: float")
    .SetShapeFn([](InferenceContext* c) {
      auto dy = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(dy, 2, &dy));
      c->set_output(0, dy);
      c->set_output(1, c->MakeShape({c->Dim(dy, 1)}));
      c->set_output(2, c->MakeShape({c->Dim(dy, 1)}));
      return tensorflow::OkStatus();
    });
