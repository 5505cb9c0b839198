// Associator "jpda": joint probabilistic data association on the sparse cost graph of a
// likelihood cost (mahalanobis, mahalanobis_loglik). The graph is split into connected clusters
// (union-find over rows and columns; clusters numbered by their first row, rows in id order
// inside); each cluster's marginals come from tracking::JpdaSolver (jpda_method: enumeration,
// exact frontier recursion, or loopy BP beyond jpda_max_states) with per-pair weight
// w = pd N(y; 0, S) / clutter_density = exp(log_lr) and miss weight 1 - pd P_G (P_G = the
// sensor's gate_probability), both scaled per row by its largest weight in the log domain (no
// overflow). Outputs beta0 per row, beta per edge and each column's total probability; the
// engine turns them into the PDA update, the lifecycle and births (engine_impl.hpp
// apply_marginals). Registered in associators/registry.hpp; contract: associators/associator.hpp.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "fusion/engine/associators/associator.hpp"
#include "fusion/tracking/jpda.hpp"

namespace fusion::engine::associators {

struct Jpda {
  static constexpr const char* kKey = "jpda";
  static constexpr AssociatorOutput kOutput = AssociatorOutput::kMarginals;
  static constexpr bool kNeedsLikelihood = true;

  class Impl {
   public:
    void reserve(const AssociatorSizes& z) {
      const auto sz = [](Index v) { return static_cast<std::size_t>(v); };
      const Index T = z.tracks, D = z.detections, E = std::max<Index>(z.edges, 1);
      states_ = z.jpda_max_states;
      tracks_ = T;
      detections_ = D;
      jpda_.reserve(T, D, E, states_);
      uf_parent_.assign(sz(T + D), 0);
      label_.assign(sz(T + D), 0);
      cl_track_ptr_.assign(sz(T + 1), 0);
      cl_tracks_.assign(sz(T), 0);
      cl_fill_.assign(sz(T + 1), 0);
      col_local_.assign(sz(D), 0);
      loc_ptr_.assign(sz(T + 1), 0);
      loc_miss_.assign(sz(T), 0.0);
      loc_beta0_.assign(sz(T), 0.0);
      loc_meas_.assign(sz(E), 0);
      loc_w_.assign(sz(E), 0.0);
      loc_beta_.assign(sz(E), 0.0);
    }

    void grow_edges(Index E) {
      if (E <= static_cast<Index>(loc_meas_.size())) return;
      const auto s = static_cast<std::size_t>(E);
      loc_meas_.resize(s);
      loc_w_.resize(s);
      loc_beta_.resize(s);
      jpda_.reserve(tracks_, detections_, E, states_);
    }

