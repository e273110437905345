// Shared pieces of the native time loops (recurrence.cc: the LSTM family and the GRU;
// mutated_units.cc: MUT1-3): the activations as the XLA path computes them, bf16 rounding,
// the work split over TensorFlow's intra-op threads, MKL's packed GEMM and the GEMM operand
// buffers.

#ifndef LSTM_ZOO_KERNELS_KERNEL_COMMON_H_
#define LSTM_ZOO_KERNELS_KERNEL_COMMON_H_

#include <immintrin.h>
#include <mkl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/platform/threadpool.h"

namespace lstm_zoo {

using tensorflow::OpKernelContext;

// ----------------------------------------------------------------------------- maths
// tanh as Eigen's (and XLA:CPU's) rational approximation: the same function the XLA path
// computes, vectorized by the compiler.

inline float FastTanh(float x) {
  const float clamp = 7.90531110763549805f;
  const float small = 0.0004f;
  const float ax = std::fabs(x);
  float y = std::min(std::max(x, -clamp), clamp);
  const float y2 = y * y;
  float p = -2.76076847742355e-16f;
  p = p * y2 + 2.00018790482477e-13f;
  p = p * y2 + -8.60467152213735e-11f;
  p = p * y2 + 5.12229709037114e-08f;
  p = p * y2 + 1.48572235717979e-05f;
  p = p * y2 + 6.37261928875436e-04f;
  p = p * y2 + 4.89352455891786e-03f;
  p = p * y;
  float q = 1.19825839466702e-06f;
  q = q * y2 + 1.18534705686654e-04f;
  q = q * y2 + 2.26843463243900e-03f;
  q = q * y2 + 4.89352518554385e-03f;
  return ax < small ? x : p / q;
}
// sigma(x) = (1 + tanh(x / 2)) / 2, as the XLA path writes it.

inline float FastSigmoid(float x) { return 0.5f * FastTanh(0.5f * x) + 0.5f; }

inline uint16_t ToBf16(float x) {  // round to nearest even
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x7fffffu)) return 0x7fc0;  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float RoundToBf16(float x) {  // the float value of ToBf16(x)
  const uint32_t bits = static_cast<uint32_t>(ToBf16(x)) << 16;
  float y;
  std::memcpy(&y, &bits, 4);
  return y;
}

// MKL's bf16 GEMM only on Intel CPUs with bf16 instructions (AVX-512-BF16; AMX-BF16 comes
// with them). Elsewhere bf16 mode is emulated with the same numerics: operands rounded to
// bf16, products accumulated in fp32 by the fp32 GEMM. On an AMD EPYC (Zen 4) with
// AVX-512-BF16, MKL's bf16 GEMM ran slower than its fp32 GEMM (packed, one thread: 66-77
// against 84-85 GFLOP/s at [32-64, 256] x [256, 1024], 64 against 69 at [20, 200] x
// [200, 800]): MKL takes its bf16 instructions on Intel CPUs only.
// LSTM_ZOO_KERNEL_BF16=emulate forces the emulation, =mkl MKL's bf16 GEMM where the CPU has
// the instructions (tests, benchmarks: both modes on one machine).
inline bool CpuHasBf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  static const bool intel = __builtin_cpu_is("intel");
  const char* mode = std::getenv("LSTM_ZOO_KERNEL_BF16");
  if (mode && std::string(mode) == "emulate") return false;
  if (mode && std::string(mode) == "mkl") return has;
  return has && intel;
}

// ----------------------------------------------------------------------------- threads
// Tickets (stage, chunk) are taken in order by any participant; a ticket waits until every
// ticket of the previous stage is done. A waiting ticket only waits on tickets already taken
// by running participants, so the loop always progresses.
class StagedLoop {
 public:
  StagedLoop(int64_t stages, int chunks, std::function<void(int64_t, int)> work)
      : stages_(stages), chunks_(chunks), work_(std::move(work)) {}

