// The machine's float32 FMA peak, measured: the roofline the benchmarks report shares of
// (`lstm_zoo.bench_kernels`). Every intra-op thread runs 12 independent chains of vector
// FMAs (ymm on AVX2, zmm with AVX-512: more chains than the FMA latency times the pipes) for
// about `seconds`; the op returns the FLOP/s of all threads together, in GFLOP/s.
//
// No GEMM can run faster than this; a GEMM's share of it says how much of the machine it
// uses. (A TensorFlow MatMul at the same shape was the earlier reference: its per-op cost
// made it slower than the kernel's own GEMM, so shares read above 100 %.)

#include <chrono>

#include "kernel_common.h"
#include "tensorflow/core/framework/common_shape_fns.h"
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

#ifdef __AVX512F__
using Vector = __m512;
constexpr int kLanes = 16;
inline Vector Set(float x) { return _mm512_set1_ps(x); }
inline Vector Fma(Vector a, Vector b, Vector c) { return _mm512_fmadd_ps(a, b, c); }
inline float First(Vector v) { return _mm512_cvtss_f32(v); }
#else
using Vector = __m256;
constexpr int kLanes = 8;
inline Vector Set(float x) { return _mm256_set1_ps(x); }
inline Vector Fma(Vector a, Vector b, Vector c) { return _mm256_fmadd_ps(a, b, c); }
inline float First(Vector v) { return _mm256_cvtss_f32(v); }
#endif

// FLOPs of `rounds` rounds of 12 FMAs on 12 chains (the sum keeps them live).
double Chains(int64_t rounds, float* sink) {
  Vector c0 = Set(1.0f), c1 = Set(1.1f), c2 = Set(1.2f), c3 = Set(1.3f), c4 = Set(1.4f),
         c5 = Set(1.5f), c6 = Set(1.6f), c7 = Set(1.7f), c8 = Set(1.8f), c9 = Set(1.9f),
         c10 = Set(2.0f), c11 = Set(2.1f);
  const Vector x = Set(0.9999999f), y = Set(1e-7f);
  for (int64_t r = 0; r < rounds; ++r) {
    c0 = Fma(c0, x, y);
    c1 = Fma(c1, x, y);
    c2 = Fma(c2, x, y);
    c3 = Fma(c3, x, y);
    c4 = Fma(c4, x, y);
    c5 = Fma(c5, x, y);
    c6 = Fma(c6, x, y);
    c7 = Fma(c7, x, y);
    c8 = Fma(c8, x, y);
    c9 = Fma(c9, x, y);
    c10 = Fma(c10, x, y);
    c11 = Fma(c11, x, y);
  }
  *sink = First(c0) + First(c1) + First(c2) + First(c3) + First(c4) + First(c5) + First(c6) +
          First(c7) + First(c8) + First(c9) + First(c10) + First(c11);
  return 2.0 * 12 * kLanes * static_cast<double>(rounds);
}

class FmaPeakOp : public OpKernel {
 public:
  explicit FmaPeakOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("seconds", &seconds_));
  }

  void Compute(tensorflow::OpKernelContext* context) override {
    const int threads = context->device()->tensorflow_cpu_worker_threads()->num_threads;
    const int chunks = std::max(1, std::min(threads, 64));
    std::vector<double> rates(chunks, 0.0);
    std::vector<float> sinks(chunks, 0.0f);
    RunStaged(context, 1, chunks, [&](int64_t, int chunk) {
      Chains(100000, &sinks[chunk]);  // warm up (clock, pipes)
      int64_t rounds = 1000000;
      double flops = 0.0, elapsed = 0.0;
      const auto start = std::chrono::steady_clock::now();
      while (elapsed < seconds_) {
        flops += Chains(rounds, &sinks[chunk]);
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      rates[chunk] = flops / elapsed;
    });
    Tensor* out = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({}), &out));
    double total = 0.0;
    for (double rate : rates) total += rate;
    out->scalar<float>()() = static_cast<float>(total / 1e9);
  }

 private:
  float seconds_;
};

REGISTER_KERNEL_BUILDER(Name("ZooFmaPeak").Device(DEVICE_CPU), FmaPeakOp);

}  // namespace
}  // namespace lstm_zoo

REGISTER_OP("ZooFmaPeak")
    .Attr("seconds: float = 0.2")
    .Output("gflops: float")
    .SetIsStateful()  // a measurement: never constant-folded or cached
    .SetShapeFn(tensorflow::shape_inference::ScalarShape);
