//===- hadamard.cpp - Hadamard base matrices -----------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The base matrices of <lq_rt/hadamard.h>: a Hadamard matrix H of order m has
// +-1 entries and H H^T = m I. Three classical constructions cover the orders
// LLM widths need (hidden 768 = 12*64, intermediate 11008 = 172*64, ...):
//
//  * Paley I (q prime, q = 3 mod 4; order q + 1): with chi the quadratic
//    character of GF(q) and Q[i][j] = chi(j - i) (antisymmetric, Q Q^T =
//    q I - J, Q J = 0),  H = [[1, 1^T], [-1, Q + I]].
//  * Paley II (q prime, q = 1 mod 4; order 2(q + 1)): the symmetric
//    conference matrix C = [[0, 1^T], [1, Q]] with every 0 replaced by
//    [[1, -1], [-1, -1]] and every +-1 by +-[[1, 1], [1, -1]].
//  * Williamson (order 4n): four symmetric circulant +-1 matrices A, B, C, D
//    of order n with AA^T + BB^T + CC^T + DD^T = 4n I give
//    H = [[A, B, C, D], [-B, A, -D, C], [-C, D, A, -B], [-D, -C, B, A]].
//    Only their first rows are stored (published quadruples, see the header).
//
// Paley, R. E. A. C. "On orthogonal matrices", J. Math. Phys. 12 (1933);
// Williamson, J. "Hadamard's determinant theorem and the sum of four
// squares", Duke Math. J. 11 (1944).
//
//===----------------------------------------------------------------------===//

#include "hadamard_tables.h"

#include "lq_rt/hadamard.h"

#include <cstring>
#include <vector>

extern "C" const int64_t lq_rt_hadamard_orders[LQ_RT_HADAMARD_NUM_ORDERS] = {
    12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172};

namespace {

using Matrix = std::vector<int8_t>;

std::vector<int> quadraticCharacter(int q) {
  std::vector<int> chi(q, -1);
  chi[0] = 0;
  for (int x = 1; x < q; ++x)
    chi[(x * x) % q] = 1;
  return chi;
}

Matrix paleyI(int q) {
  const int m = q + 1;
  std::vector<int> chi = quadraticCharacter(q);
  Matrix h(m * m);
  for (int j = 0; j < m; ++j)
    h[j] = 1;
  for (int i = 1; i < m; ++i) {
    h[i * m] = -1;
    for (int j = 1; j < m; ++j)
      h[i * m + j] = int8_t(i == j ? 1 : chi[((j - i) % q + q) % q]);
  }
  return h;
}

Matrix paleyII(int q) {
  const int c = q + 1, m = 2 * c;
  std::vector<int> chi = quadraticCharacter(q);
  auto conf = [&](int i, int j) {
    if (i == 0 || j == 0)
      return i == j ? 0 : 1;
    return chi[((j - i) % q + q) % q];
  };
  Matrix h(m * m);
  for (int i = 0; i < c; ++i)
    for (int j = 0; j < c; ++j) {
      int v = conf(i, j);
      int8_t blk[4];
      if (v == 0) {
        blk[0] = 1, blk[1] = -1, blk[2] = -1, blk[3] = -1;
      } else {
        blk[0] = blk[1] = blk[2] = int8_t(v);
        blk[3] = int8_t(-v);
      }
      h[(2 * i) * m + 2 * j] = blk[0];
      h[(2 * i) * m + 2 * j + 1] = blk[1];
      h[(2 * i + 1) * m + 2 * j] = blk[2];
      h[(2 * i + 1) * m + 2 * j + 1] = blk[3];
    }
  return h;
}

Matrix williamson(const char *const rows[4]) {
  const int n = int(std::strlen(rows[0])), m = 4 * n;
  // Block (I, J) of H is sign[I][J] * circulant(rows[which[I][J]]).
  static const int which[4][4] = {{0, 1, 2, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}, {3, 2, 1, 0}};
  static const int sign[4][4] = {{1, 1, 1, 1}, {-1, 1, -1, 1}, {-1, 1, 1, -1}, {-1, -1, 1, 1}};
  Matrix h(m * m);
  for (int bi = 0; bi < 4; ++bi)
    for (int bj = 0; bj < 4; ++bj) {
      const char *seq = rows[which[bi][bj]];
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          int v = seq[((j - i) % n + n) % n] == '+' ? 1 : -1;
          h[(bi * n + i) * m + bj * n + j] = int8_t(sign[bi][bj] * v);
        }
    }
  return h;
}