  void Participate() {
    const int64_t total = stages_ * chunks_;
    for (;;) {
      const int64_t k = next_.fetch_add(1, std::memory_order_relaxed);
      if (k >= total) return;
      const int64_t stage = k / chunks_;
      WaitFor(stage * chunks_);
      work_(stage, static_cast<int>(k % chunks_));
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void WaitAll() { WaitFor(stages_ * chunks_); }

 private:
  void WaitFor(int64_t count) {
    int spins = 0;
    while (done_.load(std::memory_order_acquire) < count) {
      if (++spins < 300) {  // about 20 us (pause is ~65 ns here), then yield the core
        _mm_pause();
      } else {
        std::this_thread::yield();
      }
    }
  }

  const int64_t stages_;
  const int chunks_;
  std::function<void(int64_t, int)> work_;
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> done_{0};
};

inline void RunStaged(OpKernelContext* context, int64_t stages, int chunks,
               std::function<void(int64_t, int)> work) {
  auto loop = std::make_shared<StagedLoop>(stages, chunks, std::move(work));
  if (chunks > 1) {
    auto* pool = context->device()->tensorflow_cpu_worker_threads()->workers;
    for (int i = 1; i < chunks; ++i) pool->Schedule([loop] { loop->Participate(); });
  }
  loop->Participate();
  loop->WaitAll();
}

// How the steps' work is shared between threads. By unit ranges ("chunks" of the units, the
// columns of every gate for those units): every step needs the whole h_{t-1}, so all chunks
// of a step finish before the next step starts (a barrier per step, two per backward step).
// By batch rows: rows never read each other, so each range of rows runs all its steps on
// one thread without any barrier, each with the whole U. Rows are chosen when every range
// gets at least kMinSplitRows rows: measured on a 2-vCPU Zen 1 (same process, alternating),
// 32 rows x 100 units (a tagger's batch) train +8 % and infer +10 % by rows, 64 x 256 equal
// or +3 %, but 20 x 200 (ptb-small: 10 rows per thread, where MKL's GEMM is least
// efficient) infer -5 %. Every row range reads the whole U each step, so rows are also
// limited to U of at most kMaxRowSplitKernel floats (1 MiB): at 512 units (4 MiB) rows were
// 2-5 % slower, at 1,024 units (16 MiB) 6-10 % slower than unit ranges.
// With the register tile (below), whose row tiles of 5 run 10 rows at 94 GFLOP/s, rows pay
// from 10 a range: on a 2-vCPU Zen 3 (same process, alternating, 2026-12-08) by rows at
// 20 x 200 zoo_lstm inference +6 %, training +6 %, peephole training +12 %, zoo_gru
// inference +6 %; 24 x 128 inference +17 %, training +12 %; but 16 x 200 (8 rows a range)
// training -3 %, and at 4 rows a range unit ranges were 15-20 % faster.
// LSTM_ZOO_KERNEL_SPLIT=rows or units forces one (benchmarks, tests).
constexpr int64_t kMinSplitRows = 16;
constexpr int64_t kMinSplitRowsTile = 10;
inline bool UseTileGemm();
constexpr int64_t kMaxRowSplitKernel = int64_t{1} << 18;

struct Split {
  int chunks;
  bool by_rows;
};

inline Split ChooseSplit(OpKernelContext* context, int64_t batch, int64_t units, int blocks) {
  const int threads = context->device()->tensorflow_cpu_worker_threads()->num_threads;
  const double flops = 2.0 * batch * units * units * blocks;
  int chunks = std::max(1, std::min(threads, 8));
  if (flops < 2.0e6) chunks = 1;
  if (const char* forced = std::getenv("LSTM_ZOO_KERNEL_THREADS")) {  // benchmarks, tests
    chunks = std::max(1, std::atoi(forced));
  }
  const int64_t min_rows = UseTileGemm() ? kMinSplitRowsTile : kMinSplitRows;
  bool by_rows = batch / std::max(chunks, 1) >= min_rows &&
                 units * units * blocks <= kMaxRowSplitKernel;
  if (const char* forced = std::getenv("LSTM_ZOO_KERNEL_SPLIT")) {
    by_rows = std::string(forced) == "rows";
  }
  // at least 16 units per unit chunk, at least one row per row range
  const int64_t most = by_rows ? std::max<int64_t>(1, batch) : std::max<int64_t>(1, units / 16);
  return {static_cast<int>(std::min<int64_t>(chunks, most)), by_rows};
}

// A split by batch rows only, for loops whose step reduces over a whole row (norms) or
// keeps per-row state (a clock) or runs several layers: as ChooseSplit's, one range per
// intra-op thread (at most 8) when a step does at least 2 MFLOP of GEMM
// (`step_flops_per_row` times the rows), LSTM_ZOO_KERNEL_THREADS forcing the count.
inline Split SplitByRows(OpKernelContext* context, int64_t batch, double step_flops_per_row) {
  const int threads = context->device()->tensorflow_cpu_worker_threads()->num_threads;
  int chunks = std::max(1, std::min(threads, 8));
  if (step_flops_per_row * batch < 2.0e6) chunks = 1;
  if (const char* forced = std::getenv("LSTM_ZOO_KERNEL_THREADS")) {  // benchmarks, tests
    chunks = std::max(1, std::atoi(forced));
  }
  return {static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(chunks, batch))), true};
}

