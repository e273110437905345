// Native CPU time loops for the zoo recurrences (lstm, peephole, coupled, gru reset_after).
//
// The caller (lstm_zoo/kernels/recurrence.py) hands over the input projection of every step,
// xz[t] = x_t W + b (one large GEMM: ZooProjection below, MKL's sgemm over the intra-op
// threads), and the recurrent kernel U. Per step the
// forward does one recurrent GEMM hz = h_in U (+ b_rec) with U packed once per call (MKL's
// packed GEMM; bf16 x bf16 -> fp32 on AMX / AVX-512-BF16 when asked) and the cell's gate
// maths fused over the rows while they are in cache. The backward does per step the cell's
// gate derivatives and one GEMM dh_{t-1} = dhz U^T; the weight gradients (dU = H^T dHZ,
// dW = X^T dXZ) stay large TensorFlow MatMuls in the caller.
//
// Work is split between threads either by batch rows (each range of rows runs every step on
// its own, with the whole U: no synchronization at all) or, when there are too few rows per
// thread, by unit ranges ("chunks": the columns of every gate for those units, so a chunk's
// gate maths needs only its own GEMM columns). Split by units, steps (forward) or step phases
// (backward: gate derivatives, then the GEMM) are stages; every chunk of a stage may run on
// any thread, a stage starts when the previous one is finished. Threads come from
// TensorFlow's intra-op pool; the calling thread takes tickets too, so the loop finishes
// even when no pool thread is free (no deadlock under inter-op parallelism).
//
// Equations (sigma = sigmoid, phi = tanh, z = xz + hz split into gate blocks):
//   lstm:     i,f,o = sigma(z_i,z_f,z_o); g = phi(z_c); c = f c' + i g; h = o phi(c)
//   peephole: i = sigma(z_i + p_i c'); f = sigma(z_f + p_f c'); c = f c' + i g;
//             o = sigma(z_o + p_o c); h = o phi(c)
//   coupled:  i,o = sigma(z_i,z_o); g = phi(z_c); c = c' + i (g - c'); h = o phi(c)
//   gru:      z,r = sigma(x_zr + hz_zr); n = phi(x_n + r hz_n); h = n + z (h' - n)
// Masked steps (mask 0) carry every state through; their gradients go straight back.

