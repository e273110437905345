// Native CPU time loops for MUT1, MUT2 and MUT3 (Jozefowicz, Zaremba & Sutskever 2015,
// Table 2; lstm_zoo/cells/mut.py), forward (training and inference) and backward.
//
// The caller (lstm_zoo/kernels/mutated_units.py) hands over the input projection of every
// step, xz[t] = [x_z | x_r | x_h] ([batch, 3 units]: each cell's input terms and biases, as
// its `input_projection` writes them), the recurrent kernel U and the state h_0. With
// h_in = h_t * (recurrent dropout mask), sigma = sigmoid, phi = tanh:
//
//   MUT1 (U = [U_r | U_h]):        z = sigma(x_z)
//                                  r = sigma(x_r + h_in U_r)
//   MUT2 (U = [U_z | U_r | U_h]):  z = sigma(x_z + h_in U_z),  r = sigma(x_r + h_in U_r)
//   MUT3 (U = [U_z | U_r | U_h]):  z = sigma(x_z + phi(h_in) U_z),  r = sigma(x_r + h_in U_r)
//   all:  n = phi((r * h_in) U_h + x_h);   h_{t+1} = h_t + z (n - h_t)
//
// Unlike the LSTM family, the candidate's GEMM reads r: a step is two GEMMs in sequence.
// Split by unit ranges, a step is two stages (phase 0: the gate GEMM and the gates r, z and
// r * h_in of the chunk's units; phase 1: the candidate GEMM, which reads every unit of
// r * h_in, and the state update); split by batch rows, each range runs both phases itself.
// The backward, per step from the last:
//
//   dh = dh_carried + d h_seq[t];  dn~ = dh z (1 - n^2);  dz~ = dh (n - h_t) z (1 - z)
//   d(r h_in) = dn~ U_h^T                         (phase 1: a GEMM over every unit of dn~)
//   dr~ = d(r h_in) h_in r (1 - r);  dh_in = d(r h_in) r
//   dh_in += dr~ U_r^T [+ dz~ U_z^T (MUT2), + (dz~ U_z^T)(1 - phi(h_in)^2) (MUT3)] (phase 2)
//   dh_carried = dh (1 - z) + dh_in * (dropout mask)
//
// and returns d xz = [dz~ | dr~ | dn~] (the caller forms dU from it: H_in^T [dz~ | dr~],
// (R * H_in)^T dn~, phi(H_in)^T dz~ for MUT3, as large TensorFlow MatMuls). Masked steps
// carry h through; their gradients go straight back.

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

enum class Mut { k1, k2, k3 };

Mut ParseMut(const std::string& name) {
  if (name == "mut1") return Mut::k1;
  if (name == "mut2") return Mut::k2;
  return Mut::k3;
}

// Where U's blocks start (columns), and which gates read a GEMM.
struct Layout {
  Mut cell;
  int64_t units;
  int64_t width() const { return (cell == Mut::k1 ? 2 : 3) * units; }
  int64_t z() const { return 0; }  // MUT2 and MUT3 (MUT1's U has no z block)
  int64_t r() const { return cell == Mut::k1 ? 0 : units; }
  int64_t h() const { return cell == Mut::k1 ? units : 2 * units; }
  // the columns of the gate GEMM's operand in the backward: [dz~ | dr~] or MUT1's [dr~]
  int64_t gate_cols() const { return cell == Mut::k1 ? units : 2 * units; }
  int64_t dr_col() const { return cell == Mut::k1 ? 0 : units; }
};

// U's columns [offset + r.begin, offset + r.end) of each offset, side by side: [N, k n].
std::vector<float> Columns(const float* kernel, int64_t N, int64_t G,
                           const std::vector<int64_t>& offsets, Range r) {
  const int64_t n = r.size(), width = static_cast<int64_t>(offsets.size()) * n;
  std::vector<float> out(static_cast<size_t>(N * width));
  for (int64_t row = 0; row < N; ++row)
    for (size_t k = 0; k < offsets.size(); ++k)
      std::copy(kernel + row * G + offsets[k] + r.begin, kernel + row * G + offsets[k] + r.end,
                out.data() + row * width + k * n);
  return out;
}