struct Range {
  int64_t begin, end;
  int64_t size() const { return end - begin; }
};

inline Range ChunkRange(int64_t units, int chunks, int chunk) {
  // multiples of 8 units (one AVX2 register) where possible: 200 units over 2 threads are
  // 104 + 96 (multiples of 16 made them 112 + 88, and the larger range sets the step's time)
  const int64_t per = ((units + chunks - 1) / chunks + 7) / 8 * 8;
  const int64_t begin = std::min(units, per * chunk);
  const int64_t end = chunk == chunks - 1 ? units : std::min(units, begin + per);
  return {begin, end};
}

inline Range RowRange(int64_t rows, int chunks, int chunk) {
  const int64_t per = (rows + chunks - 1) / chunks;
  return {std::min(rows, per * chunk), std::min(rows, per * (chunk + 1))};
}

// The rows and units one chunk of a split works on.
struct Part {
  Range rows, units;
};

inline Part PartOf(const Split& split, int64_t batch, int64_t units, int chunk) {
  if (split.by_rows) return {RowRange(batch, split.chunks, chunk), {0, units}};
  return {{0, batch}, ChunkRange(units, split.chunks, chunk)};
}

// Runs step(t, chunk) for t in `order` (0..T-1 forward, or a backward order) over the
// split: per row range one ticket with every step, or per step a stage of unit chunks.
inline void RunSteps(OpKernelContext* context, const Split& split, int64_t steps, int phases,
              const std::function<void(int64_t, int, int)>& step_phase) {
  if (split.by_rows) {
    RunStaged(context, 1, split.chunks, [&](int64_t, int chunk) {
      for (int64_t s = 0; s < steps; ++s)
        for (int phase = 0; phase < phases; ++phase) step_phase(s, phase, chunk);
    });
  } else {
    RunStaged(context, steps * phases, split.chunks, [&](int64_t stage, int chunk) {
      step_phase(stage / phases, static_cast<int>(stage % phases), chunk);
    });
  }
}

// ----------------------------------------------------------------------------- GEMM
// The steps' GEMMs are small (a thread's rows of h, [8-64, 100-512] x [100-512, 400-2048]).
// On a CPU with AVX2 + FMA and no AVX-512 they run on our own register tile (below); MKL's
// packed GEMM elsewhere, and for bf16 operands on CPUs with bf16 instructions.
// Measured on a 2-vCPU AMD EPYC Zen 3 (one thread, best of 5, 2026-12-07): our tile 90.2 /
// 91.9 / 80.0 / 75.2 GFLOP/s against MKL's packed `cblas_sgemm_compute` 70.4 / 77.2 / 48.1
// / 57.9 at [32, 256] x [256, 1024], [64, 256] x [256, 1024], [10, 200] x [200, 800],
// [20, 200] x [200, 800]; the core's FMA peak measured 99. (MKL's Zen path repacks A on
// every call, 17 % of its time at [32, 256] x [256, 1024].)
// LSTM_ZOO_KERNEL_GEMM=mkl forces MKL (tests, benchmarks).
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#define LSTM_ZOO_TILE_GEMM 1
#endif