#include "kernel_common.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace lstm_zoo {
namespace {

using tensorflow::DEVICE_CPU;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::errors::InvalidArgument;

enum class Cell { kLstm, kPeephole, kCoupled, kGru };

int Blocks(Cell cell) { return (cell == Cell::kLstm || cell == Cell::kPeephole) ? 4 : 3; }

Cell ParseCell(const std::string& name) {
  if (name == "lstm") return Cell::kLstm;
  if (name == "peephole") return Cell::kPeephole;
  if (name == "coupled") return Cell::kCoupled;
  return Cell::kGru;
}

// ----------------------------------------------------------------------------- inputs
struct Weights {
  int64_t steps, batch, units, width;
  const float* xz;         // [T, B, G]
  const float* kernel;     // [N, G]
  const float* rec_bias;   // [G] or null
  const float* h0;         // [B, N]
  const float* c0;         // [B, N] or null (gru)
  const float* peepholes;  // [3, N] or null
  const float* mask;       // [T, B] or null
  const float* dropout;    // [B, N] or null
};

tensorflow::Status ReadWeights(OpKernelContext* context, Cell cell, Weights* w) {
  const Tensor& xz = context->input(0);
  const Tensor& kernel = context->input(1);
  if (xz.dims() != 3) return InvalidArgument("xz must be [time, batch, width]");
  if (kernel.dims() != 2) return InvalidArgument("kernel must be [units, width]");
  w->steps = xz.dim_size(0);
  w->batch = xz.dim_size(1);
  w->width = xz.dim_size(2);
  w->units = kernel.dim_size(0);
  const int64_t n = w->units, b = w->batch;
  if (kernel.dim_size(1) != w->width || w->width != Blocks(cell) * n)
    return InvalidArgument("kernel [", n, ", ", kernel.dim_size(1),
                           "] does not match xz width ", w->width, " for ", Blocks(cell),
                           " gate blocks");
  auto optional = [&](int index, std::vector<int64_t> shape,
                      const float** out) -> tensorflow::Status {
    const Tensor& t = context->input(index);
    *out = nullptr;
    if (t.NumElements() == 0) return tensorflow::OkStatus();  // absent (or empty)
    if (t.dims() != static_cast<int>(shape.size()))
      return InvalidArgument("input ", index, " has shape ", t.shape().DebugString());
    for (size_t d = 0; d < shape.size(); ++d)
      if (t.dim_size(d) != shape[d])
        return InvalidArgument("input ", index, " has shape ", t.shape().DebugString());
    *out = t.flat<float>().data();
    return tensorflow::OkStatus();
  };
  w->xz = xz.flat<float>().data();
  w->kernel = kernel.flat<float>().data();
  TF_RETURN_IF_ERROR(optional(2, {w->width}, &w->rec_bias));
  TF_RETURN_IF_ERROR(optional(3, {b, n}, &w->h0));
  TF_RETURN_IF_ERROR(optional(4, {b, n}, &w->c0));
  TF_RETURN_IF_ERROR(optional(5, {3, n}, &w->peepholes));
  TF_RETURN_IF_ERROR(optional(6, {w->steps, b}, &w->mask));
  TF_RETURN_IF_ERROR(optional(7, {b, n}, &w->dropout));
  if (w->h0 == nullptr && b * n > 0) return InvalidArgument("h0 is required");
  if (cell != Cell::kGru && w->c0 == nullptr && b * n > 0) return InvalidArgument("c0 is required");
  if (cell == Cell::kPeephole && w->peepholes == nullptr && n > 0)
    return InvalidArgument("peephole weights are required");
  return tensorflow::OkStatus();
}

// ----------------------------------------------------------------------------- rows
// One batch row of one chunk of units: the pointers start at the chunk's first unit; gate
// block k of the row's xz / gates lives at offset k * units, of hz at k * n.
struct RowPointers {
  int64_t n, units;
  const float* xz;
  const float* hz;
  const float* rec_bias;   // gru (zeros where the cell has none); null for the lstm family
  const float* peepholes;  // peephole: [3, units], or null
  float* h;                // state in, state out
  float* c;
  float* gates;  // training: activated gates [blocks * units]
  float* h_out;
  float* c_out;  // training (lstm family)
  float* scratch;   // n floats
  float* scratch2;  // n floats
  float* aux;    // training (gru): hz_n
  bool real;
};


// Three short passes over the row, each a simple loop the compiler vectorizes: z = xz + hz
// (+ peepholes on c_{t-1}), the gate activations in place, then the c and h update.
template <Cell kCell, bool kTraining>
void LstmFamilyRow(const RowPointers& p) {
  constexpr bool four = kCell != Cell::kCoupled;
  constexpr int blocks = four ? 4 : 3;
  const int64_t n = p.n, N = p.units;
  float* __restrict z = const_cast<float*>(p.hz);  // the chunk's own GEMM output row
  for (int k = 0; k < blocks; ++k) AddInPlace(z + k * n, p.xz + k * N, n);
  float* __restrict zi = z;
  float* __restrict zf = z + n;
  float* __restrict zc = z + (four ? 2 : 1) * n;
  float* __restrict zo = z + (four ? 3 : 2) * n;
  const float* __restrict c_prev = p.c;
  if constexpr (kCell == Cell::kPeephole) {
    const float* __restrict pi = p.peepholes;
    const float* __restrict pf = p.peepholes + N;
#pragma GCC ivdep
    for (int64_t j = 0; j < n; ++j) {
      zi[j] += pi[j] * c_prev[j];
      zf[j] += pf[j] * c_prev[j];
    }
    SigmoidInPlace(z, 2 * n);  // i, f
  } else {
    SigmoidInPlace(zi, four ? 2 * n : n);  // i (and f)
    SigmoidInPlace(zo, n);
  }
  TanhInPlace(zc, n);
  float* __restrict c = p.c;
  float* __restrict h = p.h;
  float* __restrict h_out = p.h_out;
  const bool real = p.real;  // masked rows carry h and c through
  // c_t; the peephole's o_t needs it before its activation
  float* __restrict c_new = kTraining ? p.c_out : p.scratch;
#pragma GCC ivdep
  for (int64_t j = 0; j < n; ++j) {
    if constexpr (kCell == Cell::kCoupled) {
      c_new[j] = c_prev[j] + zi[j] * (zc[j] - c_prev[j]);
    } else {
      c_new[j] = zf[j] * c_prev[j] + zi[j] * zc[j];
    }
  }
  if constexpr (kCell == Cell::kPeephole) {
    const float* __restrict po = p.peepholes + 2 * N;
#pragma GCC ivdep
    for (int64_t j = 0; j < n; ++j) zo[j] = FastSigmoid(zo[j] + po[j] * c_new[j]);
  }
  if constexpr (kTraining) {
    for (int k = 0; k < blocks; ++k) std::copy(z + k * n, z + (k + 1) * n, p.gates + k * N);
  }
  if (!real) {  // a masked row carries h and c through
    std::copy(h, h + n, h_out);
    if constexpr (kTraining) std::copy(c, c + n, c_new);
    return;
  }
  float* __restrict tanh_c = p.scratch2;
  std::copy(c_new, c_new + n, tanh_c);
  TanhInPlace(tanh_c, n);
#pragma GCC ivdep
  for (int64_t j = 0; j < n; ++j) {
    const float hn = zo[j] * tanh_c[j];
    h[j] = hn;
    c[j] = c_new[j];
    h_out[j] = hn;
  }
}

// Short passes over the row, as LstmFamilyRow (GCC left the one-loop version scalar):
// a = hz + b_rec, then z, r = sigma(x_zr + a_zr) in place, n = phi(x_n + r a_n), h.
template <bool kTraining>
void GruRow(const RowPointers& p) {
  const int64_t n = p.n, N = p.units;
  float* __restrict a = const_cast<float*>(p.hz);  // the chunk's own GEMM output row
  for (int k = 0; k < 3; ++k) AddInPlace(a + k * n, p.rec_bias + k * N, n);
  float* __restrict gate_z = a;
  float* __restrict gate_r = a + n;
  const float* __restrict a_n = a + 2 * n;
  AddInPlace(gate_z, p.xz, n);
  AddInPlace(gate_r, p.xz + N, n);
  SigmoidInPlace(gate_z, 2 * n);  // z, r
  const float* __restrict xn = p.xz + 2 * N;
  float* __restrict cand = p.scratch;
#pragma GCC ivdep
  for (int64_t j = 0; j < n; ++j) cand[j] = xn[j] + gate_r[j] * a_n[j];
  TanhInPlace(cand, n);
  if constexpr (kTraining) {
    std::copy(gate_z, gate_z + n, p.gates);
    std::copy(gate_r, gate_r + n, p.gates + N);
    std::copy(cand, cand + n, p.gates + 2 * N);
    std::copy(a_n, a_n + n, p.aux);
  }
  float* __restrict h = p.h;
  float* __restrict h_out = p.h_out;
  if (!p.real) {  // a masked row carries h through
    std::copy(h, h + n, h_out);
    return;
  }
#pragma GCC ivdep
  for (int64_t j = 0; j < n; ++j) {
    const float hv = cand[j] + gate_z[j] * (h[j] - cand[j]);
    h[j] = hv;
    h_out[j] = hv;
  }
}

void ForwardRow(Cell cell, bool training, const RowPointers& p) {
  switch (cell) {
    case Cell::kLstm:
      return training ? LstmFamilyRow<Cell::kLstm, true>(p) : LstmFamilyRow<Cell::kLstm, false>(p);
    case Cell::kPeephole:
      return training ? LstmFamilyRow<Cell::kPeephole, true>(p)
                      : LstmFamilyRow<Cell::kPeephole, false>(p);
    case Cell::kCoupled:
      return training ? LstmFamilyRow<Cell::kCoupled, true>(p)
                      : LstmFamilyRow<Cell::kCoupled, false>(p);
    case Cell::kGru:
      return training ? GruRow<true>(p) : GruRow<false>(p);
  }
}

// ----------------------------------------------------------------------------- forward
class ForwardOp : public OpKernel {
 public:
  explicit ForwardOp(OpKernelConstruction* context) : OpKernel(context) {
    std::string cell;
    OP_REQUIRES_OK(context, context->GetAttr("cell", &cell));
    OP_REQUIRES_OK(context, context->GetAttr("training", &training_));
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
    cell_ = ParseCell(cell);
  }