std::unique_ptr<PackedGemm> ColumnGemm(bool bf16, int64_t rows, const float* kernel, int64_t N,
                                       int64_t G, const std::vector<int64_t>& offsets, Range r) {
  const std::vector<float> columns = Columns(kernel, N, G, offsets, r);
  const int64_t width = static_cast<int64_t>(offsets.size()) * r.size();
  return std::make_unique<PackedGemm>(bf16, rows, width, N, columns.data(), width, false);
}

// ----------------------------------------------------------------------------- forward
// Inputs: 0 xz [T, B, 3N], 1 kernel [N, G], 2 h0 [B, N], 3 mask [T, B] or [0],
// 4 dropout [B, N] or [0]. Outputs: 0 h_seq [T, B, N], 1 gates [T, B, 3N] (z, r, n; [0, B, 3N]
// at inference), 2 h_final [B, N].
class MutForwardOp : public OpKernel {
 public:
  explicit MutForwardOp(OpKernelConstruction* context) : OpKernel(context) {
    std::string cell;
    OP_REQUIRES_OK(context, context->GetAttr("cell", &cell));
    OP_REQUIRES_OK(context, context->GetAttr("training", &training_));
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
    cell_ = ParseMut(cell);
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& xz_t = context->input(0);
    const Tensor& kernel_t = context->input(1);
    OP_REQUIRES(context, xz_t.dims() == 3 && kernel_t.dims() == 2,
                InvalidArgument("xz must be [time, batch, 3 units] and kernel [units, width]"));
    const int64_t T = xz_t.dim_size(0), B = xz_t.dim_size(1), N = kernel_t.dim_size(0);
    const Layout layout{cell_, N};
    const int64_t G = layout.width();
    OP_REQUIRES_OK(context, CheckShape(kernel_t, {N, G}, "kernel", false));
    OP_REQUIRES_OK(context, CheckShape(xz_t, {T, B, 3 * N}, "xz", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(2), {B, N}, "h0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(3), {T, B}, "mask", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(4), {B, N}, "dropout", true));
    const float* xz = xz_t.flat<float>().data();
    const float* kernel = kernel_t.flat<float>().data();
    const float* h0 = context->input(2).flat<float>().data();
    const float* mask = OptionalData(context->input(3));
    const float* dropout = OptionalData(context->input(4));
    const std::vector<float> zeros(N, 0.0f), ones(N, 1.0f);  // absent terms, absent dropout

    Tensor *h_seq_t, *gates_t, *h_final_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, N}), &h_seq_t));
    OP_REQUIRES_OK(context, context->allocate_output(
                                1, TensorShape({training_ ? T : 0, B, 3 * N}), &gates_t));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({B, N}), &h_final_t));
    float* hf = h_final_t->flat<float>().data();
    if (B * N > 0) std::copy(h0, h0 + B * N, hf);
    if (T == 0 || B == 0 || N == 0) return;
    float* hs = h_seq_t->flat<float>().data();
    float* gs = training_ ? gates_t->flat<float>().data() : nullptr;

    const Mut cell = cell_;
    const bool three = cell == Mut::k3;
    const Split split = ChooseSplit(context, B, N, static_cast<int>(G / N));
    const int chunks = split.chunks;
    // Per chunk: the gate GEMM (MUT1 r; MUT2 z and r; MUT3 r), MUT3's z GEMM on phi(h_in),
    // the candidate GEMM, their outputs, and at inference z (training keeps it in gates).
    struct Chunk {
      std::unique_ptr<PackedGemm> gate, gate_z, candidate;
      std::vector<float> gate_out, z_out, candidate_out, z, scratch;
    };
    std::vector<Chunk> parts(chunks);
    const int gate_blocks = cell == Mut::k2 ? 2 : 1;
    auto prepare = [&](int chunk, const Part& part) {
      Chunk& c = parts[chunk];
      const int64_t rows = part.rows.size(), n = part.units.size();
      std::vector<int64_t> gate_offsets = {layout.r()};
      if (cell == Mut::k2) gate_offsets = {layout.z(), layout.r()};
      c.gate = ColumnGemm(bf16_, rows, kernel, N, G, gate_offsets, part.units);
      if (three) c.gate_z = ColumnGemm(bf16_, rows, kernel, N, G, {layout.z()}, part.units);
      c.candidate = ColumnGemm(bf16_, rows, kernel, N, G, {layout.h()}, part.units);
      c.gate_out.assign(static_cast<size_t>(rows * gate_blocks * n), 0.0f);
      c.z_out.assign(three ? static_cast<size_t>(rows * n) : 0, 0.0f);
      c.candidate_out.assign(static_cast<size_t>(rows * n), 0.0f);
      c.z.assign(training_ ? 0 : static_cast<size_t>(rows * n), 0.0f);
      c.scratch.assign(static_cast<size_t>(2 * n), 0.0f);
    };
    // h_in = h * dropout and MUT3's phi(h_in), double-buffered (step t reads one, writes the
    // other); r * h_in, written in phase 0 and read in phase 1 of the same step.
    GemmInput h_in[2] = {GemmInput(bf16_, B, N), GemmInput(bf16_, B, N)};
    GemmInput phi_in[2] = {GemmInput(bf16_, three ? B : 0, N), GemmInput(bf16_, three ? B : 0, N)};
    GemmInput rh(bf16_, B, N);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t u = 0; u < N; ++u) {
        const float v = h0[b * N + u] * (dropout ? dropout[b * N + u] : 1.0f);
        h_in[0].Set(b, u, v);
        if (three) phi_in[0].Set(b, u, FastTanh(v));
      }
    }

    auto step = [&](int64_t t, int phase, int chunk) {
      const Part part = PartOf(split, B, N, chunk);
      if (t == 0 && phase == 0) prepare(chunk, part);
      Chunk& c = parts[chunk];
      const Range r = part.units;
      const int64_t n = r.size(), first = part.rows.begin;
      if (phase == 0) {
        c.gate->Run(h_in[t % 2].data(first), N, c.gate_out.data(), gate_blocks * n);
        if (three) c.gate_z->Run(phi_in[t % 2].data(first), N, c.z_out.data(), n);
        float* __restrict rh_row = c.scratch.data();
        for (int64_t b = first; b < part.rows.end; ++b) {
          const int64_t i = b - first;
          const float* __restrict x_z = xz + (t * B + b) * 3 * N + r.begin;
          const float* __restrict x_r = x_z + N;
          const float* __restrict a = c.gate_out.data() + i * gate_blocks * n;
          const float* __restrict a_r = cell == Mut::k2 ? a + n : a;
          // what z's pre-activation adds to x_z (zeros where the cell adds nothing: no
          // condition in the loop, which GCC then vectorizes; x + 0 is x)
          const float* __restrict add_h = cell == Mut::k2 ? a : zeros.data();
          const float* __restrict add_phi = three ? c.z_out.data() + i * n : zeros.data();
          float* __restrict z = gs ? gs + (t * B + b) * 3 * N + r.begin : c.z.data() + i * n;
          float* __restrict rg = gs ? z + N : c.scratch.data() + n;
          const float* __restrict h = hf + b * N + r.begin;
          const float* __restrict d = (dropout ? dropout + b * N : ones.data()) + r.begin;
#pragma GCC ivdep
          for (int64_t j = 0; j < n; ++j) {
            z[j] = FastSigmoid(x_z[j] + add_h[j] + add_phi[j]);
            rg[j] = FastSigmoid(x_r[j] + a_r[j]);
            rh_row[j] = rg[j] * h[j] * d[j];
          }
          rh.SetRow(b, r.begin, n, rh_row, nullptr);
        }
        return;
      }
      c.candidate->Run(rh.data(first), N, c.candidate_out.data(), n);
      GemmInput& next = h_in[(t + 1) % 2];
      for (int64_t b = first; b < part.rows.end; ++b) {
        const int64_t i = b - first;
        const float* __restrict x_h = xz + (t * B + b) * 3 * N + 2 * N + r.begin;
        const float* __restrict a_h = c.candidate_out.data() + i * n;
        const float* __restrict z = gs ? gs + (t * B + b) * 3 * N + r.begin : c.z.data() + i * n;
        float* __restrict cand = gs ? gs + (t * B + b) * 3 * N + 2 * N + r.begin : c.scratch.data();
        float* __restrict h = hf + b * N + r.begin;
        float* __restrict h_out = hs + (t * B + b) * N + r.begin;
        const bool real = mask == nullptr || mask[t * B + b] != 0.0f;
#pragma GCC ivdep
        for (int64_t j = 0; j < n; ++j) cand[j] = FastTanh(a_h[j] + x_h[j]);
        if (real) {  // a masked row carries h through
#pragma GCC ivdep
          for (int64_t j = 0; j < n; ++j) h[j] += z[j] * (cand[j] - h[j]);
        }
        std::copy(h, h + n, h_out);
        const float* d = dropout ? dropout + b * N + r.begin : nullptr;
        next.SetRow(b, r.begin, n, h, d);
        if (three) {
          float* __restrict phi = c.scratch.data() + n;
          const float* __restrict scale = (dropout ? dropout + b * N : ones.data()) + r.begin;
#pragma GCC ivdep
          for (int64_t j = 0; j < n; ++j) phi[j] = FastTanh(h[j] * scale[j]);
          phi_in[(t + 1) % 2].SetRow(b, r.begin, n, phi, nullptr);
        }
      }
    };
    RunSteps(context, split, T, 2, step);
  }

 private:
  Mut cell_;
  bool training_;
  bool bf16_;
};

