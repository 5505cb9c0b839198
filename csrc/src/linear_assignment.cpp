// Shortest augmenting path linear assignment (Jonker-Volgenant, Crouse 2016 formulation).
// See the header for the problem definitions; notes here are about the implementation.
#include "fusion/assoc/linear_assignment.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "fusion/core/errors.hpp"

namespace fusion::assoc {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Resizes without shrinking capacity, so a reserved workspace never reallocates.
template <class T>
void fit(std::vector<T>& v, Index n, const T& value) {
  v.assign(static_cast<std::size_t>(n), value);
}
template <class T>
void grow(std::vector<T>& v, Index n) {
  if (v.size() < static_cast<std::size_t>(n)) v.resize(static_cast<std::size_t>(n));
}

inline std::size_t uz(Index i) { return static_cast<std::size_t>(i); }

void check_sizes(Index rows, Index cols, const char* where) {
  if (rows < 0 || cols < 0)
    throw ShapeError(std::string(where) + ": sizes must be non-negative, but got " +
                     std::to_string(rows) + " x " + std::to_string(cols));
}

void check_no_neg_inf(const double* c, Index n, const char* where) {
  for (Index k = 0; k < n; ++k)
    if (c[k] == -kInf) throw NumericalError(std::string(where) + ": cost matrix contains -inf");
}

void check_csr(Index rows, Index cols, const Index* indptr, const Index* indices,
               const char* where) {
  if (indptr[0] != 0) throw ShapeError(std::string(where) + ": indptr[0] must be 0");
  for (Index r = 0; r < rows; ++r)
    if (indptr[r + 1] < indptr[r])
      throw ShapeError(std::string(where) + ": indptr must be non-decreasing (row " +
                       std::to_string(r) + ")");
  const Index nnz = indptr[rows];
  for (Index e = 0; e < nnz; ++e)
    if (indices[e] < 0 || indices[e] >= cols)
      throw ShapeError(std::string(where) + ": column index " + std::to_string(indices[e]) +
                       " out of range for " + std::to_string(cols) + " columns");
}

void check_gate(double gate, const char* where) {
  if (!std::isfinite(gate))
    throw ConfigurationError(std::string(where) + ": gate must be finite, but got " +
                             std::to_string(gate));
}

void fill_unassigned(Index* p, Index n) { std::fill(p, p + n, kUnassigned); }

}  // namespace

void LinearAssignmentSolver::reserve(Index rows, Index cols, Index nnz) {
  check_sizes(rows, cols, "LinearAssignmentSolver::reserve");
  const auto n = uz(std::max(rows, cols));
  const auto all_cols = uz(cols + rows);  // gated: real columns plus one dummy per row
  const auto dense_nnz = uz(nnz);
  u_.reserve(n);
  col4row_.reserve(n);
  visited_rows_.reserve(n + 1);
  for (auto* vec : {&path_, &path_edge_, &edge4col_, &row4col_, &remaining_, &scanned_cols_,
                    &touched_})
    vec->reserve(all_cols);
  v_.reserve(all_cols);
  shortest_.reserve(all_cols);
  scanned_.reserve(all_cols);
  heap_.reserve(dense_nnz + uz(rows) + uz(cols) + 1);
  tcost_.reserve(dense_nnz);
  tindices_.reserve(dense_nnz);
  tindptr_.reserve(n + 1);
}