  void Compute(OpKernelContext* context) override {
    Weights w;
    OP_REQUIRES_OK(context, ReadWeights(context, cell_, &w));
    const int64_t T = w.steps, B = w.batch, N = w.units, G = w.width;
    const bool lstm_family = cell_ != Cell::kGru;
    const int blocks = Blocks(cell_);
    Tensor* h_seq = nullptr;
    Tensor* c_seq = nullptr;
    Tensor* gates = nullptr;
    Tensor* aux = nullptr;
    Tensor* h_final = nullptr;
    Tensor* c_final = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, N}), &h_seq));
    OP_REQUIRES_OK(context, context->allocate_output(
                                1, TensorShape({training_ && lstm_family ? T : 0, B, N}), &c_seq));
    OP_REQUIRES_OK(context,
                   context->allocate_output(2, TensorShape({training_ ? T : 0, B, G}), &gates));
    OP_REQUIRES_OK(context, context->allocate_output(
                                3, TensorShape({training_ && !lstm_family ? T : 0, B, N}), &aux));
    OP_REQUIRES_OK(context, context->allocate_output(4, TensorShape({B, N}), &h_final));
    OP_REQUIRES_OK(context,
                   context->allocate_output(5, TensorShape({lstm_family ? B : 0, N}), &c_final));
    float* hf = h_final->flat<float>().data();
    float* cf = lstm_family ? c_final->flat<float>().data() : nullptr;
    if (B * N > 0) std::copy(w.h0, w.h0 + B * N, hf);
    if (cf && B * N > 0) std::copy(w.c0, w.c0 + B * N, cf);
    if (T == 0 || B == 0 || N == 0) return;

    const Split split = ChooseSplit(context, B, N, blocks);
    const std::vector<float> zero_bias(w.rec_bias ? 0 : G, 0.0f);  // gru without b_rec
    // Per chunk: U's columns of every gate for its units, packed at the chunk's first step
    // (on the thread that runs it), and the hz of its rows.
    std::vector<std::unique_ptr<PackedGemm>> gemms(split.chunks);
    std::vector<std::vector<float>> hz(split.chunks);
    auto prepare = [&](int chunk, const Part& part) {
      const Range r = part.units;
      const int64_t width = blocks * r.size();
      if (r.size() == N) {  // every unit: U as it is
        gemms[chunk] =
            std::make_unique<PackedGemm>(bf16_, part.rows.size(), G, N, w.kernel, G, false);
      } else {
        std::vector<float> columns(static_cast<size_t>(N * width));
        for (int64_t row = 0; row < N; ++row)
          for (int g = 0; g < blocks; ++g)
            std::copy(w.kernel + row * G + g * N + r.begin, w.kernel + row * G + g * N + r.end,
                      columns.data() + row * width + g * r.size());
        gemms[chunk] = std::make_unique<PackedGemm>(bf16_, part.rows.size(), width, N,
                                                    columns.data(), width, false);
      }
      hz[chunk].assign(static_cast<size_t>(part.rows.size() * width + 2 * r.size()), 0.0f);
    };
    // h_in = h_{t-1} * dropout, double-buffered (step t reads one, writes the other).
    GemmInput h_in[2] = {GemmInput(bf16_, B, N), GemmInput(bf16_, B, N)};
    for (int64_t b = 0; b < B; ++b)
      for (int64_t u = 0; u < N; ++u)
        h_in[0].Set(b, u, w.h0[b * N + u] * (w.dropout ? w.dropout[b * N + u] : 1.0f));

    float* hs = h_seq->flat<float>().data();
    float* cs = training_ && lstm_family ? c_seq->flat<float>().data() : nullptr;
    float* gs = training_ ? gates->flat<float>().data() : nullptr;
    float* as = training_ && !lstm_family ? aux->flat<float>().data() : nullptr;

    auto step = [&](int64_t t, int /*phase*/, int chunk) {
      const Part part = PartOf(split, B, N, chunk);
      if (t == 0) prepare(chunk, part);
      const Range r = part.units;
      const int64_t n = r.size();
      const int64_t width = blocks * n;
      const int64_t rows = part.rows.size();
      float* out = hz[chunk].data();
      gemms[chunk]->Run(h_in[t % 2].data(part.rows.begin), N, out, width);
      GemmInput& next = h_in[(t + 1) % 2];
      for (int64_t b = part.rows.begin; b < part.rows.end; ++b) {
        RowPointers row;
        row.n = n;
        row.units = N;
        row.xz = w.xz + (t * B + b) * G + r.begin;
        row.hz = out + (b - part.rows.begin) * width;
        row.rec_bias = (w.rec_bias ? w.rec_bias : zero_bias.data()) + r.begin;
        row.peepholes = w.peepholes ? w.peepholes + r.begin : nullptr;
        row.h = hf + b * N + r.begin;
        row.c = cf ? cf + b * N + r.begin : nullptr;
        row.gates = gs ? gs + (t * B + b) * G + r.begin : nullptr;
        row.h_out = hs + (t * B + b) * N + r.begin;
        row.c_out = cs ? cs + (t * B + b) * N + r.begin : nullptr;
        row.scratch = out + rows * width;
        row.scratch2 = out + rows * width + n;
        row.aux = as ? as + (t * B + b) * N + r.begin : nullptr;
        row.real = w.mask == nullptr || w.mask[t * B + b] != 0.0f;
        ForwardRow(cell_, gs != nullptr, row);
        next.SetRow(b, r.begin, n, row.h, w.dropout ? w.dropout + b * N + r.begin : nullptr);
      }
    };
    RunSteps(context, split, T, 1, step);
  }

 private:
  Cell cell_;
  bool training_;
  bool bf16_;
};