// ----------------------------------------------------------------------------- backward
// Inputs: 0 d_h_seq [T, B, N], 1 d_h_final [B, N] or [0], 2 kernel [N, G], 3 h0 [B, N],
// 4 mask [T, B] or [0], 5 dropout [B, N] or [0], 6 h_seq [T, B, N], 7 gates [T, B, 3N].
// Outputs: 0 d_xz [T, B, 3N], 1 d_h0 [B, N].
class MutBackwardOp : public OpKernel {
 public:
  explicit MutBackwardOp(OpKernelConstruction* context) : OpKernel(context) {
    std::string cell;
    OP_REQUIRES_OK(context, context->GetAttr("cell", &cell));
    OP_REQUIRES_OK(context, context->GetAttr("bf16_matmul", &bf16_));
    cell_ = ParseMut(cell);
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& d_h_seq_t = context->input(0);
    const Tensor& kernel_t = context->input(2);
    OP_REQUIRES(context, d_h_seq_t.dims() == 3 && kernel_t.dims() == 2,
                InvalidArgument("d_h_seq must be [T, B, N] and kernel [N, width]"));
    const int64_t T = d_h_seq_t.dim_size(0), B = d_h_seq_t.dim_size(1), N = d_h_seq_t.dim_size(2);
    const Mut cell = cell_;
    const Layout layout{cell, N};
    const int64_t G = layout.width();
    OP_REQUIRES_OK(context, CheckShape(context->input(1), {B, N}, "d_h_final", true));
    OP_REQUIRES_OK(context, CheckShape(kernel_t, {N, G}, "kernel", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(3), {B, N}, "h0", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(4), {T, B}, "mask", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(5), {B, N}, "dropout", true));
    OP_REQUIRES_OK(context, CheckShape(context->input(6), {T, B, N}, "h_seq", false));
    OP_REQUIRES_OK(context, CheckShape(context->input(7), {T, B, 3 * N}, "gates", false));
    const float* d_h_seq = d_h_seq_t.flat<float>().data();
    const float* d_h_final = OptionalData(context->input(1));
    const float* kernel = kernel_t.flat<float>().data();
    const float* h0 = context->input(3).flat<float>().data();
    const float* mask = OptionalData(context->input(4));
    const float* dropout = OptionalData(context->input(5));
    const std::vector<float> ones(N, 1.0f);  // absent dropout
    const float* h_seq = context->input(6).flat<float>().data();
    const float* gates = context->input(7).flat<float>().data();

    Tensor *d_xz_t, *d_h0_t;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({T, B, 3 * N}), &d_xz_t));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({B, N}), &d_h0_t));
    float* d_xz = d_xz_t->flat<float>().data();
    float* dh = d_h0_t->flat<float>().data();  // carried dh, ends as d_h0
    if (B * N > 0) {
      if (d_h_final) {
        std::copy(d_h_final, d_h_final + B * N, dh);
      } else {
        std::fill(dh, dh + B * N, 0.0f);
      }
    }
    if (T == 0 || B == 0 || N == 0) {
      if (T * B * N > 0) std::fill(d_xz, d_xz + T * B * 3 * N, 0.0f);
      return;
    }

    const bool three = cell == Mut::k3;
    const Split split = ChooseSplit(context, B, N, static_cast<int>(G / N));
    const int chunks = split.chunks;
    // Per chunk, U^T's columns for its units are U's rows: d(r h_in) = dn~ U_h^T, and the
    // gate GEMMs (MUT1 dr~ U_r^T, MUT2 [dz~ | dr~] [U_z | U_r]^T, MUT3 dr~ U_r^T and
    // dz~ U_z^T), packed at the chunk's first step.
    struct Chunk {
      std::unique_ptr<PackedGemm> candidate, gate, gate_z;
      std::vector<float> candidate_out, gate_out, z_out;
    };
    std::vector<Chunk> parts(chunks);
    auto prepare = [&](const Part& part, Chunk& c) {
      const int64_t rows = part.rows.size(), n = part.units.size();
      const float* rows_of_u = kernel + part.units.begin * G;
      c.candidate = std::make_unique<PackedGemm>(bf16_, rows, n, N, rows_of_u + layout.h(), G,
                                                 true);
      if (cell == Mut::k2) {
        c.gate = std::make_unique<PackedGemm>(bf16_, rows, n, 2 * N, rows_of_u, G, true);
      } else {
        c.gate = std::make_unique<PackedGemm>(bf16_, rows, n, N, rows_of_u + layout.r(), G, true);
      }
      if (three)
        c.gate_z = std::make_unique<PackedGemm>(bf16_, rows, n, N, rows_of_u + layout.z(), G, true);
      c.candidate_out.assign(static_cast<size_t>(rows * n), 0.0f);
      c.gate_out.assign(static_cast<size_t>(rows * n), 0.0f);
      c.z_out.assign(three ? static_cast<size_t>(rows * n) : 0, 0.0f);
    };
    const int64_t gate_cols = layout.gate_cols();
    GemmInput d_cand(bf16_, B, N);           // dn~ of the step, for d(r h_in)
    GemmInput d_gate(bf16_, B, gate_cols);  // [dz~ | dr~] (MUT1: dr~), for the gate GEMMs
    std::vector<float> direct(static_cast<size_t>(B * N));  // dh (1 - z)
    std::vector<float> d_h_in(static_cast<size_t>(B * N));  // d(r h_in) r
    const std::vector<float> zeros(static_cast<size_t>(N), 0.0f);

    // per step s (t = T-1-s): phase 0 dn~, dz~ and the direct path; phase 1 d(r h_in) and dr~;
    // phase 2 the gate GEMMs and the carried dh.
    auto step = [&](int64_t s, int phase, int chunk) {
      const int64_t t = T - 1 - s;
      const Part part = PartOf(split, B, N, chunk);
      Chunk& c = parts[chunk];
      if (s == 0 && phase == 0) prepare(part, c);
      const Range r = part.units;
      const int64_t n = r.size(), first = part.rows.begin;
      if (phase == 0) {
        for (int64_t b = first; b < part.rows.end; ++b) {
          const int64_t row = t * B + b;
          float* __restrict dx_z = d_xz + row * 3 * N + r.begin;
          float* __restrict dx_r = dx_z + N;
          float* __restrict dx_n = dx_z + 2 * N;
          const float* __restrict dh_in = dh + b * N + r.begin;
          const float* __restrict dh_out = d_h_seq + row * N + r.begin;
          float* __restrict dir = direct.data() + b * N + r.begin;
          const bool real = mask == nullptr || mask[row] != 0.0f;
          if (!real) {  // no gradient into a masked step; dh goes straight back
#pragma GCC ivdep
            for (int64_t j = 0; j < n; ++j) dir[j] = dh_in[j] + dh_out[j];
            std::fill(dx_z, dx_z + n, 0.0f);
            std::fill(dx_r, dx_r + n, 0.0f);
            std::fill(dx_n, dx_n + n, 0.0f);
            d_cand.SetRow(b, r.begin, n, zeros.data(), nullptr);
            d_gate.SetRow(b, layout.dr_col() + r.begin, n, zeros.data(), nullptr);
            if (cell != Mut::k1) d_gate.SetRow(b, r.begin, n, zeros.data(), nullptr);
            continue;
          }
          const float* __restrict gz = gates + row * 3 * N + r.begin;
          const float* __restrict gn = gz + 2 * N;
          const float* __restrict hp = t > 0 ? h_seq + (row - B) * N + r.begin : h0 + b * N + r.begin;
#pragma GCC ivdep
          for (int64_t j = 0; j < n; ++j) {
            const float dht = dh_in[j] + dh_out[j];
            const float zg = gz[j], nv = gn[j];
            dx_n[j] = dht * zg * (1.0f - nv * nv);
            dx_z[j] = dht * (nv - hp[j]) * zg * (1.0f - zg);
            dir[j] = dht * (1.0f - zg);
          }
          d_cand.SetRow(b, r.begin, n, dx_n, nullptr);
          if (cell != Mut::k1) d_gate.SetRow(b, r.begin, n, dx_z, nullptr);
        }
        return;
      }
      if (phase == 1) {
        c.candidate->Run(d_cand.data(first), N, c.candidate_out.data(), n);
        for (int64_t b = first; b < part.rows.end; ++b) {
          const int64_t row = t * B + b, i = b - first;
          float* __restrict dx_r = d_xz + row * 3 * N + N + r.begin;
          float* __restrict dhi = d_h_in.data() + b * N + r.begin;
          const bool real = mask == nullptr || mask[row] != 0.0f;
          if (!real) {
            std::fill(dhi, dhi + n, 0.0f);
            continue;  // dx_r and its d_gate columns are zero from phase 0
          }
          const float* __restrict d_rh = c.candidate_out.data() + i * n;
          const float* __restrict gr = gates + row * 3 * N + N + r.begin;
          const float* __restrict hp = t > 0 ? h_seq + (row - B) * N + r.begin : h0 + b * N + r.begin;
          const float* __restrict d = dropout ? dropout + b * N + r.begin : nullptr;
#pragma GCC ivdep
          for (int64_t j = 0; j < n; ++j) {
            const float rg = gr[j];
            const float hin = hp[j] * (d ? d[j] : 1.0f);
            dx_r[j] = d_rh[j] * hin * rg * (1.0f - rg);
            dhi[j] = d_rh[j] * rg;
          }
          d_gate.SetRow(b, layout.dr_col() + r.begin, n, dx_r, nullptr);
        }
        return;
      }
      // phase 2
      if (cell == Mut::k3) {
        c.gate->Run(d_gate.data(first, layout.dr_col()), gate_cols, c.gate_out.data(), n);
        c.gate_z->Run(d_gate.data(first, 0), gate_cols, c.z_out.data(), n);
      } else {
        c.gate->Run(d_gate.data(first), gate_cols, c.gate_out.data(), n);
      }
      for (int64_t b = first; b < part.rows.end; ++b) {
        const int64_t row = t * B + b, i = b - first;
        const float* __restrict through = c.gate_out.data() + i * n;
        const float* __restrict through_z = three ? c.z_out.data() + i * n : nullptr;
        const float* __restrict dhi = d_h_in.data() + b * N + r.begin;
        const float* __restrict dir = direct.data() + b * N + r.begin;
        const float* __restrict hp = t > 0 ? h_seq + (row - B) * N + r.begin : h0 + b * N + r.begin;
        const float* __restrict scale = (dropout ? dropout + b * N : ones.data()) + r.begin;
        float* __restrict out = dh + b * N + r.begin;
        if (three) {  // two loops, each without a condition (GCC vectorizes them)
#pragma GCC ivdep
          for (int64_t j = 0; j < n; ++j) {
            const float phi = FastTanh(hp[j] * scale[j]);
            out[j] = dir[j] + (dhi[j] + through[j] + through_z[j] * (1.0f - phi * phi)) * scale[j];
          }
        } else {
#pragma GCC ivdep
          for (int64_t j = 0; j < n; ++j) out[j] = dir[j] + (dhi[j] + through[j]) * scale[j];
        }
      }
    };
    RunSteps(context, split, T, 3, step);
  }

 private:
  Mut cell_;
  bool bf16_;
};

