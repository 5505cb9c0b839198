#include "fusion/tracking/point_tracker.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/filters/kalman.hpp"
#include "fusion/models/motion.hpp"

namespace fusion::tracking {

PointAssociation point_association_from_string(std::string_view name) {
  if (name == "gnn") return PointAssociation::kGnn;
  if (name == "jpda") return PointAssociation::kJpda;
  throw ConfigurationError("association: expected 'gnn' or 'jpda', got '" + std::string(name) + "'");
}

const char* to_string(PointAssociation a) { return a == PointAssociation::kGnn ? "gnn" : "jpda"; }

namespace {
[[noreturn]] void bad(const char* field, const std::string& rule, double got) {
  throw ConfigurationError(std::string("PointTrackerConfig.") + field + ": " + rule + ", got " +
                           std::to_string(got));
}
}  // namespace

void PointTrackerConfig::validate() const {
  const auto finite = [](double v) { return std::isfinite(v); };
  if (!(finite(gate_chi2) && gate_chi2 > 0.0)) bad("gate_chi2", "must be finite and > 0", gate_chi2);
  if (!(prob_detection > 0.0 && prob_detection <= 1.0))
    bad("prob_detection", "must be in (0, 1]", prob_detection);
  if (!(finite(clutter_density) && clutter_density > 0.0))
    bad("clutter_density", "must be finite and > 0 (per m^2)", clutter_density);
  if (!(finite(sigma_a) && sigma_a >= 0.0)) bad("sigma_a", "must be finite and >= 0 (m/s^2)", sigma_a);
  if (!(finite(sigma_meas) && sigma_meas > 0.0))
    bad("sigma_meas", "must be finite and > 0 (m)", sigma_meas);
  if (!(finite(init_speed_sigma) && init_speed_sigma > 0.0))
    bad("init_speed_sigma", "must be finite and > 0 (m/s)", init_speed_sigma);
  if (confirm_m < 1) bad("confirm_m", "must be >= 1", confirm_m);
  if (confirm_n < confirm_m) bad("confirm_n", "must be >= confirm_m", confirm_n);
  if (max_misses < 1) bad("max_misses", "must be >= 1", max_misses);
  if (max_tracks < 1) bad("max_tracks", "must be >= 1", static_cast<double>(max_tracks));
  if (max_measurements < 1)
    bad("max_measurements", "must be >= 1", static_cast<double>(max_measurements));
  if (max_gated_pairs < 0) bad("max_gated_pairs", "must be >= 0", static_cast<double>(max_gated_pairs));
  if (!(birth_threshold >= 0.0 && birth_threshold <= 1.0))
    bad("birth_threshold", "must be in [0, 1]", birth_threshold);
  if (jpda_max_states < 1) bad("jpda_max_states", "must be >= 1", static_cast<double>(jpda_max_states));
  if (jpda_method == JpdaMethod::kSingle) bad("jpda_method", "must be auto, enumerate, exact or lbp", 4);
}

PointTracker::PointTracker(PointTrackerConfig config) : config_(config) {
  config_.validate();
  const double s2 = config_.sigma_meas * config_.sigma_meas;
  R_ = Mat<2, 2>::Identity() * s2;
  H_.setZero();
  H_(0, 0) = H_(1, 1) = 1.0;
  // Pg: probability that a true 2-D measurement falls in the chi-square gate.
  const double pg = 1.0 - std::exp(-0.5 * config_.gate_chi2);
  log_miss_ = std::log(1.0 - config_.prob_detection * pg);
  log_pd_over_lambda_ = std::log(config_.prob_detection) - std::log(config_.clutter_density);

  const Index T = config_.max_tracks, M = config_.max_measurements;
  const Index E = config_.max_gated_pairs > 0 ? config_.max_gated_pairs : 16 * std::max(T, M);
  const auto sz = [](Index v) { return static_cast<std::size_t>(v); };
  tracks_.reserve(sz(T));
  cell_start_.resize(sz(2 * M + 17));  // at most 2 M + 16 grid cells
  cell_items_.resize(sz(M));
  meas_cell_.resize(sz(M));
  scratch_.resize(sz(T));
  edge_ptr_.resize(sz(T + 1));
  edges_.reserve(sz(E));
  edge_meas_.resize(sz(E));
  edge_cost_.resize(sz(E));
  hit_.resize(sz(T));
  meas_taken_.resize(sz(M));
  solver_.reserve(T, M, E);
  row_to_col_.resize(sz(T));
  col_to_row_.resize(sz(M));
  jpda_.reserve(T, M, E, config_.jpda_max_states);
  uf_parent_.resize(sz(T + M));
  label_.resize(sz(T + M));
  cl_track_ptr_.resize(sz(T + 1));
  cl_tracks_.resize(sz(T));
  cl_fill_.resize(sz(T + 1));
  meas_local_.resize(sz(M));
  loc_ptr_.resize(sz(T + 1));
  loc_miss_.resize(sz(T));
  loc_beta0_.resize(sz(T));
  beta0_.resize(sz(T));
  for (auto* v : {&loc_w_, &loc_beta_, &edge_beta_}) v->resize(sz(E));
  loc_meas_.resize(sz(E));
  meas_prob_.resize(sz(M));
  prob_track_ids_.resize(sz(T));
}

void PointTracker::reset() {
  tracks_.clear();
  next_id_ = 1;
  has_time_ = false;
  last_t_ = 0;
  prob_tracks_ = 0;
  stats_ = PointTrackerStats{};
}

Index PointTracker::step(const double* z, Index n, TimeNs t_ns, PointTrackOutput* out) {
  // Validate everything before changing anything.
  if (n < 0 || n > config_.max_measurements)
    throw ShapeError("PointTracker.step: got " + std::to_string(n) +
                     " measurements, but max_measurements is " +
                     std::to_string(config_.max_measurements));
  for (Index i = 0; i < n; ++i)
    if (!std::isfinite(z[2 * i]) || !std::isfinite(z[2 * i + 1]))
      throw NumericalError("PointTracker.step: measurement " + std::to_string(i) +
                           " is not finite (x=" + std::to_string(z[2 * i]) +
                           ", y=" + std::to_string(z[2 * i + 1]) + ")");
  if (has_time_ && t_ns < last_t_)
    throw std::invalid_argument("PointTracker.step: timestamp t_ns=" + std::to_string(t_ns) +
                                " is earlier than the previous step's t_ns=" +
                                std::to_string(last_t_));
  const double dt = has_time_ ? ns_to_s(t_ns - last_t_) : 0.0;
  has_time_ = true;
  last_t_ = t_ns;
  stats_ = PointTrackerStats{};

  // 1. predict, and the innovation covariance S = P_pos + R of every track
  if (dt > 0.0) {
    const ConstantVelocity<2> model{config_.sigma_a};
    const Vec<4> dummy = Vec<4>::Zero();
    const Mat<4, 4> F = model.jacobian(dummy, dt), Q = model.Q(dummy, dt);
    for (Track& t : tracks_) kalman_predict<4>(t.x, t.P, F, Q);
  }
  for (Track& t : tracks_) {
    const double s00 = t.P(0, 0) + R_(0, 0), s01 = t.P(0, 1), s11 = t.P(1, 1) + R_(1, 1);
    const double det = s00 * s11 - s01 * s01;
    if (!(det > 0.0) || !std::isfinite(det))
      throw NumericalError("PointTracker.step: innovation covariance of track " +
                           std::to_string(t.id) + " is not positive definite");
    t.si00 = s11 / det;
    t.si01 = -s01 / det;
    t.si11 = s00 / det;
    t.log_det_s = std::log(det);
    t.hw_x = std::sqrt(config_.gate_chi2 * s00);
    t.hw_y = std::sqrt(config_.gate_chi2 * s11);
  }

  // 2. gate, 3-4. associate and update
  gate(z, n);
  const Index T = num_tracks();
  for (Index j = 0; j < n; ++j) meas_taken_[j] = 0;
  if (config_.association == PointAssociation::kGnn)
    associate_gnn(z, n);
  else
    associate_jpda(z, n);

  // 5. track management (stable compaction keeps the id order)
  const std::int32_t M = config_.confirm_m, N = config_.confirm_n;
  Index kept = 0;
  for (Index i = 0; i < T; ++i) {
    Track& t = tracks_[static_cast<std::size_t>(i)];
    ++t.age;
    if (hit_[i]) {
      ++t.hits;
      t.misses = 0;
    } else {
      ++t.misses;
    }
    if (!t.confirmed && t.hits >= M) t.confirmed = true;
    // A tentative track that cannot reach M hits within its first N steps is dropped.
    const bool hopeless = !t.confirmed && t.hits + (N - (t.age + 1)) < M;
    if (t.misses >= config_.max_misses || hopeless) {
      ++stats_.deaths;
      continue;
    }
    if (kept != i) tracks_[static_cast<std::size_t>(kept)] = t;
    ++kept;
  }
  tracks_.resize(static_cast<std::size_t>(kept));

  // 6. births from the measurements no track explains
  const double v2 = config_.init_speed_sigma * config_.init_speed_sigma;
  for (Index j = 0; j < n; ++j) {
    if (meas_taken_[j]) continue;
    if (num_tracks() >= config_.max_tracks) {
      ++stats_.births_skipped;
      continue;
    }
    Track t{};
    t.x << z[2 * j], z[2 * j + 1], 0.0, 0.0;
    t.P.setZero();
    t.P(0, 0) = t.P(1, 1) = R_(0, 0);
    t.P(2, 2) = t.P(3, 3) = v2;
    t.id = next_id_++;
    t.hits = 1;
    t.measurement = static_cast<std::int32_t>(j);
    t.confirmed = config_.confirm_m <= 1;
    tracks_.push_back(t);  // capacity reserved: no allocation
    ++stats_.births;
  }
  write_output(out);
  return num_tracks();
}

void PointTracker::gate(const double* z, Index n) {
  const Index T = num_tracks();
  edges_.clear();
  edge_ptr_[0] = 0;
  if (n == 0 || T == 0) {
    for (Index t = 0; t < T; ++t) edge_ptr_[t + 1] = 0;
    stats_.gated_pairs = 0;
    return;
  }
  double minx = z[0], maxx = z[0], miny = z[1], maxy = z[1];
  for (Index j = 1; j < n; ++j) {
    minx = std::min(minx, z[2 * j]);
    maxx = std::max(maxx, z[2 * j]);
    miny = std::min(miny, z[2 * j + 1]);
    maxy = std::max(maxy, z[2 * j + 1]);
  }
  // Cell size: the median gate half-width, so a typical gate spans about 3 x 3 cells; made
  // coarser when the grid would need more cells than reserved.
  for (Index t = 0; t < T; ++t) {
    const Track& tr = tracks_[static_cast<std::size_t>(t)];
    scratch_[t] = std::max(tr.hw_x, tr.hw_y);
  }
  std::nth_element(scratch_.begin(), scratch_.begin() + T / 2, scratch_.begin() + T);
  double h = std::max(scratch_[T / 2], 1e-9 * (1.0 + (maxx - minx) + (maxy - miny)));
  const double cap = static_cast<double>(cell_start_.size() - 1);
  double fx = std::floor((maxx - minx) / h) + 1.0, fy = std::floor((maxy - miny) / h) + 1.0;
  while (fx * fy > cap) {
    h *= 1.5;
    fx = std::floor((maxx - minx) / h) + 1.0;
    fy = std::floor((maxy - miny) / h) + 1.0;
  }
  const Index gx = static_cast<Index>(fx), gy = static_cast<Index>(fy), cells = gx * gy;
  // Counting sort of the measurements by cell (stable: index order inside a cell).
  std::fill(cell_start_.begin(), cell_start_.begin() + cells + 1, 0);
  for (Index j = 0; j < n; ++j) {
    const Index cx = std::min(gx - 1, static_cast<Index>((z[2 * j] - minx) / h));
    const Index cy = std::min(gy - 1, static_cast<Index>((z[2 * j + 1] - miny) / h));
    meas_cell_[j] = cx + gx * cy;
    ++cell_start_[meas_cell_[j] + 1];
  }
  for (Index c = 0; c < cells; ++c) cell_start_[c + 1] += cell_start_[c];
  for (Index j = 0; j < n; ++j) cell_items_[cell_start_[meas_cell_[j]]++] = j;
  for (Index c = cells; c > 0; --c) cell_start_[c] = cell_start_[c - 1];
  cell_start_[0] = 0;

  const double gate_d2 = config_.gate_chi2;
  const double norm = log_pd_over_lambda_ - kLog2Pi;  // log(Pd / lambda) - log(2 pi)
  for (Index t = 0; t < T; ++t) {
    const Track& tr = tracks_[static_cast<std::size_t>(t)];
    const double px = tr.x(0), py = tr.x(1);
    const double x0 = std::floor((px - tr.hw_x - minx) / h), x1 = std::floor((px + tr.hw_x - minx) / h);
    const double y0 = std::floor((py - tr.hw_y - miny) / h), y1 = std::floor((py + tr.hw_y - miny) / h);
    if (x1 >= 0.0 && y1 >= 0.0 && x0 < fx && y0 < fy) {
      const Index cx0 = static_cast<Index>(std::max(x0, 0.0)), cx1 = static_cast<Index>(std::min(x1, fx - 1.0));
      const Index cy0 = static_cast<Index>(std::max(y0, 0.0)), cy1 = static_cast<Index>(std::min(y1, fy - 1.0));
      const double lnorm = norm - 0.5 * tr.log_det_s;
      for (Index cy = cy0; cy <= cy1; ++cy) {
        for (Index cx = cx0; cx <= cx1; ++cx) {
          const Index c = cx + gx * cy;
          for (Index q = cell_start_[c]; q < cell_start_[c + 1]; ++q) {
            const Index j = cell_items_[q];
            const double dx = z[2 * j] - px, dy = z[2 * j + 1] - py;
            const double d2 = tr.si00 * dx * dx + 2.0 * tr.si01 * dx * dy + tr.si11 * dy * dy;
            if (d2 <= gate_d2) edges_.push_back(Edge{j, d2, lnorm - 0.5 * d2});
          }
        }
      }
    }
    edge_ptr_[t + 1] = static_cast<Index>(edges_.size());
  }
  const Index E = static_cast<Index>(edges_.size());
  stats_.gated_pairs = E;
  if (E > static_cast<Index>(edge_meas_.size())) {
    // More in-gate pairs than reserved: grow once (the only allocating path of step()).
    const Index cap_e = 2 * E;
    const auto s = static_cast<std::size_t>(cap_e);
    edge_meas_.resize(s);
    edge_cost_.resize(s);
    for (auto* v : {&loc_w_, &loc_beta_, &edge_beta_}) v->resize(s);
    loc_meas_.resize(s);
    solver_.reserve(config_.max_tracks, config_.max_measurements, cap_e);
    jpda_.reserve(config_.max_tracks, config_.max_measurements, cap_e, config_.jpda_max_states);
  }
}

void PointTracker::kalman_point_update(Track& t, const double* zj) {
  const Vec<2> y(zj[0] - t.x(0), zj[1] - t.x(1));
  Mat<2, 2> S;
  Mat<4, 2> K;
  const UpdateInfo info = kalman_update_finite<4, 2>(t.x, t.P, y, H_, R_, S, K);
  if (info.status != UpdateStatus::kOk)
    throw NumericalError(std::string("PointTracker: update of track ") + std::to_string(t.id) +
                         " failed: " + to_string(info.status));
}

void PointTracker::associate_gnn(const double* z, Index n) {
  const Index T = num_tracks(), E = edge_ptr_[T];
  for (Index e = 0; e < E; ++e) {
    edge_meas_[e] = edges_[static_cast<std::size_t>(e)].meas;
    edge_cost_[e] = edges_[static_cast<std::size_t>(e)].d2;
  }
  solver_.solve_sparse_gated(T, n, edge_ptr_.data(), edge_meas_.data(), edge_cost_.data(),
                             config_.gate_chi2, row_to_col_.data(), col_to_row_.data());
  for (Index i = 0; i < T; ++i) {
    Track& t = tracks_[static_cast<std::size_t>(i)];
    const Index j = row_to_col_[i];
    hit_[i] = j >= 0;
    t.measurement = static_cast<std::int32_t>(j);
    if (j < 0) {
      t.score += log_miss_;
      continue;
    }
    meas_taken_[j] = 1;
    for (Index e = edge_ptr_[i]; e < edge_ptr_[i + 1]; ++e)
      if (edge_meas_[e] == j) t.score += edges_[static_cast<std::size_t>(e)].log_lr;
    kalman_point_update(t, z + 2 * j);
  }
  prob_tracks_ = 0;  // association probabilities are a JPDA output
}

Index PointTracker::find(Index a) {
  while (uf_parent_[a] != a) {
    uf_parent_[a] = uf_parent_[uf_parent_[a]];  // path halving
    a = uf_parent_[a];
  }
  return a;
}

void PointTracker::associate_jpda(const double* z, Index n) {
  const Index T = num_tracks();
  // Connected components of the gated graph (tracks 0..T-1, measurements T..T+n-1).
  for (Index i = 0; i < T + n; ++i) uf_parent_[i] = i;
  for (Index t = 0; t < T; ++t) {
    for (Index e = edge_ptr_[t]; e < edge_ptr_[t + 1]; ++e) {
      const Index a = find(t), b = find(T + edges_[static_cast<std::size_t>(e)].meas);
      if (a != b) uf_parent_[std::max(a, b)] = std::min(a, b);
    }
  }
  // Clusters numbered in order of their first track; tracks in index order inside.
  for (Index i = 0; i < T + n; ++i) label_[i] = -1;
  Index nc = 0;
  for (Index t = 0; t < T; ++t) {
    const Index r = find(t);
    if (label_[r] < 0) label_[r] = nc++;
  }
  std::fill(cl_track_ptr_.begin(), cl_track_ptr_.begin() + nc + 1, 0);
  for (Index t = 0; t < T; ++t) ++cl_track_ptr_[label_[find(t)] + 1];
  for (Index c = 0; c < nc; ++c) cl_track_ptr_[c + 1] += cl_track_ptr_[c];
  std::copy(cl_track_ptr_.begin(), cl_track_ptr_.begin() + nc, cl_fill_.begin());
  for (Index t = 0; t < T; ++t) cl_tracks_[cl_fill_[label_[find(t)]]++] = t;
  for (Index j = 0; j < n; ++j) {
    meas_local_[j] = -1;
    meas_prob_[j] = 0.0;
  }

  for (Index c = 0; c < nc; ++c) {
    const Index b = cl_track_ptr_[c], K = cl_track_ptr_[c + 1] - b;
    Index m = 0, ei = 0;
    loc_ptr_[0] = 0;
    for (Index k = 0; k < K; ++k) {
      const Index t = cl_tracks_[b + k];
      // Weights relative to the track's largest one, in the log domain (no overflow).
      double mx = log_miss_;
      for (Index e = edge_ptr_[t]; e < edge_ptr_[t + 1]; ++e)
        mx = std::max(mx, edges_[static_cast<std::size_t>(e)].log_lr);
      loc_miss_[k] = std::exp(log_miss_ - mx);
      for (Index e = edge_ptr_[t]; e < edge_ptr_[t + 1]; ++e) {
        const Edge& ed = edges_[static_cast<std::size_t>(e)];
        if (meas_local_[ed.meas] < 0) meas_local_[ed.meas] = m++;
        loc_meas_[ei] = meas_local_[ed.meas];
        loc_w_[ei++] = std::exp(ed.log_lr - mx);
      }
      loc_ptr_[k + 1] = ei;
    }
    if (ei == 0) {  // a track alone with an empty gate
      for (Index k = 0; k < K; ++k) beta0_[cl_tracks_[b + k]] = 1.0;
      continue;
    }
    ++stats_.clusters;
    stats_.largest_cluster_tracks = std::max(stats_.largest_cluster_tracks, K);
    stats_.largest_cluster_measurements = std::max(stats_.largest_cluster_measurements, m);
    const JpdaMethod used = jpda_.solve(K, m, loc_ptr_.data(), loc_meas_.data(), loc_w_.data(),
                                        loc_miss_.data(), loc_beta_.data(), loc_beta0_.data(),
                                        config_.jpda_method);
    switch (used) {
      case JpdaMethod::kEnumerate: ++stats_.clusters_enumerate; break;
      case JpdaMethod::kExact: ++stats_.clusters_exact; break;
      case JpdaMethod::kLbp: ++stats_.clusters_lbp; break;
      default: ++stats_.clusters_single; break;
    }
    ei = 0;
    for (Index k = 0; k < K; ++k) {
      const Index t = cl_tracks_[b + k];
      beta0_[t] = loc_beta0_[k];
      for (Index e = edge_ptr_[t]; e < edge_ptr_[t + 1]; ++e) {
        edge_beta_[e] = loc_beta_[ei++];
        meas_prob_[edges_[static_cast<std::size_t>(e)].meas] += edge_beta_[e];
      }
    }
  }

  for (Index i = 0; i < T; ++i) {
    Track& t = tracks_[static_cast<std::size_t>(i)];
    prob_track_ids_[i] = t.id;
    const Index e0 = edge_ptr_[i], e1 = edge_ptr_[i + 1];
    // Score: log of the track's marginal likelihood ratio, (1 - Pd Pg) + sum_j L_j.
    double mx = log_miss_;
    for (Index e = e0; e < e1; ++e) mx = std::max(mx, edges_[static_cast<std::size_t>(e)].log_lr);
    double s = std::exp(log_miss_ - mx);
    for (Index e = e0; e < e1; ++e) s += std::exp(edges_[static_cast<std::size_t>(e)].log_lr - mx);
    t.score += mx + std::log(s);
    hit_[i] = beta0_[i] < 0.5;
    jpda_update(t, z, i, e0, e1);
  }
  prob_tracks_ = T;
  for (Index j = 0; j < n; ++j) meas_taken_[j] = meas_prob_[j] >= config_.birth_threshold;
}

void PointTracker::jpda_update(Track& t, const double* z, Index i, Index e0, Index e1) {
  t.measurement = -1;
  if (e0 == e1) return;  // nothing in the gate: the prediction stands
  const double b0 = beta0_[i];
  Vec<2> nu = Vec<2>::Zero();
  double best = -1.0;
  for (Index e = e0; e < e1; ++e) {
    const Index j = edges_[static_cast<std::size_t>(e)].meas;
    nu(0) += edge_beta_[e] * (z[2 * j] - t.x(0));
    nu(1) += edge_beta_[e] * (z[2 * j + 1] - t.x(1));
    if (b0 < 0.5 && edge_beta_[e] > best) {
      best = edge_beta_[e];
      t.measurement = static_cast<std::int32_t>(j);
    }
  }
  // Spread of innovations sum_j beta_j y_j y_j^T - nu nu^T, written as
  // sum_j beta_j (y_j - nu)(y_j - nu)^T + beta_0 nu nu^T: a sum of PSD terms, no cancellation.
  Mat<2, 2> spread = b0 * nu * nu.transpose();
  for (Index e = e0; e < e1; ++e) {
    const Index j = edges_[static_cast<std::size_t>(e)].meas;
    const Vec<2> d(z[2 * j] - t.x(0) - nu(0), z[2 * j + 1] - t.x(1) - nu(1));
    spread.noalias() += edge_beta_[e] * d * d.transpose();
  }
  const Mat<4, 4> P_prior = t.P;
  Mat<2, 2> S;
  Mat<4, 2> K;
  const UpdateInfo info = kalman_update_finite<4, 2>(t.x, t.P, nu, H_, R_, S, K);
  if (info.status != UpdateStatus::kOk)
    throw NumericalError(std::string("PointTracker: update of track ") + std::to_string(t.id) +
                         " failed: " + to_string(info.status));
  // t.P now holds the Joseph-form P_c.
  const Mat<4, 2> KS = K * spread;
  t.P = b0 * P_prior + (1.0 - b0) * t.P;
  t.P.noalias() += KS * K.transpose();
  symmetrize(t.P);
}

Index PointTracker::association_probabilities(AssociationProbability* out, Index capacity) const {
  Index w = 0;
  for (Index i = 0; i < prob_tracks_; ++i) {
    if (w < capacity) out[w] = AssociationProbability{prob_track_ids_[i], -1, beta0_[i]};
    ++w;
    for (Index e = edge_ptr_[i]; e < edge_ptr_[i + 1]; ++e, ++w)
      if (w < capacity)
        out[w] = AssociationProbability{prob_track_ids_[i], edges_[static_cast<std::size_t>(e)].meas,
                                        edge_beta_[e]};
  }
  return w;
}

void PointTracker::write_output(PointTrackOutput* out) const {
  for (std::size_t i = 0; i < tracks_.size(); ++i) {
    const Track& t = tracks_[i];
    PointTrackOutput& o = out[i];
    o.track_id = t.id;
    o.status = static_cast<std::int32_t>(
        !t.confirmed ? PointTrackStatus::kTentative
                     : (t.misses > 0 ? PointTrackStatus::kCoasting : PointTrackStatus::kConfirmed));
    o.hits = t.hits;
    o.age = t.age;
    o.misses = t.misses;
    o.measurement = t.measurement;
    o.pad_ = 0;
    for (int r = 0; r < 4; ++r) {
      o.x[r] = t.x(r);
      for (int c = 0; c < 4; ++c) o.P[4 * r + c] = t.P(r, c);
    }
    o.score = t.score;
  }
}

}  // namespace fusion::tracking
