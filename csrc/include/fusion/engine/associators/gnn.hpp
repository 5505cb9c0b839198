// Associator "gnn": global nearest neighbour, the exact minimum-cost gated assignment of the
// frame's cost graph (assoc/linear_assignment.hpp; dense or sparse). A pair above the cost's
// gate is forbidden; a row left unassigned costs the gate. Option two_stage (ByteTrack's two
// stages): the columns with score >= birth_score_threshold are assigned first (every row), then
// the other columns to the rows left unassigned, so a weak detection never takes a track from a
// confident one. Registered in associators/registry.hpp; contract: associators/associator.hpp.
#pragma once
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "fusion/engine/associators/associator.hpp"

namespace fusion::engine::associators {

struct Gnn {
  static constexpr const char* kKey = "gnn";
  static constexpr AssociatorOutput kOutput = AssociatorOutput::kAssignment;
  static constexpr bool kNeedsLikelihood = false;

  class Impl {
   public:
    void reserve(const AssociatorSizes& z) {
      const auto T = static_cast<std::size_t>(z.tracks), D = static_cast<std::size_t>(z.detections);
      solver_edges_ = z.dense ? z.tracks * z.detections : z.edges;
      solver_.reserve(z.tracks, z.detections, solver_edges_);
      tracks_ = z.tracks;
      detections_ = z.detections;
      if (!z.two_stage) return;
      stage_cost_.assign(T * D, 0.0);
      stage_rows_.assign(T, 0);
      stage_cols_.assign(D, 0);
      stage_r2c_.assign(T, assoc::kUnassigned);
      stage_c2r_.assign(D, assoc::kUnassigned);
      if (z.sparse) {
        stage_ptr_.assign(T + 1, 0);
        stage_ecol_.assign(static_cast<std::size_t>(std::max<Index>(z.edges, 1)), 0);
        stage_ecost_.assign(static_cast<std::size_t>(std::max<Index>(z.edges, 1)), 0.0);
      }
    }

    void grow_edges(Index E) {
      if (E <= solver_edges_) return;
      solver_edges_ = E;
      solver_.reserve(tracks_, detections_, solver_edges_);
    }

    void assign(const CostGraph& g, const SensorConfig& cfg, Index* row_to_col, Index* col_to_row) {
      if (g.sparse) {
        if (g.edge_ptr[g.nr] == 0) return;  // no in-gate pair: every row stays unassigned
        if (cfg.two_stage)
          two_stage_sparse(g, cfg, row_to_col, col_to_row);
        else
          solver_.solve_sparse_gated(g.nr, g.nc, g.edge_ptr, g.edge_col, g.edge_cost, g.gate, row_to_col, col_to_row);
      } else if (cfg.two_stage) {
        two_stage_dense(g, cfg, row_to_col);
      } else {
        solver_.solve_dense_gated(g.cost, g.nr, g.nc, g.gate, row_to_col, col_to_row);
      }
    }

   private:
    // Two stages over the full nr x nc cost: the strong columns against every row, then the
    // others against the rows left unassigned. Writes row_to_col (full-matrix columns).
    void two_stage_dense(const CostGraph& g, const SensorConfig& cfg, Index* row_to_col) {
      const Index nr = g.nr, nc = g.nc;
      for (int stage = 0; stage < 2; ++stage) {
        Index rows = 0, cols = 0;
        for (Index i = 0; i < nr; ++i)
          if (row_to_col[i] == assoc::kUnassigned) stage_rows_[static_cast<std::size_t>(rows++)] = i;
        for (Index col = 0; col < nc; ++col) {
          const bool strong = g.col_score[col] >= cfg.birth_score_threshold;
          if (strong == (stage == 0)) stage_cols_[static_cast<std::size_t>(cols++)] = col;
        }
        if (rows == 0 || cols == 0) continue;
        for (Index r = 0; r < rows; ++r) {
          const double* src = g.cost + stage_rows_[static_cast<std::size_t>(r)] * nc;
          double* dst = stage_cost_.data() + r * cols;
          for (Index q = 0; q < cols; ++q) dst[q] = src[stage_cols_[static_cast<std::size_t>(q)]];
        }
        solver_.solve_dense_gated(stage_cost_.data(), rows, cols, g.gate, stage_r2c_.data(), stage_c2r_.data());
        for (Index r = 0; r < rows; ++r) {
          const Index q = stage_r2c_[static_cast<std::size_t>(r)];
          if (q != assoc::kUnassigned)
            row_to_col[stage_rows_[static_cast<std::size_t>(r)]] = stage_cols_[static_cast<std::size_t>(q)];
        }
      }
    }

    // The same on the sparse graph: stage 1 keeps the edges to strong columns (every row),
    // stage 2 the edges of the rows left unassigned to the other columns.
    void two_stage_sparse(const CostGraph& g, const SensorConfig& cfg, Index* row_to_col, Index* col_to_row) {
      if (stage_ptr_.empty()) throw std::logic_error("FusionEngine: two-stage buffers missing");
      const auto E = static_cast<std::size_t>(g.edge_ptr[g.nr]);
      if (stage_ecol_.size() < E) {  // edges grew this frame (the engine's grow_edges)
        stage_ecol_.resize(E);
        stage_ecost_.resize(E);
      }
      for (int stage = 0; stage < 2; ++stage) {
        Index rows = 0, e = 0;
        stage_ptr_[0] = 0;
        for (Index i = 0; i < g.nr; ++i) {
          if (row_to_col[i] != assoc::kUnassigned) continue;
          stage_rows_[static_cast<std::size_t>(rows)] = i;
          for (Index q = g.edge_ptr[i]; q < g.edge_ptr[i + 1]; ++q) {
            const Index col = g.edge_col[q];
            const bool strong = g.col_score[col] >= cfg.birth_score_threshold;
            if (strong != (stage == 0)) continue;
            stage_ecol_[static_cast<std::size_t>(e)] = col;
            stage_ecost_[static_cast<std::size_t>(e++)] = g.edge_cost[q];
          }
          stage_ptr_[static_cast<std::size_t>(++rows)] = e;
        }
        if (rows == 0 || e == 0) continue;
        solver_.solve_sparse_gated(rows, g.nc, stage_ptr_.data(), stage_ecol_.data(), stage_ecost_.data(), g.gate,
                                   stage_r2c_.data(), col_to_row);
        for (Index r = 0; r < rows; ++r)
          row_to_col[stage_rows_[static_cast<std::size_t>(r)]] = stage_r2c_[static_cast<std::size_t>(r)];
      }
    }

    assoc::LinearAssignmentSolver solver_;
    Index solver_edges_ = 0, tracks_ = 0, detections_ = 0;
    std::vector<double> stage_cost_, stage_ecost_;
    std::vector<Index> stage_rows_, stage_cols_, stage_r2c_, stage_c2r_, stage_ptr_, stage_ecol_;
  };
};

}  // namespace fusion::engine::associators
