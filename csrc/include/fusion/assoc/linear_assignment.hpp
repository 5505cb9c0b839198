// Exact minimum-cost linear assignment (rectangular, dense or sparse, optionally gated).
//
// The solver is the shortest augmenting path method of Jonker and Volgenant in the
// formulation of Crouse (2016): one Dijkstra search per row over reduced costs, keeping dual
// potentials u (rows) and v (columns) so that every reduced cost stays non-negative.
//
//  - solve_dense / solve_sparse: every row of the smaller side is assigned (as
//    scipy.optimize.linear_sum_assignment and scipy.sparse.csgraph.
//    min_weight_full_bipartite_matching do). Forbidden pairs are +inf or NaN (dense) or
//    absent (sparse; stored +inf or NaN entries count as absent). If no such assignment
//    exists the result says feasible == false.
//  - solve_dense_gated / solve_sparse_gated: pairs with cost > gate are forbidden and rows or
//    columns may stay unassigned. The objective is the sum of assigned costs plus `gate` for
//    every unassigned row, i.e. the same as giving row i a private dummy column of cost gate
//    (the standard tracking trick), so leaving a pair unassigned never beats a pair whose
//    cost is below the gate. These never fail on infeasibility.
//
// The sparse solvers work on the CSR graph directly (a binary heap replaces the dense scan
// over columns), so a gated tracking problem costs roughly O(edges touched) per row.
//
// A solver object keeps its workspace between calls; once reserve() has been called with
// sizes at least as large as a problem, solving it does not allocate.
#pragma once
#include <utility>
#include <vector>

#include "fusion/core/types.hpp"

namespace fusion::assoc {

inline constexpr Index kUnassigned = -1;

struct AssignmentResult {
  bool feasible = true;     // false only from the non-gated solvers: no complete assignment
  Index num_assigned = 0;   // number of assigned (row, column) pairs
  double total_cost = 0.0;  // sum of the costs of the assigned pairs (0 when infeasible)
};

class LinearAssignmentSolver {
 public:
  LinearAssignmentSolver() = default;

  // Reserves workspace for problems up to rows x cols with up to nnz stored entries (for
  // the sparse solvers; for solve_dense_gated nnz is the number of entries within the gate,
  // and for solve_dense with rows > cols it must be rows * cols, for the transposed copy).
  void reserve(Index rows, Index cols, Index nnz = 0);

  // `cost` is rows x cols, row-major. Outputs: row_to_col[rows], col_to_row[cols] with
  // kUnassigned (-1) for unassigned entries. Throws ShapeError on negative sizes and
  // NumericalError if a cost is -inf.
  AssignmentResult solve_dense(const double* cost, Index rows, Index cols, Index* row_to_col,
                               Index* col_to_row);

  // As solve_dense, but pairs with cost > gate (or NaN) are forbidden and any row or column
  // may stay unassigned. Throws ConfigurationError if gate is not finite.
  AssignmentResult solve_dense_gated(const double* cost, Index rows, Index cols, double gate,
                                     Index* row_to_col, Index* col_to_row);

  // CSR input: row r's entries are indices[indptr[r] .. indptr[r+1]) with costs at the same
  // positions; indptr has rows + 1 entries starting at 0. Duplicate (row, col) entries are
  // allowed and the cheapest one counts. Throws ShapeError on malformed CSR.
  AssignmentResult solve_sparse(Index rows, Index cols, const Index* indptr,
                                const Index* indices, const double* costs, Index* row_to_col,
                                Index* col_to_row);

  AssignmentResult solve_sparse_gated(Index rows, Index cols, const Index* indptr,
                                      const Index* indices, const double* costs, double gate,
                                      Index* row_to_col, Index* col_to_row);

 private:
  // Dense core: requires nr <= nc. Fills col4row_/row4col_. False when infeasible.
  bool dense_core(const double* c, Index nr, Index nc);
  // Sparse core: gated adds a private dummy column nc + r of cost `gate` for each row r.
  bool sparse_core(Index nr, Index nc, const Index* indptr, const Index* indices,
                   const double* costs, bool gated, double gate);

  struct HeapEntry {
    double dist;
    Index col;
    bool assigned;  // ties prefer unassigned columns: the search stops there sooner
  };

  std::vector<double> u_, v_, shortest_;
  std::vector<Index> path_, path_edge_, edge4col_, col4row_, row4col_, remaining_;
  std::vector<Index> visited_rows_, scanned_cols_, touched_;
  std::vector<char> scanned_;
  std::vector<HeapEntry> heap_;
  // transposed or densified copies of the input
  std::vector<double> tcost_;
  std::vector<Index> tindptr_, tindices_;
};

// Convenience: a one-shot dense solve (allocates its own workspace).
AssignmentResult linear_sum_assignment(const double* cost, Index rows, Index cols,
                                       Index* row_to_col, Index* col_to_row);

}  // namespace fusion::assoc