// ---------------------------------------------------------------------------------------
// Dense core. nr <= nc; c is nr x nc row-major; +inf and NaN never relax a column.
bool LinearAssignmentSolver::dense_core(const double* c, Index nr, Index nc) {
  fit(u_, nr, 0.0);
  fit(v_, nc, 0.0);
  fit(shortest_, nc, kInf);
  fit(path_, nc, kUnassigned);
  fit(col4row_, nr, kUnassigned);
  fit(row4col_, nc, kUnassigned);
  fit(remaining_, nc, Index{0});
  visited_rows_.clear();

  double* const u = u_.data();
  double* const v = v_.data();
  double* const sp = shortest_.data();
  Index* const path = path_.data();
  Index* const col4row = col4row_.data();
  Index* const row4col = row4col_.data();
  Index* const remaining = remaining_.data();

  for (Index cur = 0; cur < nr; ++cur) {
    // Columns still to scan are remaining[0, num_rem); scanned ones collect at the end.
    Index num_rem = nc;
    for (Index it = 0; it < nc; ++it) {
      remaining[it] = nc - 1 - it;
      sp[it] = kInf;
    }
    visited_rows_.clear();
    double min_val = 0.0;
    Index i = cur, sink = kUnassigned;
    while (sink == kUnassigned) {
      visited_rows_.push_back(i);
      const double base = min_val - u[i];
      const double* ci = c + i * nc;
      Index best = -1;
      double lowest = kInf;
      for (Index it = 0; it < num_rem; ++it) {
        const Index j = remaining[it];
        const double r = base + ci[j] - v[j];
        if (r < sp[j]) {
          path[j] = i;
          sp[j] = r;
        }
        // Ties go to a free column: the search ends there.
        if (sp[j] < lowest || (sp[j] == lowest && row4col[j] == kUnassigned)) {
          lowest = sp[j];
          best = it;
        }
      }
      if (best < 0 || lowest == kInf) return false;  // row cannot reach any free column
      min_val = lowest;
      const Index j = remaining[best];
      if (row4col[j] == kUnassigned)
        sink = j;
      else
        i = row4col[j];
      remaining[best] = remaining[--num_rem];
      remaining[num_rem] = j;
    }
    // Dual update keeps reduced costs non-negative and tight along the new path.
    u[cur] += min_val;
    for (std::size_t k = 1; k < visited_rows_.size(); ++k) {
      const Index r = visited_rows_[k];
      u[r] += min_val - sp[col4row[r]];
    }
    for (Index it = num_rem; it < nc; ++it) {
      const Index j = remaining[it];
      v[j] -= min_val - sp[j];
    }
    for (Index j = sink;;) {
      const Index r = path[j];
      row4col[j] = r;
      std::swap(col4row[r], j);
      if (r == cur) break;
    }
  }
  return true;
}

AssignmentResult LinearAssignmentSolver::solve_dense(const double* cost, Index rows, Index cols,
                                                     Index* row_to_col, Index* col_to_row) {
  check_sizes(rows, cols, "solve_dense");
  fill_unassigned(row_to_col, rows);
  fill_unassigned(col_to_row, cols);
  AssignmentResult res;
  if (rows == 0 || cols == 0) return res;
  check_no_neg_inf(cost, rows * cols, "solve_dense");

  const bool transpose = rows > cols;
  const double* c = cost;
  if (transpose) {  // the core wants the short side as rows
    fit(tcost_, rows * cols, 0.0);
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) tcost_[uz(j * rows + i)] = cost[i * cols + j];
    c = tcost_.data();
  }
  const Index nr = transpose ? cols : rows, nc = transpose ? rows : cols;
  if (!dense_core(c, nr, nc)) {
    res.feasible = false;
    return res;
  }
  for (Index r = 0; r < nr; ++r) {
    const Index k = col4row_[uz(r)];
    const Index i = transpose ? k : r, j = transpose ? r : k;
    row_to_col[i] = j;
    col_to_row[j] = i;
  }
  // Sum in row order so equal assignments give bit-identical totals.
  for (Index i = 0; i < rows; ++i)
    if (row_to_col[i] != kUnassigned) {
      res.total_cost += cost[i * cols + row_to_col[i]];
      ++res.num_assigned;
    }
  return res;
}