Matrix kron2(const Matrix &a, int n) {
  const int m = 2 * n;
  Matrix h(m * m);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j)
      h[i * m + j] = int8_t(((i / n) & (j / n) ? -1 : 1) * a[(i % n) * n + j % n]);
  return h;
}

// First rows of the Williamson quadruples (symmetric circulants).
const char *const kWilliamson13[4] = {"++++-+--+-+++", "+---+-++-+---",
                                      "++---+--+---+", "++---+--+---+"};
const char *const kWilliamson39[4] = {
    "+++--+-+-----+--++----++--+-----+-+--++",
    "+++--++-+---+-+--+----+--+-+---+-++--++",
    "++++---+--++----+-+--+-+----++--+---+++",
    "+---++-+-+-----+++-++-+++-----+-+-++---"};
const char *const kWilliamson43[4] = {
    "++---++++-+--+--++--------++--+--+-++++---+",
    "+++-+-++--+-+-++++-+----+-++++-+-+--++-+-++",
    "++-++++++----+-+--++-++-++--+-+----++++++-+",
    "+---++--++++-+-+++-++--++-+++-+-++++--++---"};

struct Tables {
  // Indexed like lq_rt_hadamard_orders.
  Matrix h[LQ_RT_HADAMARD_NUM_ORDERS];
  std::vector<float> ht[LQ_RT_HADAMARD_NUM_ORDERS];

  Tables() {
    Matrix h20 = paleyI(19);
    Matrix built[LQ_RT_HADAMARD_NUM_ORDERS] = {
        paleyI(11),   h20,          paleyII(13),           paleyII(17),
        kron2(h20, 20), williamson(kWilliamson13), paleyI(59), paleyI(107),
        paleyI(139),  williamson(kWilliamson39), williamson(kWilliamson43)};
    for (int k = 0; k < LQ_RT_HADAMARD_NUM_ORDERS; ++k) {
      const int64_t m = lq_rt_hadamard_orders[k],
                    mp = lq_rt::hadamardPaddedOrder(m);
      h[k] = std::move(built[k]);
      ht[k].assign(m * mp, 0.0f);
      for (int64_t c = 0; c < m; ++c)
        for (int64_t cp = 0; cp < m; ++cp)
          ht[k][cp * mp + c] = float(h[k][c * m + cp]);
    }
  }
};

const Tables &tables() {
  static const Tables t;
  return t;
}

int indexOf(int64_t m) {
  for (int k = 0; k < LQ_RT_HADAMARD_NUM_ORDERS; ++k)
    if (lq_rt_hadamard_orders[k] == m)
      return k;
  return -1;
}

bool isPow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

} // namespace

namespace lq_rt {
const float *hadamardTransposed(int64_t m) {
  int k = indexOf(m);
  return k < 0 ? nullptr : tables().ht[k].data();
}
} // namespace lq_rt

extern "C" {

int64_t lq_rt_hadamard_factor(int64_t n) {
  if (isPow2(n))
    return 1;
  for (int k = 0; k < LQ_RT_HADAMARD_NUM_ORDERS; ++k) {
    int64_t m = lq_rt_hadamard_orders[k];
    if (m != 40 && n % m == 0 && isPow2(n / m))
      return m;
  }
  return 0;
}

const int8_t *lq_rt_hadamard_matrix(int64_t m) {
  static const int8_t one[1] = {1}, two[4] = {1, 1, 1, -1};
  if (m == 1)
    return one;
  if (m == 2)
    return two;
  int k = indexOf(m);
  return k < 0 ? nullptr : tables().h[k].data();
}

} // extern "C"
