// TrackFuser (fusion/t2t/track_fuser.hpp): track-to-track fusion with covariance intersection.
//
// Beyond the header's list of bad input: a source track whose state or covariance is not
// finite once moved into the fusion frame and predicted to the fusion time (1e308 m/s over
// 10 s, a pose at 1e308 m) is a NumericalError naming the source and the id, before anything
// changes; max_source_tracks x max_fused_tracks is bounded (kMaxCostCells); time differences
// of any two int64 times are computed without overflow (a list 2^63 ns late is dropped, not
// wrapped to "on time").
#include "fusion/t2t/track_fuser.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/track/record.hpp"  // elapsed_ns: int64 time differences without overflow

namespace fusion::t2t {

namespace {

bool finite_number(double v) { return std::isfinite(v); }

[[noreturn]] void config_error(const std::string& field, const std::string& msg) {
  throw ConfigurationError("TrackFuser config: " + field + ": " + msg);
}

// Most cells of the per-update cost matrix (max_source_tracks x max_fused_tracks, sized up front
// by the constructor; fusion.t2t.config's _MAX_COST_CELLS is the same bound).
constexpr Index kMaxCostCells = Index{1} << 24;

// (t - t0) [s] for any two int64 times: the plain difference overflows (UB) when they are more
// than 2^63 ns apart, and wrapped a list 2^63 ns late to "on time" (fused instead of dropped).
double seconds_between(TimeNs t, TimeNs t0) {
  return t >= t0 ? ns_to_s(track::elapsed_ns(t, t0)) : -ns_to_s(track::elapsed_ns(t0, t));
}

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

void FuserConfig::validate() const {
  if (sources.empty() || sources.size() > 64) config_error("sources", "expected 1 to 64 sources, got " +
                                                                          std::to_string(sources.size()));
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const SourceConfig& s = sources[i];
    const std::string w = "sources[" + std::to_string(i) + "]";
    if (s.name.empty()) config_error(w + ".name", "expected a non-empty name");
    for (std::size_t j = 0; j < i; ++j)
      if (sources[j].name == s.name) config_error(w + ".name", "'" + s.name + "' is used twice");
    if (!(finite_number(s.latency_s) && s.latency_s >= 0.0 && s.latency_s < 60.0))
      config_error(w + ".latency_s", "expected seconds in [0, 60), got " + num(s.latency_s));
    if (!(finite_number(s.pose.x) && finite_number(s.pose.y) && finite_number(s.pose.yaw)))
      config_error(w + ".pose", "expected finite x, y, yaw");
  }
  if (max_fused_tracks < 1 || max_fused_tracks > 1000000)
    config_error("max_fused_tracks", "expected 1 to 1e6, got " + std::to_string(max_fused_tracks));
  if (max_source_tracks < 1 || max_source_tracks > 1000000)
    config_error("max_source_tracks", "expected 1 to 1e6, got " + std::to_string(max_source_tracks));
  // the cost matrix and the assignment solver are sized max_source_tracks x max_fused_tracks
  // up front: 1e6 x 1e6 asked for 8 TB (std::bad_alloc)
  if (max_source_tracks * max_fused_tracks > kMaxCostCells)
    config_error("max_source_tracks", "max_source_tracks x max_fused_tracks = " +
                                          std::to_string(max_source_tracks * max_fused_tracks) + " exceeds " +
                                          std::to_string(kMaxCostCells) + " (the cost matrix sized up front)");
  // Upper bounds keep the arithmetic finite: the prediction squares accel_std (1e200 gave an
  // infinite covariance), and times become int64 nanoseconds (fusion.t2t.config has the same).
  if (!(finite_number(accel_std) && accel_std >= 0.0 && accel_std <= 1e4))
    config_error("accel_std", "expected a finite number in [0, 1e4] [m/s^2], got " + num(accel_std));
  if (!(finite_number(gate) && gate > 0.0 && gate <= 1e12))
    config_error("gate", "expected a finite number in (0, 1e12], got " + num(gate));
  if (confirm_updates < 1) config_error("confirm_updates", "expected >= 1, got " + std::to_string(confirm_updates));
  if (!(finite_number(delete_after_s) && delete_after_s > 0.0 && delete_after_s <= 1e12))
    config_error("delete_after_s", "expected a finite number of seconds in (0, 1e12], got " + num(delete_after_s));
  if (!(finite_number(max_delay_s) && max_delay_s >= 0.0 && max_delay_s <= 1e12))
    config_error("max_delay_s", "expected a finite number of seconds in [0, 1e12], got " + num(max_delay_s));
  if (merge_after < 0 || merge_after > 1000000)
    config_error("merge_after", "expected an integer in [0, 1000000] (0: never merge), got " + std::to_string(merge_after));
}

TrackFuser::TrackFuser(FuserConfig cfg) : cfg_(std::move(cfg)) {
  cfg_.validate();
  const auto F = static_cast<std::size_t>(cfg_.max_fused_tracks);
  const auto N = static_cast<std::size_t>(cfg_.max_source_tracks);
  const auto S = cfg_.sources.size();
  tracks_.resize(F);
  slots_.resize(F * S);
  xs_.resize(N);
  Ps_.resize(N);
  sorted_ids_.resize(N);
  src_to_fused_.resize(N);
  claimed_.resize(F);
  touched_.resize(F);
  vanished_.resize(F);
  free_rows_.resize(N);
  free_cols_.resize(F);
  cost_.resize(N * F);
  row_to_col_.resize(N);
  col_to_row_.resize(F);
  solver_.reserve(cfg_.max_source_tracks, cfg_.max_fused_tracks, cfg_.max_source_tracks * cfg_.max_fused_tracks);
  // (at least 2: a merge of two fused tracks without source estimates fuses their two states)
  const std::size_t nci = std::max<std::size_t>(S, 2);
  ci_.reserve(static_cast<Index>(nci), kDim);
  ci_x_.resize(nci);
  ci_P_.resize(nci);
  ci_w_.resize(nci);
  masks_.resize(F);
  undo_tracks_.resize(F);
  undo_slots_.resize(F * S);
}

void TrackFuser::reset() {
  for (auto& t : tracks_) t.alive = false;
  for (auto& s : slots_) s.valid = false;
  stats_ = FuserStats{};
  has_time_ = false;
  time_ns_ = 0;
  next_id_ = 1;
  next_birth_ = 0;
}

void TrackFuser::predict(State& x, Cov& P, double dt) const {
  if (dt == 0.0) return;
  const double a = std::abs(dt);
  const double q = cfg_.accel_std * cfg_.accel_std;
  // x' = F x, F = [I dt I; 0 I]
  x(0) += dt * x(2);
  x(1) += dt * x(3);
  Cov Fm = Cov::Identity();
  Fm(0, 2) = dt;
  Fm(1, 3) = dt;
  Cov Pn = Fm * P * Fm.transpose();
  const double q11 = 0.25 * a * a * a * a * q, q12 = 0.5 * a * a * a * q * (dt < 0 ? -1.0 : 1.0), q22 = a * a * q;
  Pn(0, 0) += q11;
  Pn(1, 1) += q11;
  Pn(0, 2) += q12;
  Pn(2, 0) += q12;
  Pn(1, 3) += q12;
  Pn(3, 1) += q12;
  Pn(2, 2) += q22;
  Pn(3, 3) += q22;
  symmetrize(Pn);
  P = Pn;
}

double TrackFuser::distance2(const State& xa, const Cov& Pa, const State& xb, const Cov& Pb) const {
  const Cov S = Pa + Pb;
  SmallCholesky<kDim> ch;
  if (!ch.compute(S)) return std::numeric_limits<double>::infinity();
  const State e = xa - xb;
  return ch.inv_quad(e);
}

void TrackFuser::validate_list(Index source, TimeNs t_ns, const SourceTrack* tracks, Index n, const Pose2D* pose) {
  if (source < 0 || source >= num_sources())
    throw ConfigurationError("TrackFuser.update: source index " + std::to_string(source) + " out of range [0, " +
                             std::to_string(num_sources()) + ")");
  const std::string& name = cfg_.sources[static_cast<std::size_t>(source)].name;
  if (n < 0 || n > cfg_.max_source_tracks)
    throw ShapeError("TrackFuser.update: source '" + name + "': " + std::to_string(n) +
                     " tracks in one list, more than max_source_tracks = " + std::to_string(cfg_.max_source_tracks));
  if (n > 0 && tracks == nullptr) throw ShapeError("TrackFuser.update: no track data");
  if (pose != nullptr && !(finite_number(pose->x) && finite_number(pose->y) && finite_number(pose->yaw)))
    throw NumericalError("TrackFuser.update: source '" + name + "': pose is not finite");
  const TimeNs lat = static_cast<TimeNs>(std::llround(cfg_.sources[static_cast<std::size_t>(source)].latency_s * 1e9));
  if (t_ns > std::numeric_limits<TimeNs>::max() - lat)
    throw NumericalError("TrackFuser.update: source '" + name + "': t_ns + latency overflows int64");
  for (Index i = 0; i < n; ++i) {
    const SourceTrack& t = tracks[i];
    // (the message is built only on failure: the check allocates nothing)
    auto where = [&] { return "TrackFuser.update: source '" + name + "' track id " + std::to_string(t.id) + ": "; };
    const Eigen::Map<const State> x(t.x);
    const Eigen::Map<const Cov> P(t.P);
    if (!all_finite(x)) throw NumericalError(where() + "state is not finite");
    if (!all_finite(P)) throw NumericalError(where() + "covariance is not finite");
    if (!is_spd(P)) throw NumericalError(where() + "covariance is not symmetric positive definite");
    sorted_ids_[static_cast<std::size_t>(i)] = {t.id, i};
  }
  std::sort(sorted_ids_.begin(), sorted_ids_.begin() + n);
  for (Index i = 1; i < n; ++i)
    if (sorted_ids_[static_cast<std::size_t>(i)].first == sorted_ids_[static_cast<std::size_t>(i - 1)].first)
      throw TrackListError("TrackFuser.update: source '" + name + "': track id " +
                           std::to_string(sorted_ids_[static_cast<std::size_t>(i)].first) +
                           " appears more than once in one list");
  (void)t_ns;
}

Index TrackFuser::find_in_list(std::int64_t id) const {
  // sorted_ids_[0..n) of the current list; n is tracked by the caller through list_n_
  const auto b = sorted_ids_.begin();
  const auto e = sorted_ids_.begin() + list_n_;
  const auto it = std::lower_bound(b, e, std::pair<std::int64_t, Index>{id, std::numeric_limits<Index>::min()});
  if (it == e || it->first != id) return -1;
  return it->second;
}

Index TrackFuser::free_track() const {
  for (Index f = 0; f < cfg_.max_fused_tracks; ++f)
    if (!tracks_[static_cast<std::size_t>(f)].alive) return f;
  return -1;
}

void TrackFuser::fuse_track(Index f) {
  Track& tr = tracks_[static_cast<std::size_t>(f)];
  Index m = 0;
  for (Index s = 0; s < num_sources(); ++s) {
    const Slot& sl = slot(f, s);
    if (!sl.valid) continue;
    auto& x = ci_x_[static_cast<std::size_t>(m)];
    auto& P = ci_P_[static_cast<std::size_t>(m)];
    x = sl.x;
    P = sl.P;
    predict(x, P, seconds_between(time_ns_, sl.t_ns));
    ++m;
  }
  if (m == 0) return;
  if (m == 1) {
    tr.x = ci_x_[0];
    tr.P = ci_P_[0];
  } else {
    ci_.fuse(ci_x_, ci_P_, m, cfg_.criterion, ci_w_.data(), tr.x, tr.P);
  }
  tr.t_ns = time_ns_;
}

bool TrackFuser::update(Index source, TimeNs t_ns, const SourceTrack* tracks, Index n, const Pose2D* pose) {
  validate_list(source, t_ns, tracks, n, pose);
  // A failure past the checks (a covariance intersection whose factorisation fails) restores
  // the state from this copy: a failed call changes nothing.
  std::copy(tracks_.begin(), tracks_.end(), undo_tracks_.begin());
  std::copy(slots_.begin(), slots_.end(), undo_slots_.begin());
  const FuserStats stats = stats_;
  const bool has_time = has_time_;
  const TimeNs time_ns = time_ns_;
  const std::int64_t next_id = next_id_;
  const std::uint64_t next_birth = next_birth_;
  try {
    return update_unchecked(source, t_ns, tracks, n, pose);
  } catch (...) {
    std::copy(undo_tracks_.begin(), undo_tracks_.end(), tracks_.begin());
    std::copy(undo_slots_.begin(), undo_slots_.end(), slots_.begin());
    stats_ = stats;
    has_time_ = has_time;
    time_ns_ = time_ns;
    next_id_ = next_id;
    next_birth_ = next_birth;
    throw;
  }
}

bool TrackFuser::update_unchecked(Index source, TimeNs t_ns, const SourceTrack* tracks, Index n,
                                  const Pose2D* pose) {
  list_n_ = n;
  const SourceConfig& sc = cfg_.sources[static_cast<std::size_t>(source)];
  const TimeNs lat = static_cast<TimeNs>(std::llround(sc.latency_s * 1e9));
  TimeNs T = t_ns + lat;
  bool late = false;
  if (has_time_ && T < time_ns_) {
    if (seconds_between(time_ns_, T) > cfg_.max_delay_s) {
      ++stats_.dropped_lists;
      return false;
    }
    late = true;
    T = time_ns_;
  }
  // source tracks into the fusion frame, predicted to T; checked before anything changes
  const Pose2D& ps = pose != nullptr ? *pose : sc.pose;
  const double c = std::cos(ps.yaw), s = std::sin(ps.yaw);
  Cov B = Cov::Zero();
  B(0, 0) = c; B(0, 1) = -s; B(1, 0) = s; B(1, 1) = c;
  B(2, 2) = c; B(2, 3) = -s; B(3, 2) = s; B(3, 3) = c;
  for (Index i = 0; i < n; ++i) {
    const SourceTrack& t = tracks[i];
    const Eigen::Map<const State> x(t.x);
    const Eigen::Map<const Cov> P(t.P);
    State& xf = xs_[static_cast<std::size_t>(i)];
    Cov& Pf = Ps_[static_cast<std::size_t>(i)];
    xf.noalias() = B * x;
    xf(0) += ps.x;
    xf(1) += ps.y;
    Pf.noalias() = B * P * B.transpose();
    symmetrize(Pf);
    predict(xf, Pf, seconds_between(T, t.t_ns));
    if (!all_finite(xf) || !all_finite(Pf))  // e.g. 1e308 m/s over 10 s, a pose at 1e308 m
      throw NumericalError("TrackFuser.update: source '" + sc.name + "' track id " + std::to_string(t.id) +
                           ": state or covariance is not finite in the fusion frame at the fusion time "
                           "(transformed by the pose and predicted by " + num(seconds_between(T, t.t_ns)) + " s)");
    src_to_fused_[static_cast<std::size_t>(i)] = -1;
  }
  // fused tracks to the fusion time
  for (auto& tr : tracks_)
    if (tr.alive && tr.t_ns != T) {
      predict(tr.x, tr.P, seconds_between(T, tr.t_ns));
      tr.t_ns = T;
    }
  time_ns_ = T;
  has_time_ = true;

  const Index F = cfg_.max_fused_tracks;
  std::fill(claimed_.begin(), claimed_.end(), 0);
  std::fill(touched_.begin(), touched_.end(), 0);
  std::fill(vanished_.begin(), vanished_.end(), 0);

  // 1. links that stay consistent
  for (Index f = 0; f < F; ++f) {
    Track& tr = tracks_[static_cast<std::size_t>(f)];
    if (!tr.alive) continue;
    Slot& sl = slot(f, source);
    if (!sl.valid) continue;
    const Index i = find_in_list(sl.id);
    if (i < 0) {
      sl.valid = false;
      vanished_[static_cast<std::size_t>(f)] = 1;
      continue;
    }
    if (src_to_fused_[static_cast<std::size_t>(i)] >= 0) {  // (cannot happen: one link per id)
      sl.valid = false;
      vanished_[static_cast<std::size_t>(f)] = 1;
      continue;
    }
    // consistent with its own previous estimate (a jump means the id now names another
    // object); not with the fused track, which other sources may have pulled aside
    State xp = sl.x;
    Cov Pp = sl.P;
    predict(xp, Pp, seconds_between(T, sl.t_ns));
    double d2 = distance2(xs_[static_cast<std::size_t>(i)], Ps_[static_cast<std::size_t>(i)], xp, Pp);
    // a source that may not start tracks must also stay consistent with the fused track
    // (the births sources anchor it): a wrong link of an auxiliary source breaks
    if (!sc.births && d2 <= cfg_.gate)
      d2 = distance2(xs_[static_cast<std::size_t>(i)], Ps_[static_cast<std::size_t>(i)], tr.x, tr.P);
    if (d2 <= cfg_.gate) {
      src_to_fused_[static_cast<std::size_t>(i)] = f;
      claimed_[static_cast<std::size_t>(f)] = 1;
    } else {
      sl.valid = false;
      vanished_[static_cast<std::size_t>(f)] = 1;  // its link is lost: a new id taking it over is an id change
      ++stats_.gate_breaks;
    }
  }
  // 2. gated assignment of the rest to fused tracks this source does not feed now
  Index nr = 0, nc = 0;
  for (Index i = 0; i < n; ++i)
    if (src_to_fused_[static_cast<std::size_t>(i)] < 0) free_rows_[static_cast<std::size_t>(nr++)] = i;
  for (Index f = 0; f < F; ++f)
    if (tracks_[static_cast<std::size_t>(f)].alive && !claimed_[static_cast<std::size_t>(f)])
      free_cols_[static_cast<std::size_t>(nc++)] = f;
  if (nr > 0 && nc > 0) {
    for (Index r = 0; r < nr; ++r) {
      const Index i = free_rows_[static_cast<std::size_t>(r)];
      for (Index k = 0; k < nc; ++k) {
        const Track& tr = tracks_[static_cast<std::size_t>(free_cols_[static_cast<std::size_t>(k)])];
        const double d2 = distance2(xs_[static_cast<std::size_t>(i)], Ps_[static_cast<std::size_t>(i)], tr.x, tr.P);
        cost_[static_cast<std::size_t>(r * nc + k)] = d2 <= cfg_.gate ? d2 : std::numeric_limits<double>::infinity();
      }
    }
    solver_.solve_dense_gated(cost_.data(), nr, nc, cfg_.gate, row_to_col_.data(), col_to_row_.data());
    for (Index r = 0; r < nr; ++r) {
      const Index k = row_to_col_[static_cast<std::size_t>(r)];
      if (k == assoc::kUnassigned) continue;
      const Index f = free_cols_[static_cast<std::size_t>(k)];
      src_to_fused_[static_cast<std::size_t>(free_rows_[static_cast<std::size_t>(r)])] = f;
      if (vanished_[static_cast<std::size_t>(f)]) ++stats_.id_changes;
    }
  }
  // 3. births; then the source's estimates into the slots
  for (Index i = 0; i < n; ++i) {
    Index f = src_to_fused_[static_cast<std::size_t>(i)];
    if (f < 0) {
      if (!sc.births) continue;  // this source only feeds existing fused tracks
      f = free_track();
      if (f < 0) continue;  // no room: this source track is not fused (fused tracks full)
      Track& tr = tracks_[static_cast<std::size_t>(f)];
      tr = Track{};
      tr.alive = true;
      tr.id = next_id_++;
      tr.birth_order = next_birth_++;
      tr.t_ns = T;
      tr.x = xs_[static_cast<std::size_t>(i)];
      tr.P = Ps_[static_cast<std::size_t>(i)];
      for (Index q = 0; q < num_sources(); ++q) slot(f, q).valid = false;
      ++stats_.births;
      src_to_fused_[static_cast<std::size_t>(i)] = f;
    }
    Slot& sl = slot(f, source);
    sl.valid = true;
    sl.id = tracks[i].id;
    sl.t_ns = T;
    sl.x = xs_[static_cast<std::size_t>(i)];
    sl.P = Ps_[static_cast<std::size_t>(i)];
    touched_[static_cast<std::size_t>(f)] = 1;
  }
  // 4. fuse what this list touched; expire stale estimates and tracks
  const TimeNs keep_ns = static_cast<TimeNs>(std::llround(cfg_.delete_after_s * 1e9));
  for (Index f = 0; f < F; ++f) {
    Track& tr = tracks_[static_cast<std::size_t>(f)];
    if (!tr.alive) continue;
    bool any_source = false, any_anchor = false;  // anchor: a source that may start tracks
    for (Index q = 0; q < num_sources(); ++q) {
      Slot& sl = slot(f, q);
      if (sl.valid && track::elapsed_ns(T, sl.t_ns) > keep_ns) sl.valid = false;
      any_source = any_source || sl.valid;
      any_anchor = any_anchor || (sl.valid && cfg_.sources[static_cast<std::size_t>(q)].births);
    }
    if (!any_anchor && tr.updates > 0 && (any_source || vanished_[static_cast<std::size_t>(f)])) {
      // only sources without births still report it: they refine tracks, they do not keep
      // one alive on their own
      tr.alive = false;
      for (Index q = 0; q < num_sources(); ++q) slot(f, q).valid = false;
      ++stats_.deletions;
      continue;
    }
    if (touched_[static_cast<std::size_t>(f)]) {
      ++tr.updates;
      tr.last_update_ns = T;
      if (tr.updates >= cfg_.confirm_updates) tr.confirmed = true;
      fuse_track(f);
    } else if ((!any_source && vanished_[static_cast<std::size_t>(f)]) || track::elapsed_ns(T, tr.last_update_ns) > keep_ns) {
      // the last source that reported it dropped it from its (complete) list, or every
      // source fell silent for delete_after_s
      tr.alive = false;
      for (Index q = 0; q < num_sources(); ++q) slot(f, q).valid = false;
      ++stats_.deletions;
    }
  }
  merge_tracks();
  ++stats_.updates;
  if (late) ++stats_.late_lists;
  stats_.source_tracks += n;
  return true;
}

std::uint64_t TrackFuser::source_mask(Index f) const {
  std::uint64_t mask = 0;
  for (Index q = 0; q < num_sources(); ++q)
    if (slot(f, q).valid) mask |= (std::uint64_t{1} << q);
  return mask;
}

void TrackFuser::merge_tracks() {
  if (cfg_.merge_after <= 0) return;
  const Index F = cfg_.max_fused_tracks;
  for (Index f = 0; f < F; ++f)
    masks_[static_cast<std::size_t>(f)] = tracks_[static_cast<std::size_t>(f)].alive ? source_mask(f) : 0;
  // 1. each fused track this update touched: its best partner (every alive track is at the
  // fusion time here), and how many of its updates in a row found that same partner
  for (Index a = 0; a < F; ++a) {
    Track& ta = tracks_[static_cast<std::size_t>(a)];
    if (!ta.alive || !touched_[static_cast<std::size_t>(a)]) continue;
    const std::uint64_t ma = masks_[static_cast<std::size_t>(a)];
    Index best = -1;
    double best_d2 = std::numeric_limits<double>::infinity();
    for (Index b = 0; b < F; ++b) {
      const Track& tb = tracks_[static_cast<std::size_t>(b)];
      if (b == a || !tb.alive || (masks_[static_cast<std::size_t>(b)] & ma) != 0) continue;
      // a lower bound first: d2 >= |e|^2 / lambda_max(P_a + P_b) >= |e|^2 / trace(P_a + P_b)
      const double e2 = (ta.x - tb.x).squaredNorm();
      if (e2 > cfg_.gate * (ta.P.trace() + tb.P.trace())) continue;
      const double d2 = distance2(ta.x, ta.P, tb.x, tb.P);
      if (d2 <= cfg_.gate && d2 < best_d2) {
        best = b;
        best_d2 = d2;
      }
    }
    if (best < 0) {
      ta.merge_partner = 0;
      ta.merge_count = 0;
    } else if (tracks_[static_cast<std::size_t>(best)].id == ta.merge_partner) {
      ++ta.merge_count;
    } else {
      ta.merge_partner = tracks_[static_cast<std::size_t>(best)].id;
      ta.merge_count = 1;
    }
  }
  // 2. merge the pairs that agreed long enough (re-checking the masks: an earlier merge in
  // this pass may have given the partner new sources)
  for (Index a = 0; a < F; ++a) {
    Track& ta = tracks_[static_cast<std::size_t>(a)];
    if (!ta.alive || ta.merge_partner == 0 || ta.merge_count < cfg_.merge_after) continue;
    Index b = -1;
    for (Index k = 0; k < F; ++k)
      if (tracks_[static_cast<std::size_t>(k)].alive && tracks_[static_cast<std::size_t>(k)].id == ta.merge_partner) {
        b = k;
        break;
      }
    if (b < 0 || (masks_[static_cast<std::size_t>(a)] & masks_[static_cast<std::size_t>(b)]) != 0) {
      ta.merge_partner = 0;
      ta.merge_count = 0;
      continue;
    }
    const bool a_older = ta.birth_order < tracks_[static_cast<std::size_t>(b)].birth_order;
    merge_into(a_older ? a : b, a_older ? b : a);
  }
}

void TrackFuser::merge_into(Index keep, Index gone) {
  Track& k = tracks_[static_cast<std::size_t>(keep)];
  Track& g = tracks_[static_cast<std::size_t>(gone)];
  bool any = false;
  for (Index q = 0; q < num_sources(); ++q) {
    Slot& sg = slot(gone, q);
    Slot& sk = slot(keep, q);
    if (sg.valid && !sk.valid) sk = sg;  // (the masks are disjoint: sk is empty when sg is valid)
    sg.valid = false;
    any = any || sk.valid;
  }
  if (any) {
    fuse_track(keep);  // covariance intersection of both tracks' source estimates
  } else {             // neither has a source estimate left: the two fused states
    ci_x_[0] = k.x;
    ci_P_[0] = k.P;
    ci_x_[1] = g.x;
    ci_P_[1] = g.P;
    ci_.fuse(ci_x_, ci_P_, 2, cfg_.criterion, ci_w_.data(), k.x, k.P);
  }
  k.updates = std::max(k.updates, g.updates);
  k.confirmed = k.confirmed || g.confirmed;
  k.last_update_ns = std::max(k.last_update_ns, g.last_update_ns);
  k.merge_partner = 0;
  k.merge_count = 0;
  g = Track{};  // retired: its id is never given again (next_id_ only grows)
  masks_[static_cast<std::size_t>(keep)] |= masks_[static_cast<std::size_t>(gone)];
  masks_[static_cast<std::size_t>(gone)] = 0;
  ++stats_.merges;
}

Index TrackFuser::num_tracks(bool confirmed_only) const {
  Index k = 0;
  for (const auto& tr : tracks_) k += (tr.alive && (!confirmed_only || tr.confirmed)) ? 1 : 0;
  return k;
}

Index TrackFuser::tracks(FusedTrack* out, Index max_out, bool confirmed_only, bool at_time, TimeNs t_ns) const {
  Index k = 0;
  for (Index f = 0; f < cfg_.max_fused_tracks && k < max_out; ++f) {
    const Track& tr = tracks_[static_cast<std::size_t>(f)];
    if (!tr.alive || (confirmed_only && !tr.confirmed)) continue;
    FusedTrack& o = out[k++];
    State x = tr.x;
    Cov P = tr.P;
    TimeNs t = tr.t_ns;
    if (at_time && t_ns != t) {
      predict(x, P, seconds_between(t_ns, t));
      t = t_ns;
    }
    o.id = tr.id;
    o.t_ns = t;
    Eigen::Map<State>(o.x) = x;
    Eigen::Map<Cov>(o.P) = P;
    o.last_update_ns = tr.last_update_ns;
    std::uint64_t mask = 0;
    for (Index q = 0; q < num_sources(); ++q)
      if (slot(f, q).valid) mask |= (std::uint64_t{1} << q);
    o.source_mask = mask;
    o.updates = tr.updates;
    o.confirmed = tr.confirmed ? 1 : 0;
  }
  return k;
}

std::int64_t TrackFuser::fused_id_of(Index source, std::int64_t source_id) const {
  if (source < 0 || source >= num_sources()) return 0;
  for (Index f = 0; f < cfg_.max_fused_tracks; ++f) {
    const Track& tr = tracks_[static_cast<std::size_t>(f)];
    if (tr.alive && slot(f, source).valid && slot(f, source).id == source_id) return tr.id;
  }
  return 0;
}

}  // namespace fusion::t2t