// ---------------------------------------------------------------------------------------
// Sparse core: Dijkstra over the CSR graph with a lazy binary heap. Only the columns a
// search touches are reset afterwards, so a local augmentation costs only its own edges.
bool LinearAssignmentSolver::sparse_core(Index nr, Index nc, const Index* indptr,
                                         const Index* indices, const double* costs, bool gated,
                                         double gate) {
  const Index ncols = nc + (gated ? nr : 0);  // gated: column nc + r is row r's dummy
  fit(u_, nr, 0.0);
  fit(v_, ncols, 0.0);
  fit(shortest_, ncols, kInf);
  fit(path_, ncols, kUnassigned);
  fit(path_edge_, ncols, kUnassigned);
  fit(edge4col_, ncols, kUnassigned);
  fit(col4row_, nr, kUnassigned);
  fit(row4col_, ncols, kUnassigned);
  fit(scanned_, ncols, char{0});
  touched_.clear();
  scanned_cols_.clear();
  visited_rows_.clear();
  heap_.clear();

  double* const u = u_.data();
  double* const v = v_.data();
  double* const sp = shortest_.data();
  Index* const path = path_.data();
  Index* const pedge = path_edge_.data();
  Index* const row4col = row4col_.data();
  Index* const col4row = col4row_.data();
  char* const scanned = scanned_.data();
  const double limit = gated ? gate : kInf;

  // std heap functions build a max-heap; "later" entries sink, so the minimum is on top.
  const auto later = [](const HeapEntry& a, const HeapEntry& b) {
    return a.dist > b.dist || (a.dist == b.dist && a.assigned && !b.assigned);
  };
  const auto relax = [&](Index j, double r, Index i, Index e) {
    if (!(r < sp[j]) || scanned[j]) return;
    if (sp[j] == kInf) touched_.push_back(j);
    sp[j] = r;
    path[j] = i;
    pedge[j] = e;
    heap_.push_back({r, j, row4col[j] != kUnassigned});
    std::push_heap(heap_.begin(), heap_.end(), later);
  };

  // Greedy start: a row whose cheapest column is still free takes it, with u = that cost.
  // The duals stay feasible (v = 0, every reduced cost >= 0 on those rows, assigned edges
  // tight), and in gated problems most rows are settled here without a heap search.
  for (Index r = 0; r < nr; ++r) {
    double best = gated ? gate : kInf;
    Index bj = gated ? nc + r : kUnassigned, be = kUnassigned;
    for (Index e = indptr[r]; e < indptr[r + 1]; ++e) {
      const double w = costs[e];
      const Index j = indices[e];
      if (!(w <= limit) || w == kInf) continue;
      if (w < best || (w == best && row4col[j] == kUnassigned)) {
        best = w;
        bj = j;
        be = e;
      }
    }
    if (bj != kUnassigned && row4col[bj] == kUnassigned) {
      row4col[bj] = r;
      col4row[r] = bj;
      edge4col_[uz(bj)] = be;
      u[r] = best;
    } else {
      touched_.push_back(r);  // scratch: rows left free
    }
  }

  // Augmenting row reduction (Jonker-Volgenant): a free row takes its cheapest column,
  // lowering that column's v to the row's second-best reduced cost and bumping the previous
  // owner. It only lowers v of columns that end up assigned, so v <= 0 with v = 0 on free
  // columns still holds (needed for rectangular optimality); stopping at any point is safe.
  std::vector<Index>& free_rows = touched_;
  std::vector<Index>& next_free = scanned_cols_;
  for (int pass = 0; pass < 2 && !free_rows.empty(); ++pass) {
    next_free.clear();
    std::size_t k = 0;
    std::size_t budget = 4 * free_rows.size() + 16;  // guards against float creep
    while (k < free_rows.size() && budget-- > 0) {
      const Index r = free_rows[k++];
      double h1 = kInf, h2 = kInf;
      Index j1 = kUnassigned, j2 = kUnassigned, e1 = kUnassigned, e2 = kUnassigned;
      const auto consider = [&](Index j, Index e, double h) {
        if (h < h2) {
          if (h >= h1) {
            h2 = h, j2 = j, e2 = e;
          } else {
            h2 = h1, j2 = j1, e2 = e1;
            h1 = h, j1 = j, e1 = e;
          }
        }
      };
      for (Index e = indptr[r]; e < indptr[r + 1]; ++e) {
        const double w = costs[e];
        if (!(w <= limit) || w == kInf) continue;
        consider(indices[e], e, w - v[indices[e]]);
      }
      if (gated) consider(nc + r, kUnassigned, gate - v[nc + r]);
      if (j1 == kUnassigned) continue;  // no allowed column: the search below reports it
      Index owner = row4col[j1];
      const bool strict = h1 < h2 && h2 < kInf;
      if (strict) {
        v[j1] -= h2 - h1;
      } else if (owner != kUnassigned && j2 != kUnassigned) {
        j1 = j2, e1 = e2, owner = row4col[j2];
      }
      row4col[j1] = r;
      col4row[r] = j1;
      edge4col_[uz(j1)] = e1;
      if (owner != kUnassigned) {
        col4row[owner] = kUnassigned;
        if (strict)
          free_rows[--k] = owner;  // retry it at once, as JV does
        else
          next_free.push_back(owner);
      }
    }
    while (k < free_rows.size()) next_free.push_back(free_rows[k++]);
    free_rows.swap(next_free);
  }
  free_rows.clear();
  next_free.clear();
  // Make u tight on every assigned edge (u_r = min reduced cost of row r); free rows keep 0.
  for (Index r = 0; r < nr; ++r) {
    const Index j = col4row[r];
    u[r] = 0.0;
    if (j == kUnassigned) continue;
    const Index e = edge4col_[uz(j)];
    u[r] = (e == kUnassigned ? gate : costs[e]) - v[j];
  }

  for (Index cur = 0; cur < nr; ++cur) {
    if (col4row[cur] != kUnassigned) continue;
    double min_val = 0.0;
    Index i = cur, sink = kUnassigned;
    bool ok = true;
    while (sink == kUnassigned) {
      visited_rows_.push_back(i);
      const double base = min_val - u[i];
      for (Index e = indptr[i]; e < indptr[i + 1]; ++e) {
        const double w = costs[e];
        if (!(w <= limit) || w == kInf) continue;  // forbidden: NaN, +inf or above the gate
        const Index j = indices[e];
        relax(j, base + w - v[j], i, e);
      }
      if (gated) relax(nc + i, base + gate - v[nc + i], i, kUnassigned);

      Index j = kUnassigned;
      while (!heap_.empty()) {
        std::pop_heap(heap_.begin(), heap_.end(), later);
        const HeapEntry top = heap_.back();
        heap_.pop_back();
        if (!scanned[top.col] && top.dist == sp[top.col]) {
          j = top.col;
          break;
        }
      }
      if (j == kUnassigned) {
        ok = false;
        break;
      }
      min_val = sp[j];
      scanned[j] = 1;
      scanned_cols_.push_back(j);
      if (row4col[j] == kUnassigned)
        sink = j;
      else
        i = row4col[j];
    }
    if (ok) {
      u[cur] += min_val;
      for (std::size_t k = 1; k < visited_rows_.size(); ++k) {
        const Index r = visited_rows_[k];
        u[r] += min_val - sp[col4row[r]];
      }
      for (const Index j : scanned_cols_) v[j] -= min_val - sp[j];
      for (Index j = sink;;) {
        const Index r = path[j];
        row4col[j] = r;
        edge4col_[uz(j)] = pedge[j];
        std::swap(col4row[r], j);
        if (r == cur) break;
      }
    }
    for (const Index j : touched_) {
      sp[j] = kInf;
      scanned[j] = 0;
    }
    touched_.clear();
    scanned_cols_.clear();
    visited_rows_.clear();
    heap_.clear();
    if (!ok) return false;
  }
  return true;
}