// ----------------------------------------------------------------------------- backward rows
// One unmasked batch row of one chunk of units at step t; pointers start at the chunk's first
// unit, gate block k at offset k * units.
struct BackRow {
  int64_t n, units;
  float* dh;              // in: dh_t from step t+1 (through U and direct)
  const float* dh_out;    // d h_seq[t]
  float* dc;              // in: dc_t from step t+1; out: dc_{t-1}
  float* direct;          // out: dh_{t-1} not through U
  const float* gates;     // activated gates of step t
  float* dxz;             // out
  float* dhz;             // out (gru; the lstm family: the same as dxz)
  const float* c;         // c_t (lstm family)
  const float* c_prev;    // c_{t-1}
  const float* h_prev;    // h_{t-1} (gru)
  const float* aux;       // hz_n of step t (gru)
  const float* peepholes;
  float* d_peepholes;
  float* scratch;         // 2 n floats
};

//   dc_t += dh_t o (1 - phi(c_t)^2) [+ dz_o p_o];  dz = gate derivatives;  dc_{t-1} = dc_t f
//   [+ dz_i p_i + dz_f p_f]; peephole weight gradients accumulate dz_i c', dz_f c', dz_o c.
template <Cell kCell>
void LstmFamilyBackRow(const BackRow& p) {
  constexpr bool four = kCell != Cell::kCoupled;
  const int64_t n = p.n, N = p.units;
  float* __restrict tanh_c = p.scratch;
  std::copy(p.c, p.c + n, tanh_c);
  TanhInPlace(tanh_c, n);
  const float* __restrict gi = p.gates;
  const float* __restrict gf = p.gates + N;
  const float* __restrict gc = p.gates + (four ? 2 : 1) * N;
  const float* __restrict go = p.gates + (four ? 3 : 2) * N;
  float* __restrict di = p.dxz;
  float* __restrict df = p.dxz + N;
  float* __restrict dg = p.dxz + (four ? 2 : 1) * N;
  float* __restrict d_o = p.dxz + (four ? 3 : 2) * N;
  const float* __restrict dh_in = p.dh;
  const float* __restrict dh_out = p.dh_out;
  const float* __restrict c_prev = p.c_prev;
  const float* __restrict c = p.c;
  float* __restrict dc = p.dc;
  float* __restrict direct = p.direct;
  const float* __restrict pi = p.peepholes;
  const float* __restrict pf = p.peepholes ? p.peepholes + N : nullptr;
  const float* __restrict po = p.peepholes ? p.peepholes + 2 * N : nullptr;
  float* __restrict dpi = p.d_peepholes;
  float* __restrict dpf = p.d_peepholes ? p.d_peepholes + N : nullptr;
  float* __restrict dpo = p.d_peepholes ? p.d_peepholes + 2 * N : nullptr;
#pragma GCC ivdep
  for (int64_t j = 0; j < n; ++j) {
    const float dht = dh_in[j] + dh_out[j];
    const float tc = tanh_c[j], og = go[j], ig = gi[j], gg = gc[j], cp = c_prev[j];
    const float dz_o = dht * tc * og * (1.0f - og);
    float dct = dc[j] + dht * og * (1.0f - tc * tc);
    if constexpr (kCell == Cell::kPeephole) dct += dz_o * po[j];
    d_o[j] = dz_o;
    dg[j] = dct * ig * (1.0f - gg * gg);
    if constexpr (kCell == Cell::kCoupled) {
      di[j] = dct * (gg - cp) * ig * (1.0f - ig);
      dc[j] = dct * (1.0f - ig);
    } else {
      const float fg = gf[j];
      const float dz_i = dct * gg * ig * (1.0f - ig);
      const float dz_f = dct * cp * fg * (1.0f - fg);
      di[j] = dz_i;
      df[j] = dz_f;
      float carry = dct * fg;
      if constexpr (kCell == Cell::kPeephole) {
        carry += dz_i * pi[j] + dz_f * pf[j];
        dpi[j] += dz_i * cp;
        dpf[j] += dz_f * cp;
        dpo[j] += dz_o * c[j];
      }
      dc[j] = carry;
    }
    direct[j] = 0.0f;
  }
}