    void marginals(const CostGraph& g, const SensorConfig& cfg, double* beta0, double* edge_beta, double* col_prob,
                   AssociationStats& stats) {
      const Index nr = g.nr, nc = g.nc;
      const double log_miss = std::log(1.0 - cfg.pd * cfg.gate_probability);
      const tracking::JpdaMethod method = tracking::jpda_method_from_string(cfg.jpda_method);
      const auto E = [&](Index e) -> const GraphEdge& { return g.edges[e]; };
      const auto at = [](auto& v, Index i) -> auto& { return v[static_cast<std::size_t>(i)]; };
      const Index* edge_ptr = g.edge_ptr;
      // clusters
      for (Index i = 0; i < nr + nc; ++i) at(uf_parent_, i) = i;
      for (Index i = 0; i < nr; ++i)
        for (Index e = edge_ptr[i]; e < edge_ptr[i + 1]; ++e) {
          const Index a = uf_find(i), b = uf_find(nr + E(e).col);
          if (a != b) at(uf_parent_, std::max(a, b)) = std::min(a, b);
        }
      for (Index i = 0; i < nr + nc; ++i) at(label_, i) = -1;
      Index ncl = 0;
      for (Index i = 0; i < nr; ++i) {
        const Index r = uf_find(i);
        if (at(label_, r) < 0) at(label_, r) = ncl++;
      }
      std::fill(cl_track_ptr_.begin(), cl_track_ptr_.begin() + ncl + 1, 0);
      for (Index i = 0; i < nr; ++i) ++at(cl_track_ptr_, at(label_, uf_find(i)) + 1);
      for (Index cl = 0; cl < ncl; ++cl) at(cl_track_ptr_, cl + 1) += at(cl_track_ptr_, cl);
      std::copy(cl_track_ptr_.begin(), cl_track_ptr_.begin() + ncl, cl_fill_.begin());
      for (Index i = 0; i < nr; ++i) at(cl_tracks_, at(cl_fill_, at(label_, uf_find(i)))++) = i;
      for (Index col = 0; col < nc; ++col) {
        at(col_local_, col) = -1;
        col_prob[col] = 0.0;
      }
      for (Index cl = 0; cl < ncl; ++cl) {
        const Index b = at(cl_track_ptr_, cl), K = at(cl_track_ptr_, cl + 1) - b;
        Index m = 0, ei = 0;
        loc_ptr_[0] = 0;
        for (Index kk = 0; kk < K; ++kk) {
          const Index i = at(cl_tracks_, b + kk);
          double mx = log_miss;
          for (Index e = edge_ptr[i]; e < edge_ptr[i + 1]; ++e) mx = std::max(mx, E(e).log_lr);
          at(loc_miss_, kk) = std::exp(log_miss - mx);
          for (Index e = edge_ptr[i]; e < edge_ptr[i + 1]; ++e) {
            if (at(col_local_, E(e).col) < 0) at(col_local_, E(e).col) = m++;
            at(loc_meas_, ei) = at(col_local_, E(e).col);
            at(loc_w_, ei++) = std::exp(E(e).log_lr - mx);
          }
          at(loc_ptr_, kk + 1) = ei;
        }
        if (ei == 0) {  // a row alone with an empty gate
          for (Index kk = 0; kk < K; ++kk) beta0[at(cl_tracks_, b + kk)] = 1.0;
          continue;
        }
        ++stats.clusters;
        stats.largest_cluster_tracks = std::max(stats.largest_cluster_tracks, K);
        stats.largest_cluster_measurements = std::max(stats.largest_cluster_measurements, m);
        const tracking::JpdaMethod used = jpda_.solve(K, m, loc_ptr_.data(), loc_meas_.data(), loc_w_.data(),
                                                      loc_miss_.data(), loc_beta_.data(), loc_beta0_.data(), method);
        switch (used) {
          case tracking::JpdaMethod::kEnumerate: ++stats.clusters_enumerate; break;
          case tracking::JpdaMethod::kExact: ++stats.clusters_exact; break;
          case tracking::JpdaMethod::kLbp: ++stats.clusters_lbp; break;
          default: ++stats.clusters_single; break;
        }
        ei = 0;
        for (Index kk = 0; kk < K; ++kk) {
          const Index i = at(cl_tracks_, b + kk);
          beta0[i] = at(loc_beta0_, kk);
          for (Index e = edge_ptr[i]; e < edge_ptr[i + 1]; ++e) {
            edge_beta[e] = at(loc_beta_, ei++);
            col_prob[E(e).col] += edge_beta[e];
          }
        }
      }
    }

   private:
    Index uf_find(Index a) {
      while (uf_parent_[static_cast<std::size_t>(a)] != a) {
        uf_parent_[static_cast<std::size_t>(a)] =
            uf_parent_[static_cast<std::size_t>(uf_parent_[static_cast<std::size_t>(a)])];
        a = uf_parent_[static_cast<std::size_t>(a)];
      }
      return a;
    }

    tracking::JpdaSolver jpda_;
    Index states_ = 0, tracks_ = 0, detections_ = 0;
    std::vector<Index> uf_parent_, label_, cl_track_ptr_, cl_tracks_, cl_fill_, col_local_, loc_ptr_, loc_meas_;
    std::vector<double> loc_w_, loc_miss_, loc_beta_, loc_beta0_;
  };
};

}  // namespace fusion::engine::associators