inline bool UseTileGemm() {
#ifdef LSTM_ZOO_TILE_GEMM
  const char* forced = std::getenv("LSTM_ZOO_KERNEL_GEMM");
  return !(forced && std::string(forced) == "mkl");
#else
  return false;
#endif
}

#ifdef LSTM_ZOO_TILE_GEMM
namespace tile_gemm {
// C [m, n] (+)= A [m, k] B [k, n]. B is packed once into panels of kCols columns,
// [panel][k][kCols] (the last panel zero-padded); A is read in place. A tile of kRows rows
// by kCols columns of C lives in 12 ymm registers over a block of kDepth of k (the panel's
// slice, 16 KiB, stays in L1 while every row tile of A uses it).
constexpr int kCols = 16, kRows = 6;
constexpr int64_t kDepth = 256;

inline int64_t PackedFloats(int64_t k, int64_t n) { return (n + kCols - 1) / kCols * kCols * k; }

inline int64_t Panels(int64_t n) { return (n + kCols - 1) / kCols; }

// b: [k, n] with leading dimension ldb, or (transpose) [n, k]. Panels [first, last) only
// when given (threads pack shares of one B).
inline void Pack(const float* b, int64_t k, int64_t n, int64_t ldb, bool transpose,
                 float* out, int64_t first = 0, int64_t last = -1) {
  if (last < 0) last = Panels(n);
  const int64_t whole = transpose ? first : std::min(last, n / kCols);  // panels of 16 columns
  for (int64_t kk = 0; kk < k; ++kk) {  // b's rows in order, each to its row of every panel
    const float* in = b + kk * ldb;
    for (int64_t p = first; p < whole; ++p) {
      float* row = out + (p * k + kk) * kCols;
      _mm256_store_ps(row, _mm256_loadu_ps(in + p * kCols));
      _mm256_store_ps(row + 8, _mm256_loadu_ps(in + p * kCols + 8));
    }
  }
  for (int64_t p = std::max(first, whole); p < last; ++p) {
    const int64_t cols = std::min<int64_t>(kCols, n - p * kCols);
    for (int64_t kk = 0; kk < k; ++kk) {
      float* row = out + (p * k + kk) * kCols;
      if (transpose) {
        for (int64_t j = 0; j < cols; ++j) row[j] = b[(p * kCols + j) * ldb + kk];
      } else {
        std::copy(b + kk * ldb + p * kCols, b + kk * ldb + p * kCols + cols, row);
      }
      std::fill(row + cols, row + kCols, 0.0f);
    }
  }
}

// lo += a_k[I] b0 and hi += a_k[I] b1: row I of a tile of R rows (nothing when I >= R).
template <int I, int R>
inline void RowFma(const float* ak, __m256 b0, __m256 b1, __m256& lo, __m256& hi) {
  if constexpr (I < R) {
    const __m256 v = _mm256_broadcast_ss(ak + I);
    lo = _mm256_fmadd_ps(v, b0, lo);
    hi = _mm256_fmadd_ps(v, b1, hi);
  }
}

// The named accumulators (an array of them was kept in memory by GCC: a store per FMA).
// `a`: the tile's R rows of A packed k-major, [depth][R] (PackRows).
template <int R, bool kAccumulate>
inline void Tile(const float* __restrict a, const float* __restrict panel, int64_t depth,
                 float* __restrict c, int64_t ldc, __m256i mask0, __m256i mask1, bool full) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t kk = 0; kk < depth; ++kk) {
    const __m256 b0 = _mm256_load_ps(panel + kk * kCols);
    const __m256 b1 = _mm256_load_ps(panel + kk * kCols + 8);
    const float* ak = a + kk * R;
    RowFma<0, R>(ak, b0, b1, c00, c01);
    RowFma<1, R>(ak, b0, b1, c10, c11);
    RowFma<2, R>(ak, b0, b1, c20, c21);
    RowFma<3, R>(ak, b0, b1, c30, c31);
    RowFma<4, R>(ak, b0, b1, c40, c41);
    RowFma<5, R>(ak, b0, b1, c50, c51);
  }
  const __m256 rows[kRows][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                 {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < R; ++i) {
    float* out = c + i * ldc;
    __m256 lo = rows[i][0], hi = rows[i][1];
    if (full) {
      if constexpr (kAccumulate) {
        lo = _mm256_add_ps(lo, _mm256_loadu_ps(out));
        hi = _mm256_add_ps(hi, _mm256_loadu_ps(out + 8));
      }
      _mm256_storeu_ps(out, lo);
      _mm256_storeu_ps(out + 8, hi);
    } else {
      if constexpr (kAccumulate) {
        lo = _mm256_add_ps(lo, _mm256_maskload_ps(out, mask0));
        hi = _mm256_add_ps(hi, _mm256_maskload_ps(out + 8, mask1));
      }
      _mm256_maskstore_ps(out, mask0, lo);
      _mm256_maskstore_ps(out + 8, mask1, hi);
    }
  }
}