//   dz_z = dh (h' - n) z (1 - z);  dn = dh (1 - z)(1 - n^2);  dz_r = dn hz_n r (1 - r)
//   dxz = [dz_z, dz_r, dn];  dhz = [dz_z, dz_r, dn r];  dh_{t-1} gets dh z directly.
void GruBackRow(const BackRow& p) {
  const int64_t n = p.n, N = p.units;
  const float* __restrict gz = p.gates;
  const float* __restrict gr = p.gates + N;
  const float* __restrict gn = p.gates + 2 * N;
  const float* __restrict dh_in = p.dh;
  const float* __restrict dh_out = p.dh_out;
  const float* __restrict h_prev = p.h_prev;
  const float* __restrict aux = p.aux;
  float* __restrict dx_z = p.dxz;
  float* __restrict dx_r = p.dxz + N;
  float* __restrict dx_n = p.dxz + 2 * N;
  float* __restrict dh_z = p.dhz;
  float* __restrict dh_r = p.dhz + N;
  float* __restrict dh_n = p.dhz + 2 * N;
  float* __restrict direct = p.direct;
#pragma GCC ivdep
  for (int64_t j = 0; j < n; ++j) {
    const float dht = dh_in[j] + dh_out[j];
    const float zg = gz[j], rg = gr[j], cand = gn[j];
    const float dz_z = dht * (h_prev[j] - cand) * zg * (1.0f - zg);
    const float d_cand = dht * (1.0f - zg) * (1.0f - cand * cand);
    const float dz_r = d_cand * aux[j] * rg * (1.0f - rg);
    dx_z[j] = dz_z;
    dx_r[j] = dz_r;
    dx_n[j] = d_cand;
    dh_z[j] = dz_z;
    dh_r[j] = dz_r;
    dh_n[j] = d_cand * rg;
    direct[j] = dht * zg;
  }
}

void BackwardRow(Cell cell, const BackRow& p) {
  switch (cell) {
    case Cell::kLstm:
      return LstmFamilyBackRow<Cell::kLstm>(p);
    case Cell::kPeephole:
      return LstmFamilyBackRow<Cell::kPeephole>(p);
    case Cell::kCoupled:
      return LstmFamilyBackRow<Cell::kCoupled>(p);
    case Cell::kGru:
      return GruBackRow(p);
  }
}

// ----------------------------------------------------------------------------- backward
// Inputs: 0 d_h_seq [T,B,N], 1 d_h_final [B,N], 2 d_c_final [B,N] or [0], 3 kernel [N,G],
// 4 h0, 5 c0, 6 peepholes, 7 mask, 8 dropout, 9 h_seq, 10 c_seq, 11 gates, 12 aux.
// Outputs: 0 d_xz [T,B,G], 1 d_hz [T,B,G] (gru; [0] for the LSTM family, where it is d_xz),
// 2 d_h0, 3 d_c0 ([0] for gru), 4 d_peepholes [3,N] (or [0]).
class BackwardOp : public OpKernel {
 public:
  explicit BackwardOp(OpKernelConstruction* context) : OpKernel(context) {
    std::string cell;
    OP_REQUIRES_OK(context, context->GetAttr("cell", &cell));
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
    cell_ = ParseCell(cell);
  }