AssignmentResult LinearAssignmentSolver::solve_sparse(Index rows, Index cols, const Index* indptr,
                                                      const Index* indices, const double* costs,
                                                      Index* row_to_col, Index* col_to_row) {
  check_sizes(rows, cols, "solve_sparse");
  check_csr(rows, cols, indptr, indices, "solve_sparse");
  fill_unassigned(row_to_col, rows);
  fill_unassigned(col_to_row, cols);
  AssignmentResult res;
  if (rows == 0 || cols == 0) return res;
  const Index nnz = indptr[rows];
  check_no_neg_inf(costs, nnz, "solve_sparse");

  const bool transpose = rows > cols;
  const Index *ip = indptr, *ix = indices;
  const double* cc = costs;
  if (transpose) {  // CSR -> CSC by counting sort, so the short side is the rows
    fit(tindptr_, cols + 1, Index{0});
    grow(tindices_, nnz);
    grow(tcost_, nnz);
    for (Index e = 0; e < nnz; ++e) ++tindptr_[uz(indices[e] + 1)];
    for (Index j = 0; j < cols; ++j) tindptr_[uz(j + 1)] += tindptr_[uz(j)];
    // path_ is free scratch here: next write position per column
    fit(path_, cols, Index{0});
    std::copy(tindptr_.begin(), tindptr_.begin() + cols, path_.begin());
    for (Index r = 0; r < rows; ++r)
      for (Index e = indptr[r]; e < indptr[r + 1]; ++e) {
        const Index pos = path_[uz(indices[e])]++;
        tindices_[uz(pos)] = r;
        tcost_[uz(pos)] = costs[e];
      }
    ip = tindptr_.data();
    ix = tindices_.data();
    cc = tcost_.data();
  }
  const Index nr = transpose ? cols : rows, nc = transpose ? rows : cols;
  if (!sparse_core(nr, nc, ip, ix, cc, false, 0.0)) {
    res.feasible = false;
    return res;
  }
  for (Index r = 0; r < nr; ++r) {
    const Index k = col4row_[uz(r)];
    const Index i = transpose ? k : r, j = transpose ? r : k;
    row_to_col[i] = j;
    col_to_row[j] = i;
    res.total_cost += cc[edge4col_[uz(k)]];
  }
  res.num_assigned = nr;
  return res;
}