template <bool kAccumulate>
inline void TileRows(int rows, const float* a, const float* panel, int64_t depth, float* c,
                     int64_t ldc, __m256i mask0, __m256i mask1, bool full) {
  switch (rows) {
    case 6: return Tile<6, kAccumulate>(a, panel, depth, c, ldc, mask0, mask1, full);
    case 5: return Tile<5, kAccumulate>(a, panel, depth, c, ldc, mask0, mask1, full);
    case 4: return Tile<4, kAccumulate>(a, panel, depth, c, ldc, mask0, mask1, full);
    case 3: return Tile<3, kAccumulate>(a, panel, depth, c, ldc, mask0, mask1, full);
    case 2: return Tile<2, kAccumulate>(a, panel, depth, c, ldc, mask0, mask1, full);
    default: return Tile<1, kAccumulate>(a, panel, depth, c, ldc, mask0, mask1, full);
  }
}

// MultiplyBlock: c = a b for a block of at most kBlockRows rows of a (their [rows, kDepth]
// slice stays in L2 while every panel passes).
constexpr int64_t kBlockRows = 96;

// How a block of m <= kBlockRows rows is cut into row tiles: the cut of least total time,
// by the time of one tile of r rows relative to the others (measured on a 2-vCPU AMD EPYC
// Zen 3, one thread, [r, 200-256] x [200-256, 800-1,024], 2026-12-08: r = 1..6 ran at 26 /
// 48 / 58 / 61 / 91 / 93 GFLOP/s). A 4-row tile takes as long as a 6-row one (8 FMA chains
// barely cover the FMA latency), so 20 rows run as 5 + 5 + 5 + 5 (+9 % against 6 + 6 + 6 +
// 2) and 10 rows as 5 + 5 (+25 % against 6 + 4).
struct RowTiles {
  int count = 0;
  int64_t start[kBlockRows + 1];  // tile t covers rows [start[t], start[t + 1])

  explicit RowTiles(int64_t m) {  // m <= kBlockRows
    static const std::vector<int> cut = BestCuts();
    int64_t row = 0;
    start[0] = 0;
    while (row < m) {
      row += cut[static_cast<size_t>(std::min(m - row, kBlockRows))];
      start[++count] = row;
    }
  }
  int64_t Start(int t) const { return start[t]; }
  int Rows(int t) const { return static_cast<int>(start[t + 1] - start[t]); }

 private:
  // cut[m]: the rows of the first tile of the best cut of m rows (dynamic programming).
  static std::vector<int> BestCuts() {
    constexpr double kTileTime[kRows + 1] = {0, 38, 41, 51, 65, 55, 64};
    std::vector<double> best(kBlockRows + 1, 0.0);
    std::vector<int> cut(kBlockRows + 1, 0);
    for (int64_t m = 1; m <= kBlockRows; ++m) {
      best[m] = 1e30;
      for (int r = 1; r <= kRows && r <= m; ++r) {
        const double time = kTileTime[r] + best[m - r];
        if (time < best[m]) best[m] = time, cut[m] = r;
      }
    }
    return cut;
  }
};