  void Compute(OpKernelContext* context) override {
    const Cell cell = cell_;
    const bool lstm_family = cell != Cell::kGru;
    const int blocks = Blocks(cell);
    const Tensor& d_h_seq_t = context->input(0);
    const Tensor& kernel_t = context->input(3);
    OP_REQUIRES(context, d_h_seq_t.dims() == 3 && kernel_t.dims() == 2,
                InvalidArgument("d_h_seq must be [T, B, N] and kernel [N, G]"));
    const int64_t T = d_h_seq_t.dim_size(0), B = d_h_seq_t.dim_size(1), N = d_h_seq_t.dim_size(2);
    const int64_t G = kernel_t.dim_size(1);
    OP_REQUIRES(context, kernel_t.dim_size(0) == N && G == blocks * N,
                InvalidArgument("kernel shape ", kernel_t.shape().DebugString(),
                                " does not match ", N, " units"));
    auto data = [&](int index, int64_t elements) -> const float* {
      const Tensor& t = context->input(index);
      return t.NumElements() == elements && elements > 0 ? t.flat<float>().data() : nullptr;
    };
    const float* d_h_seq = data(0, T * B * N);
    const float* d_h_final = data(1, B * N);
    const float* d_c_final = data(2, B * N);
    const float* kernel = data(3, N * G);
    const float* h0 = data(4, B * N);
    const float* c0 = data(5, B * N);
    const float* peep = data(6, 3 * N);
    const float* mask = data(7, T * B);
    const float* dropout = data(8, B * N);
    const float* h_seq = data(9, T * B * N);
    const float* c_seq = data(10, T * B * N);
    const float* gates = data(11, T * B * G);
    const float* aux = data(12, T * B * N);
    const bool empty = T * B * N == 0;
    OP_REQUIRES(context, empty || (gates && h_seq && h0 && (lstm_family ? (c_seq != nullptr && c0 != nullptr) : aux != nullptr)),
                InvalidArgument("the saved forward tensors do not match the shapes"));
    OP_REQUIRES(context, empty || cell != Cell::kPeephole || peep,
                InvalidArgument("peephole weights are required"));

    Tensor *d_xz_t, *d_hz_t, *d_h0_t, *d_c0_t, *d_peep_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, G}), &d_xz_t));
    OP_REQUIRES_OK(context, context->allocate_output(
                                1, TensorShape({lstm_family ? 0 : T, B, G}), &d_hz_t));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({B, N}), &d_h0_t));
    OP_REQUIRES_OK(context,
                   context->allocate_output(3, TensorShape({lstm_family ? B : 0, N}), &d_c0_t));
    OP_REQUIRES_OK(context, context->allocate_output(
                                4, TensorShape({cell == Cell::kPeephole ? 3 : 0, N}), &d_peep_t));
    float* d_xz = d_xz_t->flat<float>().data();
    float* d_hz = lstm_family ? d_xz : d_hz_t->flat<float>().data();
    float* dh = d_h0_t->flat<float>().data();  // carried dh, ends as d_h0
    float* dc = lstm_family ? d_c0_t->flat<float>().data() : nullptr;
    float* d_peep = cell == Cell::kPeephole ? d_peep_t->flat<float>().data() : nullptr;
    if (d_peep) std::fill(d_peep, d_peep + 3 * N, 0.0f);
    if (B * N > 0) {
      if (d_h_final) {
        std::copy(d_h_final, d_h_final + B * N, dh);
      } else {
        std::fill(dh, dh + B * N, 0.0f);
      }
      if (dc) {
        if (d_c_final) {
          std::copy(d_c_final, d_c_final + B * N, dc);
        } else {
          std::fill(dc, dc + B * N, 0.0f);
        }
      }
    }
    if (T == 0 || B == 0 || N == 0) {
      if (T * B * G > 0) std::fill(d_xz, d_xz + T * B * G, 0.0f);
      return;
    }

    const Split split = ChooseSplit(context, B, N, blocks);
    const int chunks = split.chunks;
    // dh_{t-1}[rows, units] = dhz[rows] U^T[:, units]: U^T's columns u are U's rows u; packed
    // at the chunk's first step.
    std::vector<std::unique_ptr<PackedGemm>> gemms(chunks);
    std::vector<std::vector<float>> dh_gemm(chunks);
    GemmInput dz16(bf16_, bf16_ ? B : 0, G);  // bf16 copy of dhz_t for the GEMM
    std::vector<float> direct(static_cast<size_t>(B * N), 0.0f);  // dh_{t-1} not through U
    std::vector<std::vector<float>> scratch(chunks, std::vector<float>(2 * N));
    // Row ranges share every unit: each sums its own peephole gradients, added up after.
    std::vector<std::vector<float>> d_peep_part(split.by_rows && d_peep ? chunks : 0,
                                                std::vector<float>(3 * N, 0.0f));

    // per step s (t = T-1-s): phase 0 the gate derivatives, phase 1 the GEMM into dh_{t-1}.
    auto step = [&](int64_t s, int phase, int chunk) {
      const int64_t t = T - 1 - s;
      const Part part = PartOf(split, B, N, chunk);
      const Range r = part.units;
      const int64_t n = r.size();
      if (phase == 1) {
        const void* a = bf16_ ? dz16.data(part.rows.begin)
                              : static_cast<const void*>(d_hz + (t * B + part.rows.begin) * G);
        float* out = dh_gemm[chunk].data();
        gemms[chunk]->Run(a, G, out, n);
        for (int64_t b = part.rows.begin; b < part.rows.end; ++b) {
          const float* through = out + (b - part.rows.begin) * n;
#pragma GCC ivdep
          for (int64_t j = 0; j < n; ++j) {
            const int64_t u = r.begin + j;
            const float through_u = through[j] * (dropout ? dropout[b * N + u] : 1.0f);
            dh[b * N + u] = through_u + direct[b * N + u];
          }
        }
        return;
      }
      if (s == 0) {
        gemms[chunk] = std::make_unique<PackedGemm>(bf16_, part.rows.size(), n, G,
                                                    kernel + r.begin * G, G, true);
        dh_gemm[chunk].assign(static_cast<size_t>(part.rows.size() * n), 0.0f);
      }
      float* d_peep_here = d_peep_part.empty() ? (d_peep ? d_peep + r.begin : nullptr)
                                               : d_peep_part[chunk].data();
      for (int64_t b = part.rows.begin; b < part.rows.end; ++b) {
        const int64_t row = t * B + b;
        const bool real = mask == nullptr || mask[row] != 0.0f;
        BackRow p{};
        p.n = n;
        p.units = N;
        p.dh = dh + b * N + r.begin;
        p.dh_out = d_h_seq + row * N + r.begin;
        p.dc = dc ? dc + b * N + r.begin : nullptr;
        p.direct = direct.data() + b * N + r.begin;
        p.gates = gates + row * G + r.begin;
        p.dxz = d_xz + row * G + r.begin;
        p.dhz = d_hz + row * G + r.begin;
        if (cell == Cell::kGru) {
          p.h_prev = t > 0 ? h_seq + (row - B) * N + r.begin : h0 + b * N + r.begin;
          p.aux = aux + row * N + r.begin;
        } else {
          p.c = c_seq + row * N + r.begin;
          p.c_prev = t > 0 ? c_seq + (row - B) * N + r.begin : c0 + b * N + r.begin;
        }
        p.peepholes = peep ? peep + r.begin : nullptr;
        p.d_peepholes = d_peep_here;
        p.scratch = scratch[chunk].data();
        if (!real) {  // a masked step: no gradient into it; dh and dc go straight back
#pragma GCC ivdep
          for (int64_t j = 0; j < n; ++j) p.direct[j] = p.dh[j] + p.dh_out[j];
          for (int g = 0; g < blocks; ++g) {
            std::fill(p.dxz + g * N, p.dxz + g * N + n, 0.0f);
            if (!lstm_family) std::fill(p.dhz + g * N, p.dhz + g * N + n, 0.0f);
          }
        } else {
          BackwardRow(cell, p);
        }
        if (bf16_)
          for (int g = 0; g < blocks; ++g) dz16.SetRow(b, g * N + r.begin, n, p.dhz + g * N, nullptr);
      }
    };
    RunSteps(context, split, T, 2, step);
    for (const auto& part : d_peep_part)
      for (int64_t i = 0; i < 3 * N; ++i) d_peep[i] += part[i];
  }

 private:
  Cell cell_;
  bool bf16_;
};