REGISTER_KERNEL_BUILDER(Name("ZooMutForward").Device(DEVICE_CPU), MutForwardOp);
REGISTER_KERNEL_BUILDER(Name("ZooMutBackward").Device(DEVICE_CPU), MutBackwardOp);

}  // namespace
}  // namespace lstm_zoo

using tensorflow::shape_inference::InferenceContext;

REGISTER_OP("ZooMutForward")
    .Input("xz: float")
    .Input("kernel: float")
    .Input("h0: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Attr("cell: {'mut1', 'mut2', 'mut3'}")
    .Attr("training: bool")
    .Attr("bf16_matmul: bool = false")
    .Output("h_seq: float")
    .Output("gates: float")
    .Output("h_final: float")
    .SetShapeFn([](InferenceContext* c) {
      auto xz = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(xz, 3, &xz));
      auto kernel = c->input(1);
      TF_RETURN_IF_ERROR(c->WithRank(kernel, 2, &kernel));
      auto t = c->Dim(xz, 0), b = c->Dim(xz, 1), n = c->Dim(kernel, 0);
      c->set_output(0, c->MakeShape({t, b, n}));
      c->set_output(1, c->MakeShape({c->UnknownDim(), b, c->Dim(xz, 2)}));
      c->set_output(2, c->MakeShape({b, n}));
      return tensorflow::OkStatus();
    });

REGISTER_OP("ZooMutBackward")
    .Input("d_h_seq: float")
    .Input("d_h_final: float")
    .Input("kernel: float")
    .Input("h0: float")
    .Input("mask: float")
    .Input("dropout: float")
    .Input("h_seq: float")
    .Input("gates: float")
    .Attr("cell: {'mut1', 'mut2', 'mut3'}")
    .Attr("bf16_matmul: bool = false")
    .Output("d_xz: float")
    .Output("d_h0: float")
    .SetShapeFn([](InferenceContext* c) {
      auto d_h = c->input(0);
      TF_RETURN_IF_ERROR(c->WithRank(d_h, 3, &d_h));
      auto t = c->Dim(d_h, 0), b = c->Dim(d_h, 1), n = c->Dim(d_h, 2);
      tensorflow::shape_inference::DimensionHandle width;
      TF_RETURN_IF_ERROR(c->Multiply(n, 3, &width));
      c->set_output(0, c->MakeShape({t, b, width}));
      c->set_output(1, c->MakeShape({b, n}));
      return tensorflow::OkStatus();
    });