// A's rows [0, m) and columns [k0, k0 + depth) into the row tiles of `tiles`, each k-major
// ([depth][rows]), one after the other: the tiles' broadcasts then read consecutive floats.
// (Read in place, rows 1-4 KiB apart share few L1 sets: at k = 1,024 the tile ran at 64-66
// GFLOP/s against 88 at k = 256.)
inline void PackRows(const float* a, int64_t lda, int64_t k0, int64_t depth, float* out,
                     const RowTiles& tiles) {
  for (int t = 0; t < tiles.count; ++t) {
    const int64_t i = tiles.Start(t), rows = tiles.Rows(t);
    float* tile = out + i * depth;
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = a + (i + r) * lda + k0;
      for (int64_t kk = 0; kk < depth; ++kk) tile[kk * rows + r] = row[kk];
    }
  }
}

inline void MultiplyBlock(const float* a, int64_t lda, const float* packed, int64_t m,
                          int64_t n, int64_t k, float* c, int64_t ldc) {
  thread_local std::vector<float> a_tiles;
  a_tiles.resize(static_cast<size_t>(m * std::min(kDepth, k)));
  const int64_t panels = (n + kCols - 1) / kCols;
  const RowTiles tiles(m);
  for (int64_t k0 = 0; k0 < k; k0 += kDepth) {
    const int64_t depth = std::min(kDepth, k - k0);
    PackRows(a, lda, k0, depth, a_tiles.data(), tiles);
    for (int64_t p = 0; p < panels; ++p) {
      const float* panel = packed + (p * k + k0) * kCols;
      const int64_t cols = std::min<int64_t>(kCols, n - p * kCols);
      const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256i mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cols)), lanes);
      const __m256i mask1 =
          _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cols) - 8), lanes);
      const bool full = cols == kCols;
      for (int t = 0; t < tiles.count; ++t) {
        const int64_t i = tiles.Start(t);
        const int rows = tiles.Rows(t);
        const float* a_tile = a_tiles.data() + i * depth;
        float* c_tile = c + i * ldc + p * kCols;
        if (k0 == 0) {
          TileRows<false>(rows, a_tile, panel, depth, c_tile, ldc, mask0, mask1, full);
        } else {
          TileRows<true>(rows, a_tile, panel, depth, c_tile, ldc, mask0, mask1, full);
        }
      }
    }
  }
}

// The row blocks of m rows: ceil(m / kBlockRows) blocks of balanced sizes (200 rows as 67 +
// 67 + 66, not 96 + 96 + 8: each block streams all of B once).
inline int64_t RowBlocks(int64_t m) { return (m + kBlockRows - 1) / kBlockRows; }

inline Range RowBlock(int64_t m, int64_t block) {
  const int64_t blocks = RowBlocks(m);
  const int64_t base = m / blocks, extra = m % blocks;
  const int64_t begin = block * base + std::min(block, extra);
  return {begin, begin + base + (block < extra ? 1 : 0)};
}

// c [m, n] = a [m, k] b [k, n] (k > 0), b packed by Pack.
inline void Multiply(const float* a, int64_t lda, const float* packed, int64_t m, int64_t n,
                     int64_t k, float* c, int64_t ldc) {
  for (int64_t block = 0; block < RowBlocks(m); ++block) {
    const Range rows = RowBlock(m, block);
    MultiplyBlock(a + rows.begin * lda, lda, packed, rows.size(), n, k, c + rows.begin * ldc,
                  ldc);
  }
}
}  // namespace tile_gemm
#endif  // LSTM_ZOO_TILE_GEMM