// ----------------------------------------------------------------------------- projection
// y [m, n] = x [m, k] w [k, n] (+ b [n]): the input projection of every step at once, one
// MKL sgemm per block of rows on the intra-op threads. TensorFlow's MatMul reaches about half
// of MKL's rate at the small projections of short sequences on some CPUs (measured on a
// 2-vCPU Zen 1: [400, 200] x [200, 800] in 3.0-4.1 ms).
class ProjectionOp : public OpKernel {
 public:
  explicit ProjectionOp(OpKernelConstruction* context) : OpKernel(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    const Tensor& w = context->input(1);
    const Tensor& b = context->input(2);
    OP_REQUIRES(context, x.dims() == 2 && w.dims() == 2 && x.dim_size(1) == w.dim_size(0),
                InvalidArgument("projection of ", x.shape().DebugString(), " by ",
                                w.shape().DebugString()));
    OP_REQUIRES(context,
                b.NumElements() == 0 || (b.dims() == 1 && b.dim_size(0) == w.dim_size(1)),
                InvalidArgument("projection bias ", b.shape().DebugString(), " for ",
                                w.shape().DebugString()));
    const int64_t m = x.dim_size(0), k = x.dim_size(1), n = w.dim_size(1);
    Tensor* y = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({m, n}), &y));
    if (m == 0 || n == 0) return;
    const float* xp = x.flat<float>().data();
    const float* wp = w.flat<float>().data();
    const float* bp = b.NumElements() ? b.flat<float>().data() : nullptr;
    float* yp = y->flat<float>().data();
    const int threads = context->device()->tensorflow_cpu_worker_threads()->num_threads;
    int chunks = std::max(1, std::min(threads, 8));
    if (2.0 * m * n * k < 4.0e6) chunks = 1;
    chunks = static_cast<int>(std::min<int64_t>(chunks, std::max<int64_t>(1, m / 8)));