AssignmentResult LinearAssignmentSolver::solve_sparse_gated(Index rows, Index cols,
                                                            const Index* indptr,
                                                            const Index* indices,
                                                            const double* costs, double gate,
                                                            Index* row_to_col,
                                                            Index* col_to_row) {
  check_sizes(rows, cols, "solve_sparse_gated");
  check_gate(gate, "solve_sparse_gated");
  check_csr(rows, cols, indptr, indices, "solve_sparse_gated");
  fill_unassigned(row_to_col, rows);
  fill_unassigned(col_to_row, cols);
  AssignmentResult res;
  if (rows == 0 || cols == 0) return res;
  check_no_neg_inf(costs, indptr[rows], "solve_sparse_gated");
  // Dummies make every row assignable, so the core cannot fail here.
  sparse_core(rows, cols, indptr, indices, costs, true, gate);
  for (Index i = 0; i < rows; ++i) {
    const Index j = col4row_[uz(i)];
    if (j >= cols) continue;  // row's own dummy: unassigned
    row_to_col[i] = j;
    col_to_row[j] = i;
    res.total_cost += costs[edge4col_[uz(j)]];
    ++res.num_assigned;
  }
  return res;
}

AssignmentResult LinearAssignmentSolver::solve_dense_gated(const double* cost, Index rows,
                                                           Index cols, double gate,
                                                           Index* row_to_col, Index* col_to_row) {
  check_sizes(rows, cols, "solve_dense_gated");
  check_gate(gate, "solve_dense_gated");
  fill_unassigned(row_to_col, rows);
  fill_unassigned(col_to_row, cols);
  if (rows == 0 || cols == 0) return {};
  check_no_neg_inf(cost, rows * cols, "solve_dense_gated");
  // Keep only the pairs inside the gate: gating makes the graph sparse.
  // Count first: sizing the buffers to rows * cols would touch far more memory than a
  // gated problem has entries.
  Index nnz = 0;
  for (Index k = 0; k < rows * cols; ++k) nnz += cost[k] <= gate ? 1 : 0;
  fit(tindptr_, rows + 1, Index{0});
  grow(tindices_, nnz);
  grow(tcost_, nnz);
  nnz = 0;
  for (Index i = 0; i < rows; ++i) {
    const double* ci = cost + i * cols;
    for (Index j = 0; j < cols; ++j)
      if (ci[j] <= gate) {
        tindices_[uz(nnz)] = j;
        tcost_[uz(nnz)] = ci[j];
        ++nnz;
      }
    tindptr_[uz(i + 1)] = nnz;
  }
  // Copy the pointers out: solve_sparse_gated does not touch the t* buffers.
  return solve_sparse_gated(rows, cols, tindptr_.data(), tindices_.data(), tcost_.data(), gate,
                            row_to_col, col_to_row);
}

AssignmentResult linear_sum_assignment(const double* cost, Index rows, Index cols,
                                       Index* row_to_col, Index* col_to_row) {
  LinearAssignmentSolver solver;
  return solver.solve_dense(cost, rows, cols, row_to_col, col_to_row);
}

}  // namespace fusion::assoc