// C [m, n] = A [m, k] B [k, n] with B packed once. fp32, or bf16 inputs with fp32 output.
class PackedGemm {
 public:
  // `b` row-major [k, n] with leading dimension ldb, transposed when `transpose` (then b is
  // [n, k] with leading dimension ldb).
  // bf16: bf16 operands, fp32 accumulation (emulated with rounded fp32 operands where the
  // CPU has no bf16 instructions).
  PackedGemm(bool bf16, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb,
             bool transpose)
      : bf16_(bf16 && CpuHasBf16()), tile_(!bf16_ && UseTileGemm()), m_(m), n_(n), k_(k) {
    if (m == 0 || n == 0 || k == 0) return;
    const CBLAS_TRANSPOSE trans = transpose ? CblasTrans : CblasNoTrans;
    std::vector<float> rounded;
    if (bf16 && !bf16_) {
      rounded.resize(Extent(transpose ? n : k, transpose ? k : n, ldb));
      for (size_t i = 0; i < rounded.size(); ++i) rounded[i] = RoundToBf16(b[i]);
      b = rounded.data();
    }
#ifdef LSTM_ZOO_TILE_GEMM
    if (tile_) {
      packed_ = mkl_malloc(sizeof(float) * tile_gemm::PackedFloats(k, n), 64);
      tile_gemm::Pack(b, k, n, ldb, transpose, static_cast<float*>(packed_));
      return;
    }
#endif
    if (bf16_) {
      std::vector<uint16_t> b16(Extent(transpose ? n : k, transpose ? k : n, ldb));
      for (size_t i = 0; i < b16.size(); ++i) b16[i] = ToBf16(b[i]);
      const size_t size = cblas_gemm_bf16bf16f32_pack_get_size(CblasBMatrix, m, n, k);
      packed_ = mkl_malloc(size, 64);
      cblas_gemm_bf16bf16f32_pack(CblasRowMajor, CblasBMatrix, trans, m, n, k,
                                  reinterpret_cast<const MKL_BF16*>(b16.data()), ldb,
                                  static_cast<MKL_BF16*>(packed_));
    } else {
      const size_t size = cblas_sgemm_pack_get_size(CblasBMatrix, m, n, k);
      packed_ = mkl_malloc(size, 64);
      cblas_sgemm_pack(CblasRowMajor, CblasBMatrix, trans, m, n, k, 1.0f, b, ldb,
                       static_cast<float*>(packed_));
    }
  }
  // The floats a [rows, cols] operand with leading dimension ld spans (a block of a wider
  // matrix ends at its last row's last column, not at ld).
  static size_t Extent(int64_t rows, int64_t cols, int64_t ld) {
    return rows == 0 ? 0 : static_cast<size_t>((rows - 1) * ld + cols);
  }
  ~PackedGemm() {
    if (packed_) mkl_free(packed_);
  }
  PackedGemm(const PackedGemm&) = delete;
  PackedGemm& operator=(const PackedGemm&) = delete;

  // a: float [m, k] (fp32 mode) or uint16 bf16 [m, k] (bf16 mode), leading dimension lda.
  void Run(const void* a, int64_t lda, float* c, int64_t ldc) const {
    if (m_ == 0 || n_ == 0) return;
    if (k_ == 0) {
      for (int64_t i = 0; i < m_; ++i) std::fill(c + i * ldc, c + i * ldc + n_, 0.0f);
      return;
    }
#ifdef LSTM_ZOO_TILE_GEMM
    if (tile_) {
      tile_gemm::Multiply(static_cast<const float*>(a), lda, static_cast<const float*>(packed_),
                          m_, n_, k_, c, ldc);
      return;
    }
#endif
    if (bf16_) {
      cblas_gemm_bf16bf16f32_compute(CblasRowMajor, CblasNoTrans, CblasPacked, m_, n_, k_, 1.0f,
                                     static_cast<const MKL_BF16*>(a), lda,
                                     static_cast<const MKL_BF16*>(packed_), n_, 0.0f, c, ldc);
    } else {
      cblas_sgemm_compute(CblasRowMajor, CblasNoTrans, CblasPacked, m_, n_, k_,
                          static_cast<const float*>(a), lda, static_cast<const float*>(packed_),
                          n_, 0.0f, c, ldc);
    }
  }

 private:
  bool bf16_;
  bool tile_;  // our register tile (fp32 on AVX2 + FMA without AVX-512), else MKL
  int64_t m_, n_, k_;
  void* packed_ = nullptr;
};

