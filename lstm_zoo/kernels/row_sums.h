// Row reductions of the norms (layer_norm_lstm.cc, row_norm.cc): sums and dot products that
// GCC vectorizes, and a row's mean and 1 / sqrt(var + eps) as the XLA path computes them.

#ifndef LSTM_ZOO_KERNELS_ROW_SUMS_H_
#define LSTM_ZOO_KERNELS_ROW_SUMS_H_

#include <cmath>
#include <cstdint>

namespace lstm_zoo {

// Sums in 16 lanes (a loop GCC vectorizes: a plain `sum += v[j]` stays scalar, as float
// addition is not reassociated without -ffast-math), then across the lanes.
constexpr int kSumLanes = 16;

inline float Sum(const float* __restrict v, int64_t n) {
  float lanes[kSumLanes] = {};
  const int64_t whole = n / kSumLanes * kSumLanes;
  for (int64_t j = 0; j < whole; j += kSumLanes)
    for (int l = 0; l < kSumLanes; ++l) lanes[l] += v[j + l];
  float sum = 0.0f;
  for (int64_t j = whole; j < n; ++j) sum += v[j];
  for (int l = 0; l < kSumLanes; ++l) sum += lanes[l];
  return sum;
}

inline float Dot(const float* __restrict a, const float* __restrict b, int64_t n) {
  float lanes[kSumLanes] = {};
  const int64_t whole = n / kSumLanes * kSumLanes;
  for (int64_t j = 0; j < whole; j += kSumLanes)
    for (int l = 0; l < kSumLanes; ++l) lanes[l] += a[j + l] * b[j + l];
  float sum = 0.0f;
  for (int64_t j = whole; j < n; ++j) sum += a[j] * b[j];
  for (int l = 0; l < kSumLanes; ++l) sum += lanes[l];
  return sum;
}

// mean and 1 / sqrt(var + eps) of n values, two passes (as the XLA path writes LN);
// `centred` receives v - mean.
inline void Moments(const float* v, int64_t n, float epsilon, float* centred, float* mean,
                    float* inv_std) {
  const float mu = Sum(v, n) / static_cast<float>(n);
#pragma GCC ivdep
  for (int64_t j = 0; j < n; ++j) centred[j] = v[j] - mu;
  *mean = mu;
  *inv_std = 1.0f / std::sqrt(Dot(centred, centred, n) / static_cast<float>(n) + epsilon);
}

}  // namespace lstm_zoo

#endif  // LSTM_ZOO_KERNELS_ROW_SUMS_H_