#ifdef LSTM_ZOO_TILE_GEMM
    if (UseTileGemm() && k > 0) {  // W packed by all threads, then each its rows
      const int64_t panels = tile_gemm::Panels(n);
      std::unique_ptr<float, decltype(&mkl_free)> packed(
          static_cast<float*>(mkl_malloc(sizeof(float) * tile_gemm::PackedFloats(k, n), 64)),
          &mkl_free);
      RunStaged(context, 2, chunks, [&](int64_t stage, int chunk) {
        if (stage == 0) {
          const Range share = RowRange(panels, chunks, chunk);
          tile_gemm::Pack(wp, k, n, n, false, packed.get(), share.begin, share.end);
          return;
        }
        const Range rows = RowRange(m, chunks, chunk);
        for (int64_t block = 0; block < tile_gemm::RowBlocks(rows.size()); ++block) {
          const Range part = tile_gemm::RowBlock(rows.size(), block);
          const int64_t i = rows.begin + part.begin;
          tile_gemm::MultiplyBlock(xp + i * k, k, packed.get(), part.size(), n, k, yp + i * n,
                                   n);
          if (bp)
            for (int64_t row = i; row < i + part.size(); ++row) AddInPlace(yp + row * n, bp, n);
        }
      });
      return;
    }
#endif
    RunStaged(context, 1, chunks, [&](int64_t, int chunk) {
      const Range rows = RowRange(m, chunks, chunk);
      const int64_t begin = rows.begin, end = rows.end;
      if (begin == end) return;
      for (int64_t row = begin; row < end; ++row) {
        if (bp) {
          std::copy(bp, bp + n, yp + row * n);
        } else {
          std::fill(yp + row * n, yp + (row + 1) * n, 0.0f);
        }
      }
      if (k > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, end - begin, n, k, 1.0f,
                    xp + begin * k, k, wp, n, 1.0f, yp + begin * n, n);
    });
  }
};

REGISTER_KERNEL_BUILDER(Name("ZooRecurrenceForward").Device(DEVICE_CPU), ForwardOp);
REGISTER_KERNEL_BUILDER(Name("ZooProjection").Device(DEVICE_CPU), ProjectionOp);
REGISTER_KERNEL_BUILDER(Name("ZooRecurrenceBackward").Device(DEVICE_CPU), BackwardOp);

}  // namespace
}  // namespace lstm_zoo

using tensorflow::shape_inference::InferenceContext;

REGISTER_OP("ZooRecurrenceForward")
    .Input("xz: float")
    .Input("kernel: float")
    .Input("rec_bias: float")
    .Input("h0: float")
    .Input("c0: float")
    .Input("peepholes: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Attr("cell: {'lstm', 'peephole', 'coupled', 'gru'}")
    .Attr("training: bool")
    .Attr("bf16_matmul: bool = false")
    .Output("h_seq: float")
    .Output("c_seq: float")
    .Output("gates: float")
    .Output("aux: float")
    .Output("h_final: float")
    .Output("c_final: float")
    .SetShapeFn([](InferenceContext* c) {
      auto xz = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(xz, 3, &xz));
      auto kernel = c->input(1);
      TF_RETURN_IF_ERROR(c->WithRank(kernel, 2, &kernel));
      auto t = c->Dim(xz, 0), b = c->Dim(xz, 1), n = c->Dim(kernel, 0);
      c->set_output(0, c->MakeShape({t, b, n}));
      c->set_output(1, c->MakeShape({c->UnknownDim(), b, n}));
      c->set_output(2, c->MakeShape({c->UnknownDim(), b, c->Dim(xz, 2)}));
      c->set_output(3, c->MakeShape({c->UnknownDim(), b, n}));
      c->set_output(4, c->MakeShape({b, n}));
      c->set_output(5, c->MakeShape({c->UnknownDim(), n}));
      return tensorflow::OkStatus();
    });

REGISTER_OP("ZooRecurrenceBackward")
    .Input("d_h_seq: float")
    .Input("d_h_final: float")
    .Input("d_c_final: float")
    .Input("kernel: float")
    .Input("h0: float")
    .Input("c0: float")
    .Input("peepholes: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Input("h_seq: float")
    .Input("c_seq: float")
    .Input("gates: float")
    .Input("aux: float")
    .Attr("cell: {'lstm', 'peephole', 'coupled', 'gru'}")
    .Attr("bf16_matmul: bool = false")
    .Output("d_xz: float")
    .Output("d_hz: float")
    .Output("d_h0: float")
    .Output("d_c0: float")
    .Output("d_peepholes: float")
    .SetShapeFn([](InferenceContext* c) {
      auto d_h = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(d_h, 3, &d_h));
      auto kernel = c->input(3);
      TF_RETURN_IF_ERROR(c->WithRank(kernel, 2, &kernel));
      auto t = c->Dim(d_h, 0), b = c->Dim(d_h, 1), n = c->Dim(d_h, 2), g = c->Dim(kernel, 1);
      c->set_output(0, c->MakeShape({t, b, g}));
      c->set_output(1, c->MakeShape({c->UnknownDim(), b, g}));
      c->set_output(2, c->MakeShape({b, n}));
      c->set_output(3, c->MakeShape({c->UnknownDim(), n}));
      c->set_output(4, c->MakeShape({c->UnknownDim(), n}));
      return tensorflow::OkStatus();
    });

REGISTER_OP("ZooProjection")
    .Input("x: float")
    .Input("w: float")
    .Input("b: float")
    .Output("y: float")
    .SetShapeFn([](InferenceContext* c) {
      auto x = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(x, 2, &x));
      auto w = c->input(1);
      TF_RETURN_IF_ERROR(c->WithRank(w, 2, &w));
      c->set_output(0, c->MakeShape({c->Dim(x, 0), c->Dim(w, 1)}));
      return tensorflow::OkStatus();
    });