// A row-major [rows, cols] operand the GEMMs read: fp32, or a bf16 copy kept beside it.
struct GemmInput {
  bool bf16;   // stored as bf16 (for MKL's bf16 GEMM)
  bool round;  // stored as fp32 rounded to bf16 (the emulated bf16 mode)
  int64_t cols;
  std::vector<float> f32;
  std::vector<uint16_t> b16;
  GemmInput(bool bf16_mode, int64_t rows, int64_t cols_)
      : bf16(bf16_mode && CpuHasBf16()), round(bf16_mode && !CpuHasBf16()), cols(cols_) {
    if (bf16) {
      b16.assign(static_cast<size_t>(rows * cols), 0);
    } else {
      f32.assign(static_cast<size_t>(rows * cols), 0.0f);
    }
  }
  void Set(int64_t row, int64_t col, float value) {
    if (bf16) {
      b16[row * cols + col] = ToBf16(value);
    } else {
      f32[row * cols + col] = round ? RoundToBf16(value) : value;
    }
  }
  // row[col0 .. col0 + n) = values * scale (scale may be null)
  void SetRow(int64_t row, int64_t col0, int64_t n, const float* __restrict values,
              const float* __restrict scale) {
    if (bf16) {
      uint16_t* __restrict out = b16.data() + row * cols + col0;
#pragma GCC ivdep
      for (int64_t j = 0; j < n; ++j) out[j] = ToBf16(scale ? values[j] * scale[j] : values[j]);
    } else {
      float* __restrict out = f32.data() + row * cols + col0;
      if (round) {
#pragma GCC ivdep
        for (int64_t j = 0; j < n; ++j)
          out[j] = RoundToBf16(scale ? values[j] * scale[j] : values[j]);
      } else if (scale) {
#pragma GCC ivdep
        for (int64_t j = 0; j < n; ++j) out[j] = values[j] * scale[j];
      } else {
        std::copy(values, values + n, out);
      }
    }
  }
  const void* data(int64_t row = 0, int64_t col = 0) const {
    return bf16 ? static_cast<const void*>(b16.data() + row * cols + col)
                : static_cast<const void*>(f32.data() + row * cols + col);
  }
};


// In place over n values: y = sigma(x) (gate) or phi(x) (candidate).
inline void SigmoidInPlace(float* __restrict x, int64_t n) {
#pragma GCC ivdep
  for (int64_t j = 0; j < n; ++j) x[j] = FastSigmoid(x[j]);
}
inline void TanhInPlace(float* __restrict x, int64_t n) {
#pragma GCC ivdep
  for (int64_t j = 0; j < n; ++j) x[j] = FastTanh(x[j]);
}
inline void AddInPlace(float* __restrict x, const float* __restrict y, int64_t n) {
#pragma GCC ivdep
  for (int64_t j = 0; j < n; ++j) x[j] += y[j];
}

// ----------------------------------------------------------------------------- op inputs
// OK when `t` has `shape` (or, when `optional`, no elements: an absent operand), else an
// error that names the input and both shapes.
inline tensorflow::Status CheckShape(const tensorflow::Tensor& t, std::vector<int64_t> shape,
                                     const char* name, bool optional) {
  if (optional && t.NumElements() == 0) return tensorflow::OkStatus();
  bool ok = t.dims() == static_cast<int>(shape.size());
  for (size_t d = 0; ok && d < shape.size(); ++d) ok = t.dim_size(d) == shape[d];
  if (!ok) {
    std::string expected = "[";
    for (size_t d = 0; d < shape.size(); ++d) expected += (d ? ", " : "") + std::to_string(shape[d]);
    return tensorflow::errors::InvalidArgument(name, " has shape ", t.shape().DebugString(),
                                               ", expected ", expected, "]",
                                               optional ? " or empty" : "");
  }
  return tensorflow::OkStatus();
}

// The data of an optional float operand, or null when it is absent (empty).
inline const float* OptionalData(const tensorflow::Tensor& t) {
  return t.NumElements() ? t.flat<float>().data() : nullptr;
}

}  // namespace lstm_zoo

#endif  // LSTM_ZOO_KERNELS_KERNEL_COMMON_H_
