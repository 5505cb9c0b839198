// Engine<Motion>: the implementation of EngineBase (engine.hpp) for one motion model. Included
// by csrc/src/engine.cpp (which instantiates the registered motion models) and by the tests.
//
// Per sensor frame (sensor k at t, n detections), in this order:
//   0. validate (nothing changes on a throw): sensor index, n <= max_detections, then every
//      detection: z finite (and a camera box with x2 >= x1, y2 >= y1, a lidar box with l, w,
//      h >= 0), R (if given and not all-NaN) finite, symmetric and positive definite, score
//      finite, class_id in [-1, C), class_scores finite and >= 0; the frame's sensor pose
//      (ego pose o mount) and velocity finite; every valid detection of a sensor with an inverse
//      placed into the tracking frame by that pose: finite, a lidar box within 1e100 m (what
//      the box costs refuse), its birth state finite (frame_pose, validate_placement). Then
//      the late check. Nothing after this throws for the frame's input.
//   1. compact() the 3D and image tracks deleted in the previous frame;
//   2. Lifecycle::advance(t), image-track time-based deletion;
//      EKF-predict every live 3D track from its own t_ns to t (a track is always at the time
//      of the latest frame after this, but keeping per-track times costs nothing);
//   3. columns = valid detections with score >= score_threshold; the cost graph of the
//      sensor's cost plug-in (engine/costs/: a dense matrix, or the sparse innovation gating
//      gate_sparse), ClassGate (same class when both are known); the sensor's associator
//      plug-in (engine/associators/) gives a hard assignment (GNN), or marginal association
//      probabilities that apply_marginals turns into a PDA update (JPDA);
//   4. JOIN (camera): a matched 3D track never confirmed before this frame takes the id of the
//      best image track of this camera whose predicted box has IoU >= image_track.gate with the
//      detection; the image track is removed (not reported: it lives on as the 3D track);
//   5. hits: EKF update through sensor::predict_measurement if update_state (rejected and
//      counted if the result is not finite / P not positive on the diagonal; a lidar box update
//      clamps l, w, h >= min_size), class fusion (confusion matrix), Lifecycle::on_hit (the
//      likelihood ratio from the update's log-likelihood for a Mahalanobis cost, else the
//      sensor's nominal ratio), evidence (score_sum, detection, last camera box);
//      misses: Lifecycle::on_miss with the FOV test at the predicted state, detection = -1;
//   6. births from unmatched detections (births = true, a sensor with an inverse, score >=
//      birth_score_threshold, the sensor model defined at the birth state: birth_observable):
//      x = state_from_view of the inverse's PartialView with the
//      unknown view components set to 0, P = diag(p0_diag);
//   7. camera with image_tracks: detections left unassigned by step 3 are associated with this
//      camera's image tracks (cost 1 - IoU, gated at image_track.gate), update / miss /
//      births (score >= birth_score_threshold);
//   8. LEAVE: a confirmed-ever 3D track deleted in this frame (by advance() or by the frame)
//      whose camera detection at that camera's latest frame was >= 0, within
//      image_track.max_coast_s of now, continues as an image track with the same id,
//      initialised from that camera box.
//
// Sensor pose and motion of a frame (frame_mount_, frame_motion_, set by process from frame_pose): without
// ego motion (Frame::has_ego false) the configured mount and a static sensor (SensorMotion{} =
// 0; radar range rate is then over ground). With ego motion, pose(ego) o mount and the sensor's
// velocity over ground from SensorMotion::from_ego rotated into the tracking frame (engine.hpp
// Frame). Every sensor-model call of the frame (cost, gate, update, birth, FOV test) takes
// these two, so a model that reads the sensor motion (radar range rate) sees it everywhere.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "fusion/assoc/class_gate.hpp"
#include "fusion/assoc/cost.hpp"
#include "fusion/assoc/gate.hpp"
#include "fusion/assoc/linear_assignment.hpp"
#include "fusion/core/angles.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/core/types.hpp"
#include "fusion/engine/associators/registry.hpp"
#include "fusion/engine/config.hpp"
#include "fusion/engine/costs/registry.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/engine/sensors.hpp"
#include "fusion/filters/kalman.hpp"
#include "fusion/geometry/box_overlap.hpp"
#include "fusion/motion/view_adapters.hpp"
#include "fusion/motion/with_extent.hpp"
#include "fusion/sensor/predict.hpp"
#include "fusion/track/class_fusion.hpp"
#include "fusion/track/lifecycle.hpp"
#include "fusion/track/record.hpp"
#include "fusion/track/track_table.hpp"
#include "fusion/tracking/jpda.hpp"

namespace fusion::engine {

namespace detail {

// Initial velocity variance of an image track [(px/s)^2]: one frame of KITTI-size motion is
// tens of px/s; (100 px/s)^2 lets the first updates pick the velocity up.
inline constexpr double kImageP0VelPx2PerS2 = 1.0e4;

// Whether a motion model has box extent (l, w, h state components): the box models of
// motion/with_extent.hpp do, the point models (cv_point2d) do not.
template <class Motion, class = void>
struct HasExtent : std::false_type {};
template <class Motion>
struct HasExtent<Motion, std::void_t<decltype(Motion::kLength)>> : std::true_type {};
template <class Motion>
inline constexpr bool kHasExtent = HasExtent<Motion>::value;

// The variant slot of cost C for (Motion, S): its Impl (held by pointer: GCC 12's
// -Wmaybe-uninitialized misfires on in-place construction of functors with a std::vector
// workspace under the sanitizers), or a distinct empty type where C does not apply.
template <class C>
struct NotApplicable {};
template <class Motion, class S, class C>
using CostSlot = std::conditional_t<C::template applies<Motion, S>(),
                                    std::unique_ptr<typename C::template Impl<Motion, S>>, NotApplicable<C>>;
template <class Motion, class S, class List>
struct CostVariantOf;
template <class Motion, class S, class... Cs>
struct CostVariantOf<Motion, S, sensor::TypeList<Cs...>> {
  using type = std::variant<std::monostate, CostSlot<Motion, S, Cs>...>;
};
// A sparse-gated cost's Impl has the per-pair edge_cost(d2, log_det_S) (costs/cost_plugin.hpp).
template <class T, class = void>
struct IsSparseCost : std::false_type {};
template <class T>
struct IsSparseCost<T, std::void_t<decltype(T::edge_cost(0.0, 0.0))>> : std::true_type {};
template <class T>
inline constexpr bool kIsSparseCost = IsSparseCost<T>::value;
template <class T>
struct IsCostImpl : std::false_type {};
template <class T>
struct IsCostImpl<std::unique_ptr<T>> : std::true_type {};

template <class List>
struct AssociatorTuple;
template <class... As>
struct AssociatorTuple<sensor::TypeList<As...>> {
  using type = std::tuple<typename As::Impl...>;
};

[[noreturn]] inline void bad_sensor(const SensorConfig& s, int k, const std::string& msg) {
  throw ConfigurationError("sensors[" + std::to_string(k) + "] (" + s.name + ")." + msg);
}

// The image box (x1, y1, x2, y2) of an image-track state (u, v, w, h, du, dv).
inline void image_box(const Vec<6>& x, double* box) {
  box[0] = x(0) - 0.5 * x(2);
  box[1] = x(1) - 0.5 * x(3);
  box[2] = x(0) + 0.5 * x(2);
  box[3] = x(1) + 0.5 * x(3);
}

}  // namespace detail

// Per-sensor state of one sensor model S: the model and its cost plug-in (one alternative per
// registered cost, engine/costs/registry.hpp).
template <class Motion, class S>
struct SensorState {
  using Model = S;
  S model;
  typename detail::CostVariantOf<Motion, S, EngineCosts>::type cost;
  double gate_max = 0.0;  // the LAP's gate on the cost (cost > gate_max is forbidden)

  explicit SensorState(S m) : model(std::move(m)) {}
};

template <class Motion, class List>
struct SensorVariantOf;
template <class Motion, class... Ss>
struct SensorVariantOf<Motion, sensor::TypeList<Ss...>> {
  using type = std::variant<SensorState<Motion, Ss>...>;
};

template <class Motion>
class Engine final : public EngineBase {
 public:
  static constexpr int N = Motion::N;
  using Record = track::TrackRecord<N>;
  using SensorVariant = typename SensorVariantOf<Motion, EngineSensorModels>::type;

  Engine(const EngineConfig& config, Motion motion)
      : cfg_(config),
        motion_(std::move(motion)),
        table_(checked_capacity(config), config.num_classes, checked_sensors(config)),
        lifecycle_(make_policy(config)),
        class_fusion_(config.num_classes, make_confusions(config)),
        class_gate_(assoc::ClassGate::same_class_only(config.num_classes)) {
    cfg_.validate();
    check_motion_fields();
    if constexpr (kIsImm<Motion>) {  // IMM motion (motion/imm_motion.hpp): GNN updates only
      for (std::size_t k = 0; k < cfg_.sensors.size(); ++k)
        if (cfg_.sensors[k].associator != "gnn")
          detail::bad_sensor(cfg_.sensors[k], static_cast<int>(k),
                             "associator: the IMM motion '" + cfg_.motion + "' runs with the 'gnn' associator only, not '" +
                                 cfg_.sensors[k].associator + "'");
    }
    const int S = static_cast<int>(cfg_.sensors.size());
    sensors_.reserve(static_cast<std::size_t>(S));
    common_.resize(static_cast<std::size_t>(S));
    for (int k = 0; k < S; ++k) add_sensor(k);
    for (const Common& c : common_) max_m_ = std::max(max_m_, c.M);

    const auto D = static_cast<std::size_t>(cfg_.max_detections);
    const auto T = static_cast<std::size_t>(std::max(cfg_.max_tracks, cfg_.max_image_tracks));
    // The dense cost matrix only for sensors with a dense cost (overlap, distance) or image
    // tracks; the mahalanobis cost is sparse (gate_sparse), so a point tracker with thousands
    // of tracks and detections never holds a tracks x detections buffer.
    bool dense = cfg_.max_image_tracks > 0, any_sparse = false, any_marginals = false;
    for (const Common& c : common_) {
      any_sparse = any_sparse || c.sparse;
      dense = dense || !c.sparse || c.cfg.image_tracks;
      any_marginals = any_marginals || c.marginals;
    }
    if (dense) cost_.assign(T * D, 0.0);
    row_to_col_.assign(T, assoc::kUnassigned);
    col_to_row_.assign(D, assoc::kUnassigned);
    col_det_.assign(D, 0);
    free_cols_.assign(D, 0);
    det_valid_.assign(D, 0);
    det_assigned_.assign(D, 0);
    det_z_.assign(D * static_cast<std::size_t>(max_m_), 0.0);
    det_R_.assign(D * static_cast<std::size_t>(max_m_ * max_m_), 0.0);
    det_cls_.assign(D, -1);
    row_cls_.assign(T, -1);
    row_slot_.assign(T, 0);
    const auto Ti = static_cast<Index>(T), Di = static_cast<Index>(D);
    const Index E = any_sparse ? std::min(Ti * Di, 16 * std::max(Ti, Di)) : 0;
    solver_edges_ = dense ? Ti * Di : E;
    solver_.reserve(Ti, Di, solver_edges_);
    if (any_sparse) {
      reserve_sparse(Ti, Di, std::max<Index>(E, 1), any_marginals);
      row_zhat_.assign(T * static_cast<std::size_t>(max_m_), 0.0);
      row_hpht_.assign(T * static_cast<std::size_t>(max_m_ * max_m_), 0.0);
    }
    col_score_.assign(D, 0.0);
    // the associators the sensors use, each reserved for its sensors' graphs
    int ai = 0;
    sensor::for_each_type(EngineAssociators{}, [&](auto* tag) {
      using A = std::remove_pointer_t<decltype(tag)>;
      associators::AssociatorSizes z;
      z.tracks = Ti;
      z.detections = Di;
      z.edges = std::max<Index>(E, 1);
      bool used = false;
      for (const Common& c : common_) {
        if (c.associator != ai) continue;
        used = true;
        z.dense = z.dense || !c.sparse;
        z.sparse = z.sparse || c.sparse;
        z.two_stage = z.two_stage || c.cfg.two_stage;
        z.jpda_max_states = std::max(z.jpda_max_states, c.cfg.jpda_max_states);
      }
      if (used) std::get<typename A::Impl>(assoc_).reserve(z);
      assoc_used_[static_cast<std::size_t>(ai)] = used;
      ++ai;
    });
    pending_col_.assign(D, 0);
    pending_done_.assign(D, 0);
    pending_score_.assign(D, 0.0);
    pending_cls_.assign(D, -1);
    pending_cs_.assign(D * static_cast<std::size_t>(cfg_.num_classes), 0.0);
    left_.assign(static_cast<std::size_t>(cfg_.max_tracks), 0);
    cam_box_.assign(static_cast<std::size_t>(cfg_.max_tracks) * static_cast<std::size_t>(S) * 4, 0.0);

    const auto I = static_cast<std::size_t>(cfg_.max_image_tracks);
    img_.assign(I, ImageTrack{});
    img_order_.reserve(I);
    img_free_.reserve(I);
    for (Index s = cfg_.max_image_tracks - 1; s >= 0; --s) img_free_.push_back(s);
    img_max_coast_ns_ = to_ns(cfg_.image_track.max_coast_s);
    img_tentative_max_coast_ns_ = to_ns(cfg_.image_track.tentative_max_coast_s);
  }

  // ---------------------------------------------------------------- EngineBase
  void process(const Frame& f) override {
    const int k = f.sensor;
    if (k < 0 || k >= num_sensors())
      throw ConfigurationError("FusionEngine.process: unknown sensor index " + std::to_string(k) +
                               " (the engine has " + std::to_string(num_sensors()) +
                               " sensors: " + sensor_list() + ")");
    const Common& c = common_[static_cast<std::size_t>(k)];
    if (f.n < 0 || f.n > cfg_.max_detections)
      throw ShapeError("FusionEngine.process: sensor '" + c.cfg.name + "' frame has " +
                       std::to_string(f.n) + " detections, but max_detections is " +
                       std::to_string(cfg_.max_detections));
    if (f.n > 0 && f.z == nullptr)
      throw ShapeError("FusionEngine.process: sensor '" + c.cfg.name + "': z is missing");
    if (f.has_ego) validate_ego(f, c);
    Index skipped = validate_detections(f, c);
    // The frame's sensor pose and motion, and every detection placed by them into the tracking
    // frame, are checked here too: nothing after this point throws for this frame's input (a
    // detection box beyond 1e100 m in the odometry frame used to make the box cost throw after
    // the tracks were predicted).
    sensor::SensorMount mount;
    sensor::SensorMotion motion;
    frame_pose(f, c, mount, motion);
    std::visit([&](const auto& st) { skipped += validate_placement(st, f, c, mount, motion); },
               sensors_[static_cast<std::size_t>(k)]);
    if (has_time_ && f.t_ns < t_latest_) {
      if (cfg_.late_policy == LatePolicy::kRaise)
        throw TimestampError("FusionEngine.process: sensor '" + c.cfg.name + "' frame at t_ns=" +
                             std::to_string(f.t_ns) + " is older than the engine's latest time t_ns=" +
                             std::to_string(t_latest_) + " (late_policy = 'raise')");
      num_pending_ = 0;  // deferred births of the previous frame lapse
      ++stats_.late_frames;
      stats_.late_detections += f.n;
      return;
    }
    // ---- from here on the frame is fused ----
    num_pending_ = 0;  // deferred births of the previous frame lapse
    ++stats_.frames;
    stats_.detections += f.n;
    stats_.skipped_detections += skipped;
    frame_mount_ = mount;
    frame_motion_ = motion;
    std::visit([&](auto& st) { run_frame(st, f); }, sensors_[static_cast<std::size_t>(k)]);
    has_time_ = true;
    t_latest_ = f.t_ns;
  }

  using EngineBase::export_tracks;
  Index export_tracks(void* out, Index max_records, const ExportOptions& opt) const override {
    if (opt.vehicle_frame) {
      const std::pair<const char*, double> pose[] = {
          {"ego_x_m", opt.ego_x_m}, {"ego_y_m", opt.ego_y_m}, {"ego_yaw_rad", opt.ego_yaw_rad}};
      for (const auto& [name, v] : pose)
        if (!std::isfinite(v))
          throw NumericalError(std::string("FusionEngine.export_tracks: vehicle pose ") + name + " is not finite (" +
                               std::to_string(v) + ")");
    }
    const double cy = std::cos(opt.ego_yaw_rad), sy = std::sin(opt.ego_yaw_rad);
    auto* rec = static_cast<Record*>(out);
    Index m = 0;
    for (Index s : table_.slots()) {
      if (m >= max_records) break;
      if (!opt.include_deleted && table_.status(s) == track::TrackStatus::kDeleted) continue;
      Record& r = rec[m++];
      table_.record(s, r);
      Vec<N> x = table_.x(s);
      if (opt.at_time && opt.t_ns > r.t_ns) {
        Mat<N, N> P = table_.P(s);
        predicted_copy(x, P, ns_to_s(track::elapsed_ns(opt.t_ns, r.t_ns)));
        if (all_finite(x) && all_finite(P)) {  // a diverged prediction: reported as it is
          std::copy(x.data(), x.data() + N, r.x);
          std::copy(P.data(), P.data() + N * N, r.P);
          r.t_ns = opt.t_ns;
        } else {
          x = table_.x(s);
        }
      }
      const ViewVec v = view_vector(motion_, x);
      geometry::Box3 b = box_of(v);
      double vel[3] = {v(view::VX), v(view::VY), v(view::VZ)};
      if (opt.vehicle_frame) {
        const double dx = b.x - opt.ego_x_m, dy = b.y - opt.ego_y_m;
        b.x = cy * dx + sy * dy;
        b.y = -sy * dx + cy * dy;
        b.yaw = wrap_angle(b.yaw - opt.ego_yaw_rad);
        const double vx = vel[0], vy = vel[1];
        vel[0] = cy * vx + sy * vy;
        vel[1] = -sy * vx + cy * vy;
      }
      const double box[7] = {b.x, b.y, b.z, b.yaw, b.l, b.w, b.h};
      std::copy(box, box + 7, r.box);
      std::copy(vel, vel + 3, r.velocity);
    }
    return m;
  }

  Index export_briefs(TrackBrief* out, double* x, double* P, Index max_records, int sensor) const override {
    if (sensor < 0 || sensor >= num_sensors())
      throw ConfigurationError("FusionEngine: unknown sensor index " + std::to_string(sensor));
    Index m = 0;
    for (Index s : table_.slots()) {
      if (m >= max_records) break;
      if (table_.status(s) == track::TrackStatus::kDeleted) continue;
      const track::SensorEvidence& ev = table_.evidence(s, sensor);
      TrackBrief& b = out[m];
      b.id = table_.id(s);
      b.status = static_cast<std::int32_t>(table_.status(s));
      b.hits = static_cast<std::int32_t>(ev.hits);
      b.frames_since_birth = table_.frames_since_birth(s);
      b.consecutive_misses = table_.consecutive_misses(s);
      b.detection = ev.detection;
      b.pad_ = 0;
      b.llr = table_.llr(s);
      b.existence = table_.existence(s);
      // the table's storage as TrackTable::record copies it (P is symmetric)
      if (x != nullptr) std::copy(table_.x(s).data(), table_.x(s).data() + N, x + m * N);
      if (P != nullptr) std::copy(table_.P(s).data(), table_.P(s).data() + N * N, P + m * N * N);
      ++m;
    }
    return m;
  }

  Index export_image_tracks(ImageTrackRecord* out, Index max_records) const override {
    Index m = 0;
    for (Index s : img_order_) {
      if (m >= max_records) break;
      const ImageTrack& it = img_[static_cast<std::size_t>(s)];
      ImageTrackRecord& r = out[m++];
      r.id = it.id;
      r.t_ns = it.t_ns;
      r.birth_t_ns = it.birth_t_ns;
      r.status = static_cast<std::int32_t>(it.status);
      r.sensor = it.sensor;
      detail::image_box(it.x, r.box);
      r.velocity[0] = it.x(4);
      r.velocity[1] = it.x(5);
      r.hits = it.hits;
      r.misses = it.misses;
      r.score_sum = it.score_sum;
      r.detection = it.detection;
      r.class_id = it.class_id;
    }
    return m;
  }

  std::vector<RecordField> track_record_fields() const override {
    const auto C = static_cast<Index>(cfg_.num_classes);
    const auto S = static_cast<Index>(num_sensors());
    std::vector<RecordField> fields = {
        {"id", "i8", {}, offsetof(Record, id)},
        {"t_ns", "i8", {}, offsetof(Record, t_ns)},
        {"birth_t_ns", "i8", {}, offsetof(Record, birth_t_ns)},
        {"status", "i4", {}, offsetof(Record, status)},
        {"class_id", "i4", {}, offsetof(Record, class_id)},
        {"birth_sensor", "i4", {}, offsetof(Record, birth_sensor)},
        {"existence", "f8", {}, offsetof(Record, existence)},
        {"confirmed_ever", "u1", {}, offsetof(Record, confirmed_ever)},
        {"x", "f8", {N}, offsetof(Record, x)},
        {"P", "f8", {N, N}, offsetof(Record, P)},
        {"box", "f8", {7}, offsetof(Record, box)},
        {"velocity", "f8", {3}, offsetof(Record, velocity)},
        {"class_prob", "f8", {C}, offsetof(Record, class_prob)},
        {"last_update_ns", "i8", {S}, offsetof(Record, last_update_ns)},
        {"hits", "i4", {S}, offsetof(Record, hits)},
        {"misses", "i4", {S}, offsetof(Record, misses)},
        {"score_sum", "f8", {S}, offsetof(Record, score_sum)},
        {"detection", "i4", {S}, offsetof(Record, detection)},
        {"llr", "f8", {}, offsetof(Record, llr)},
        {"frames_since_birth", "i4", {}, offsetof(Record, frames_since_birth)},
        {"consecutive_misses", "i4", {}, offsetof(Record, consecutive_misses)},
    };
    if constexpr (kIsImm<Motion>)  // the IMM's mode probabilities, in the motion's mode order
      fields.push_back({"mode_prob", "f8", {ImmTraits<Motion>::kModes}, offsetof(Record, mode_prob)});
    return fields;
  }
  std::size_t track_record_size() const override { return sizeof(Record); }

  EngineStats stats() const override {
    EngineStats s = stats_;
    s.insert_failures = table_.insert_failures() + img_insert_failures_ - failures_at_reset_;
    return s;
  }

  void reset() override {
    failures_at_reset_ = table_.insert_failures();
    img_insert_failures_ = 0;
    table_.clear();
    img_order_.clear();
    img_free_.clear();
    for (Index s = cfg_.max_image_tracks - 1; s >= 0; --s) img_free_.push_back(s);
    stats_ = EngineStats{};
    has_time_ = false;
    t_latest_ = 0;
    num_pending_ = 0;
    prob_rows_ = 0;
    last_assoc_ = AssociationStats{};
  }

  AssociationStats last_association() const override { return last_assoc_; }

  Index association_probabilities(AssociationProbability* out, Index capacity) const override {
    Index w = 0;
    const auto put = [&](std::int64_t id, std::int64_t det, double p) {
      if (w < capacity) out[w] = AssociationProbability{id, det, p};
      ++w;
    };
    for (Index i = 0; i < prob_rows_; ++i) {
      const std::int64_t id = row_id_[static_cast<std::size_t>(i)];
      put(id, -1, beta0_[static_cast<std::size_t>(i)]);
      for (Index e = edge_ptr_[static_cast<std::size_t>(i)]; e < edge_ptr_[static_cast<std::size_t>(i + 1)]; ++e)
        put(id, col_det_[static_cast<std::size_t>(edges_[static_cast<std::size_t>(e)].col)],
            edge_beta_[static_cast<std::size_t>(e)]);
    }
    return w;
  }

  bool has_time() const override { return has_time_; }
  TimeNs time_ns() const override { return t_latest_; }
  Index num_tracks() const override { return table_.num_live(); }
  Index num_image_tracks() const override {
    Index n = 0;
    for (Index s : img_order_)
      if (img_[static_cast<std::size_t>(s)].status != track::TrackStatus::kDeleted) ++n;
    return n;
  }
  int state_dim() const override { return N; }
  const EngineConfig& config() const override { return cfg_; }
  int measurement_dim(int sensor) const override {
    if (sensor < 0 || sensor >= num_sensors())
      throw ConfigurationError("FusionEngine: unknown sensor index " + std::to_string(sensor));
    return common_[static_cast<std::size_t>(sensor)].M;
  }

  std::int64_t next_id() const override { return table_.next_id(); }
  void set_next_id(std::int64_t id) override { table_.set_next_id(id); }

  Index num_pending_births() const override { return num_pending_; }
  Index pending_birth_detection(Index i) const override {
    check_pending(i);
    return col_det_[static_cast<std::size_t>(pending_col_[static_cast<std::size_t>(i)])];
  }
  bool commit_birth(Index i) override {
    check_pending(i);
    char& done = pending_done_[static_cast<std::size_t>(i)];
    if (done) return false;
    done = 1;
    const Index col = pending_col_[static_cast<std::size_t>(i)];
    const std::int64_t births_before = stats_.births;
    std::visit(
        [&](auto& st) {
          using S = typename std::decay_t<decltype(st)>::Model;
          if constexpr (S::kHasInverse) {
            constexpr int M = S::M;
            const auto u = static_cast<std::size_t>(i);
            const int C = cfg_.num_classes;
            birth(st, common_[static_cast<std::size_t>(pending_sensor_)], pending_sensor_, pending_t_,
                  col_det_[static_cast<std::size_t>(col)], det_z_.data() + col * M, pending_cls_[u],
                  pending_has_cs_ ? pending_cs_.data() + u * static_cast<std::size_t>(C) : nullptr,
                  pending_score_[u]);
          }
        },
        sensors_[static_cast<std::size_t>(pending_sensor_)]);
    return stats_.births > births_before;
  }

  void release_deleted() override { table_.compact(); }

  void copy_state_from(const EngineBase& other_base) override {
    const auto* other = dynamic_cast<const Engine*>(&other_base);
    if (other == nullptr)
      throw ConfigurationError("FusionEngine.copy_state_from: the other engine runs another motion model than '" +
                               cfg_.motion + "'");
    if (other == this) return;
    const EngineConfig& o = other->cfg_;
    if (o.max_tracks != cfg_.max_tracks || o.max_detections != cfg_.max_detections ||
        o.max_image_tracks != cfg_.max_image_tracks || o.num_classes != cfg_.num_classes ||
        o.sensors.size() != cfg_.sensors.size())
      throw ConfigurationError("FusionEngine.copy_state_from: the engines differ in capacities, classes or sensors");
    table_ = other->table_;  // equal sizes: the vectors copy in place
    img_ = other->img_;
    img_order_ = other->img_order_;
    img_free_ = other->img_free_;
    img_insert_failures_ = other->img_insert_failures_;
    failures_at_reset_ = other->failures_at_reset_;
    cam_box_ = other->cam_box_;
    stats_ = other->stats_;
    has_time_ = other->has_time_;
    t_latest_ = other->t_latest_;
    frame_mount_ = other->frame_mount_;  // the latest frame's geometry (commit_birth uses it)
    frame_motion_ = other->frame_motion_;
    // pending births refer to the latest frame's columns
    num_pending_ = other->num_pending_;
    pending_sensor_ = other->pending_sensor_;
    pending_t_ = other->pending_t_;
    pending_has_cs_ = other->pending_has_cs_;
    pending_col_ = other->pending_col_;
    pending_done_ = other->pending_done_;
    pending_score_ = other->pending_score_;
    pending_cs_ = other->pending_cs_;
    pending_cls_ = other->pending_cls_;
    col_det_ = other->col_det_;
    det_z_ = other->det_z_;
    left_ = other->left_;
    // the latest frame's association outputs (association_probabilities, last_association)
    edges_ = other->edges_;
    edge_ptr_ = other->edge_ptr_;
    edge_beta_ = other->edge_beta_;
    beta0_ = other->beta0_;
    row_id_ = other->row_id_;
    row_llr_ = other->row_llr_;
    prob_rows_ = other->prob_rows_;
    last_assoc_ = other->last_assoc_;
  }

  // For the tests.
  const track::TrackTable<Motion>& table() const { return table_; }
  const Motion& motion() const { return motion_; }

 private:
  struct Common {
    SensorConfig cfg;
    int M = 0;
    bool camera = false;
    bool has_inverse = false;
    int associator = 0;       // index into EngineAssociators
    bool sparse = false;      // the cost is sparse-gated (costs::CostForm)
    bool likelihood = false;  // a GNN hit gives the lifecycle the update's likelihood ratio
    bool marginals = false;   // the associator outputs marginals (JPDA)
    sensor::SensorMount mount;
    std::vector<double> R;  // M x M default
  };

  struct ImageTrack {
    std::int64_t id = 0;
    TimeNs t_ns = 0, birth_t_ns = 0, last_update_ns = 0;
    int sensor = 0;
    track::TrackStatus status = track::TrackStatus::kDeleted;
    Vec<6> x = Vec<6>::Zero();  // u, v, w, h [px], du, dv [px/s]
    Mat<6, 6> P = Mat<6, 6>::Identity();
    track::HitHistory window;
    std::int32_t hits = 0, misses = 0, detection = -1, class_id = -1;
    double score_sum = 0.0;
  };

  // ---------------------------------------------------------------- construction helpers
  static Index checked_capacity(const EngineConfig& c) {
    if (c.max_tracks < 1)
      throw ConfigurationError("max_tracks must be >= 1, got " + std::to_string(c.max_tracks));
    return c.max_tracks;
  }
  static int checked_sensors(const EngineConfig& c) {
    if (c.sensors.empty() || c.sensors.size() > static_cast<std::size_t>(track::kMaxRecordSensors))
      throw ConfigurationError("sensors: 1 to " + std::to_string(track::kMaxRecordSensors) +
                               " sensors, got " + std::to_string(c.sensors.size()));
    return static_cast<int>(c.sensors.size());
  }
  static track::LifecyclePolicy make_policy(const EngineConfig& c) {
    track::LifecyclePolicy p = c.lifecycle;
    p.sensors.clear();
    for (const SensorConfig& s : c.sensors) {
      track::SensorLifecyclePolicy sp;
      sp.pd = s.pd;
      sp.gate_probability = s.gate_probability;
      sp.clutter_density = s.clutter_density;
      sp.nominal_likelihood_ratio = s.nominal_likelihood_ratio;
      sp.counts_for_confirmation = s.counts_for_confirmation;
      sp.counts_for_coast = s.counts_for_coast;
      p.sensors.push_back(sp);
    }
    try {
      track::validate(p);
    } catch (const ConfigurationError& e) {
      throw ConfigurationError(std::string("lifecycle: ") + e.what());
    }
    return p;
  }
  static std::vector<track::ConfusionMatrix> make_confusions(const EngineConfig& c) {
    std::vector<track::ConfusionMatrix> out;
    for (std::size_t k = 0; k < c.sensors.size(); ++k) {
      const SensorConfig& s = c.sensors[k];
      if (s.confusion.empty()) {
        out.emplace_back();
        continue;
      }
      const auto C = static_cast<std::size_t>(c.num_classes);
      if (c.num_classes < 1 || s.confusion.size() != C * C)
        detail::bad_sensor(s, static_cast<int>(k),
                           "confusion must be " + std::to_string(C) + " x " + std::to_string(C) +
                               " (num_classes), got " + std::to_string(s.confusion.size()) +
                               " values");
      try {
        out.emplace_back(c.num_classes, s.confusion.data());
      } catch (const ConfigurationError& e) {
        detail::bad_sensor(s, static_cast<int>(k), std::string("confusion: ") + e.what());
      }
    }
    return out;
  }

  void check_motion_fields() const {
    if (!cfg_.q_diag_per_s.empty()) {
      if (cfg_.q_diag_per_s.size() != static_cast<std::size_t>(N))
        throw ConfigurationError("q_diag_per_s must have " + std::to_string(N) + " values (motion '" +
                                 cfg_.motion + "'), got " + std::to_string(cfg_.q_diag_per_s.size()));
      for (std::size_t i = 0; i < cfg_.q_diag_per_s.size(); ++i)
        if (!(cfg_.q_diag_per_s[i] >= 0.0 && std::isfinite(cfg_.q_diag_per_s[i])))
          throw ConfigurationError("q_diag_per_s[" + std::to_string(i) + "] must be finite and >= 0, got " +
                                   std::to_string(cfg_.q_diag_per_s[i]));
    }
    if (cfg_.p0_diag.size() != static_cast<std::size_t>(N))
      throw ConfigurationError("p0_diag must have " + std::to_string(N) + " values (motion '" +
                               cfg_.motion + "'), got " + std::to_string(cfg_.p0_diag.size()));
    for (std::size_t i = 0; i < cfg_.p0_diag.size(); ++i)
      if (!(cfg_.p0_diag[i] > 0.0 && std::isfinite(cfg_.p0_diag[i])))
        throw ConfigurationError("p0_diag[" + std::to_string(i) + "] must be finite and > 0, got " +
                                 std::to_string(cfg_.p0_diag[i]));
  }

  void add_sensor(int k) {
    const SensorConfig& s = cfg_.sensors[static_cast<std::size_t>(k)];
    Common& c = common_[static_cast<std::size_t>(k)];
    c.cfg = s;
    try {
      c.mount = sensor::SensorMount(s.mount_R, s.mount_t, s.fov);
    } catch (const ConfigurationError& e) {
      detail::bad_sensor(s, k, std::string("mount: ") + e.what());
    }
    bool found = false;
    sensor::for_each_type(EngineSensorModels{}, [&](auto* tag) {
      using S = std::remove_pointer_t<decltype(tag)>;
      if (found || s.model != SensorKey<S>::kKey) return;
      found = true;
      c.M = S::M;
      c.camera = std::is_same_v<S, sensor::CameraBox2D>;
      c.has_inverse = S::kHasInverse;
      build_sensor<S>(k, c);
    });
    if (!found) detail::bad_sensor(s, k, "model: unknown sensor model '" + s.model + "'");
    // Default R: M x M, symmetric positive definite.
    const auto MM = static_cast<std::size_t>(c.M * c.M);
    if (s.R.size() != MM)
      detail::bad_sensor(s, k, "R must be " + std::to_string(c.M) + " x " + std::to_string(c.M) +
                                   " for " + s.model + ", got " + std::to_string(s.R.size()) + " values");
    const Eigen::Map<const MatX> Rm(s.R.data(), c.M, c.M);
    if (!is_spd(Rm)) detail::bad_sensor(s, k, "R must be finite, symmetric and positive definite");
    c.R = s.R;
    if (s.image_tracks && !c.camera)
      detail::bad_sensor(s, k, "image_tracks needs a camera_box2d sensor, not " + s.model);
    bool known = false;
    int ai = 0;
    sensor::for_each_type(EngineAssociators{}, [&](auto* tag) {
      using A = std::remove_pointer_t<decltype(tag)>;
      if (!known && s.associator == A::kKey) {
        known = true;
        c.associator = ai;
        c.marginals = A::kOutput == associators::AssociatorOutput::kMarginals;
        if (A::kNeedsLikelihood && !(c.sparse && c.likelihood))
          detail::bad_sensor(s, k, std::string("associator: '") + A::kKey +
                                       "' needs a sparse likelihood cost (mahalanobis, mahalanobis_loglik), not '" +
                                       s.cost + "'");
      }
      ++ai;
    });
    if (!known) detail::bad_sensor(s, k, "associator: unknown associator '" + s.associator + "'");
    (void)tracking::jpda_method_from_string(s.jpda_method);  // validated here, parsed per frame
  }

  template <class S>
  S make_model(int k, const Common& c) const {
    if constexpr (std::is_same_v<S, sensor::CameraBox2D>) {
      const SensorConfig& s = c.cfg;
      if (!s.has_projection) detail::bad_sensor(s, k, "projection: a camera_box2d sensor needs a 3x4 projection");
      try {
        return sensor::CameraBox2D(sensor::PinholeProjection(s.projection), s.image_width_px,
                                   s.image_height_px);
      } catch (const ConfigurationError& e) {
        detail::bad_sensor(s, k, std::string("projection: ") + e.what());
      }
    } else {
      (void)k;
      (void)c;
      return S{};
    }
  }

  // The sensor's cost plug-in (engine/costs/registry.hpp) for model S: ConfigurationError if
  // the key is unknown, the cost does not apply to S, or its gate is invalid.
  template <class S>
  void build_sensor(int k, Common& c) {
    const SensorConfig& s = c.cfg;
    if constexpr (sensor::missing_view_components<Motion, S>() != 0) {
      detail::bad_sensor(s, k, "model: the motion model '" + cfg_.motion +
                                   "' does not estimate every view component " + s.model + " reads");
    } else {
      SensorState<Motion, S> st(make_model<S>(k, c));
      bool found = false;
      try {
        sensor::for_each_type(EngineCosts{}, [&](auto* tag) {
          using C = std::remove_pointer_t<decltype(tag)>;
          if (found || s.cost != C::kKey) return;
          found = true;
          if constexpr (C::template applies<Motion, S>()) {
            using Impl = typename C::template Impl<Motion, S>;
            auto impl = std::make_unique<Impl>(motion_, st.model, c.mount, s, cfg_.max_detections);
            st.gate_max = impl->gate_max();
            st.cost = std::move(impl);
            c.sparse = C::kForm == costs::CostForm::kSparseGated;
            c.likelihood = C::kLikelihood;
          } else {
            detail::bad_sensor(s, k, "cost: '" + s.cost + "' needs " + C::kNeeds + ", not " + s.model);
          }
        });
      } catch (const ConfigurationError& e) {
        const std::string msg = e.what();
        if (msg.rfind("sensors[", 0) == 0) throw;
        detail::bad_sensor(s, k, "gate: " + msg);
      }
      if (!found) detail::bad_sensor(s, k, "cost: unknown cost '" + s.cost + "'");
      sensors_.emplace_back(std::in_place_type<SensorState<Motion, S>>, std::move(st));
    }
  }

  static TimeNs to_ns(double seconds) {
    if (!(seconds * kNsPerSecond < 9.0e18)) return std::numeric_limits<TimeNs>::max();
    return static_cast<TimeNs>(std::llround(seconds * kNsPerSecond));
  }

  std::string sensor_list() const {
    std::string out;
    for (std::size_t k = 0; k < common_.size(); ++k)
      out += (k ? ", " : "") + std::to_string(k) + " '" + common_[k].cfg.name + "'";
    return out;
  }

  // ---------------------------------------------------------------- validation
  [[noreturn]] void bad_detection(const Common& c, Index j, const char* field, const std::string& what,
                                  bool numerical) const {
    const std::string msg = "FusionEngine.process: sensor '" + c.cfg.name + "' detection " +
                            std::to_string(j) + ": " + field + " " + what;
    if (numerical) throw NumericalError(msg);
    throw ShapeError(msg);
  }

  // Ego fields of a frame with has_ego: finite, else NumericalError naming the field.
  void validate_ego(const Frame& f, const Common& c) const {
    const std::pair<const char*, double> fields[] = {{"ego_x_m", f.ego_x_m},
                                                     {"ego_y_m", f.ego_y_m},
                                                     {"ego_yaw_rad", f.ego_yaw_rad},
                                                     {"ego_speed_mps", f.ego_speed_mps},
                                                     {"ego_yaw_rate_rps", f.ego_yaw_rate_rps}};
    for (const auto& [name, v] : fields)
      if (!std::isfinite(v))
        throw NumericalError("FusionEngine.process: sensor '" + c.cfg.name + "' frame at t_ns=" +
                             std::to_string(f.t_ns) + ": " + name + " is not finite (" + std::to_string(v) + ")");
  }

  // This frame's sensor pose in the tracking frame and sensor velocity over ground (see the
  // header comment): the configured mount and a static sensor without ego motion. Throws
  // NumericalError (nothing changed) when the ego pose puts the sensor at a non-finite place or
  // gives it a non-finite velocity (finite ego values near 1.8e308).
  void frame_pose(const Frame& f, const Common& c, sensor::SensorMount& mount, sensor::SensorMotion& motion) const {
    if (!f.has_ego) {
      mount = c.mount;
      motion = sensor::SensorMotion{};
      return;
    }
    const double cy = std::cos(f.ego_yaw_rad), sy = std::sin(f.ego_yaw_rad);
    Mat<3, 3> Rz = Mat<3, 3>::Identity();
    Rz(0, 0) = cy;
    Rz(0, 1) = -sy;
    Rz(1, 0) = sy;
    Rz(1, 1) = cy;
    Vec<3> t = Rz * c.mount.translation_m();
    t(0) += f.ego_x_m;
    t(1) += f.ego_y_m;
    const sensor::SensorMotion vehicle =
        sensor::SensorMotion::from_ego(sensor::EgoMotion{f.ego_speed_mps, f.ego_yaw_rate_rps}, c.mount);
    const Vec<3> v = Rz * vehicle.velocity_mps;
    if (!all_finite(t) || !all_finite(v))
      throw NumericalError("FusionEngine.process: sensor '" + c.cfg.name + "' frame at t_ns=" +
                           std::to_string(f.t_ns) + ": the ego pose (ego_x_m, ego_y_m, ego_yaw_rad) and motion " +
                           "(ego_speed_mps, ego_yaw_rate_rps) put the sensor at a non-finite position or velocity");
    mount = sensor::SensorMount(Mat<3, 3>(Rz * c.mount.rotation()), t, c.mount.fov());
    motion.velocity_mps = v;
  }

  // Every valid detection of a sensor with an inverse, placed into the tracking frame by this
  // frame's pose (the ego pose o the mount): its known view components finite, and a lidar box
  // what the box costs take (geometry::validate_box: finite, at most 1e100 m, sizes >= 0), and
  // the state a birth would start finite (TrackTable::insert refuses it). Like
  // validate_detections: throws under bad_detection = raise, else unmarks det_valid_ and
  // returns how many it skipped. Allocation-free unless it throws.
  template <class S>
  Index validate_placement(const SensorState<Motion, S>& st, const Frame& f, const Common& c,
                           const sensor::SensorMount& mount, const sensor::SensorMotion& motion) {
    if constexpr (!S::kHasInverse) {
      (void)st, (void)f, (void)c, (void)mount, (void)motion;
      return 0;
    } else {
      constexpr int M = S::M;
      const bool skip = cfg_.bad_detection == BadDetectionPolicy::kSkip;
      Index skipped = 0;
      for (Index j = 0; j < f.n; ++j) {
        if (!det_valid_[static_cast<std::size_t>(j)]) continue;
        const PartialView pv =
            sensor::sensor_inverse(st.model, Vec<M>(Eigen::Map<const Vec<M>>(f.z + j * M)), mount, motion);
        ViewVec v = pv.v;
        for (int i = 0; i < kViewDim; ++i)
          if (!view::contains(pv.known, static_cast<view::Idx>(i))) v(i) = 0.0;
        const char* what = nullptr;
        if (!all_finite(v)) {
          what = "is not finite once placed into the tracking frame by the frame's sensor pose";
        } else if constexpr (std::is_same_v<S, sensor::LidarBox3D>) {
          const geometry::Box3 b = box_of(v);
          const double a[] = {b.x, b.y, b.z, b.yaw, b.l, b.w, b.h};
          for (double x : a)
            if (!(std::abs(x) <= 1e100)) what = "is beyond 1e100 once placed into the tracking frame by the frame's "
                                                "sensor pose (ego pose o mount): a box the box costs refuse";
        }
        if (what == nullptr && !all_finite(state_from_view(motion_, v)))
          what = "starts a non-finite state once placed into the tracking frame by the frame's sensor pose";
        if (what == nullptr) continue;
        if (!skip) bad_detection(c, j, "z", what, true);
        det_valid_[static_cast<std::size_t>(j)] = 0;
        ++skipped;
      }
      return skipped;
    }
  }

  // Marks det_valid_ (scratch only) and returns the number of skipped detections; throws on
  // the first bad one under bad_detection = raise.
  Index validate_detections(const Frame& f, const Common& c) {
    const int M = c.M, C = cfg_.num_classes;
    const bool skip = cfg_.bad_detection == BadDetectionPolicy::kSkip;
    const bool boxes = c.camera || c.cfg.model == "lidar_box3d";  // costs computing box overlaps
    Index skipped = 0;
    for (Index j = 0; j < f.n; ++j) {
      const char* field = nullptr;
      std::string what;
      bool numerical = true;
      const double* z = f.z + j * M;
      for (int i = 0; i < M && field == nullptr; ++i)
        if (!std::isfinite(z[i])) field = "z", what = "[" + std::to_string(i) + "] is not finite";
        else if (boxes && std::abs(z[i]) > 1e100)  // a box overlap of it would overflow (box_overlap.cpp)
          field = "z", what = "[" + std::to_string(i) + "] is beyond 1e100 (a box no sensor measures)";
      if (field == nullptr && c.camera && (z[2] < z[0] || z[3] < z[1]))
        field = "z", what = "is an inverted image box (x2 < x1 or y2 < y1)";
      if (field == nullptr && c.cfg.model == "lidar_box3d" && (z[4] < 0.0 || z[5] < 0.0 || z[6] < 0.0))
        field = "z", what = "has a negative box size (l, w, h)";
      if (field == nullptr && f.R != nullptr) {
        const double* R = f.R + j * M * M;
        if (!all_nan(R, M * M) && !small_spd(R, M))
          field = "R", what = "is not finite, symmetric and positive definite";
      }
      if (field == nullptr && f.score != nullptr && !std::isfinite(f.score[j]))
        field = "score", what = "is not finite";
      if (field == nullptr && f.class_id != nullptr && (f.class_id[j] < -1 || f.class_id[j] >= C))
        field = "class_id", numerical = false,
        what = std::to_string(f.class_id[j]) + " is out of range [-1, " + std::to_string(C) + ")";
      if (field == nullptr && f.class_scores != nullptr) {
        const double* cs = f.class_scores + j * C;
        for (int i = 0; i < C && field == nullptr; ++i)
          if (!(std::isfinite(cs[i]) && cs[i] >= 0.0))
            field = "class_scores", what = "[" + std::to_string(i) + "] is not finite and >= 0";
      }
      det_valid_[static_cast<std::size_t>(j)] = field == nullptr ? 1 : 0;
      if (field != nullptr) {
        if (!skip) bad_detection(c, j, field, what, numerical);
        ++skipped;
      }
    }
    return skipped;
  }

  // Whether the m x m row-major matrix is finite, symmetric (relative 1e-9) and positive
  // definite, by an in-place Cholesky on a stack buffer (is_spd's Eigen::LLT<MatX> would
  // allocate per detection). m <= kMaxM.
  static constexpr int kMaxM = 8;
  static bool small_spd(const double* a, int m) {
    double scale = 0.0;
    for (int i = 0; i < m * m; ++i) {
      if (!std::isfinite(a[i])) return false;
      scale = std::max(scale, std::abs(a[i]));
    }
    if (!(scale > 0.0)) return false;
    for (int i = 0; i < m; ++i)
      for (int j = i + 1; j < m; ++j)
        if (std::abs(a[i * m + j] - a[j * m + i]) > 1e-9 * scale) return false;
    double L[kMaxM * kMaxM] = {};
    for (int kk = 0; kk < m; ++kk) {
      double p = a[kk * m + kk];
      for (int j = 0; j < kk; ++j) p -= L[kk * kMaxM + j] * L[kk * kMaxM + j];
      if (!(p > 0.0)) return false;
      L[kk * kMaxM + kk] = std::sqrt(p);
      for (int i = kk + 1; i < m; ++i) {
        double v = a[i * m + kk];
        for (int j = 0; j < kk; ++j) v -= L[i * kMaxM + j] * L[kk * kMaxM + j];
        L[i * kMaxM + kk] = v / L[kk * kMaxM + kk];
      }
    }
    return true;
  }

  static bool all_nan(const double* a, int n) {
    for (int i = 0; i < n; ++i)
      if (!std::isnan(a[i])) return false;
    return true;
  }

  // ---------------------------------------------------------------- one frame
  void predict_track(Index s, TimeNs t) {
    const TimeNs t0 = table_.t_ns(s);
    if (t <= t0) return;
    const double dt = ns_to_s(track::elapsed_ns(t, t0));
    auto x = table_.x(s);
    auto P = table_.P(s);
    if constexpr (kIsImm<Motion>) {  // mixing + each mode's predict; x, P = the combination
      table_.set_t_ns(s, t);
      if (!motion_.predict_track(table_.aux(s), x.data(), P.data(), dt, cfg_.q_diag_per_s)) {
        table_.remove(s);
        ++stats_.rejected_updates;
      }
      return;
    }
    const Vec<N> x0 = x;
    // A linear model's F and Q do not depend on the state: computed once per dt (the tracks of
    // a frame share their dt unless they were born or updated at different times).
    constexpr bool kCache = Motion::kLinear;
    if (!kCache || !(dt == pred_dt_)) {
      pred_F_ = motion_.jacobian(x0, dt);
      if (!cfg_.q_diag_per_s.empty()) {
        pred_Q_.setZero();
        for (int i = 0; i < N; ++i) pred_Q_(i, i) = cfg_.q_diag_per_s[static_cast<std::size_t>(i)] * std::abs(dt);
      } else {
        pred_Q_ = motion_.Q(x0, dt);
      }
      pred_dt_ = kCache ? dt : std::numeric_limits<double>::quiet_NaN();
    }
    const Mat<N, N>& F = pred_F_;
    const Mat<N, N>& Q = pred_Q_;
    const Vec<N> x1 = motion_.f(x0, dt);
    const Mat<N, N> FP = F * P;
    Mat<N, N> P1 = FP * F.transpose();
    P1 += Q;
    symmetrize(P1);
    table_.set_t_ns(s, t);
    if (!all_finite(x1) || !all_finite(P1)) {
      table_.remove(s);  // never a NaN in a track: a diverged prediction ends it
      ++stats_.rejected_updates;
      return;
    }
    x = x1;
    P = P1;
  }

  // predict_track's arithmetic on a copy (export_tracks at_time): x = f(x, dt), P = F P F^T + Q.
  void predicted_copy(Vec<N>& x, Mat<N, N>& P, double dt) const {
    const Vec<N> x0 = x;
    const Mat<N, N> F = motion_.jacobian(x0, dt);
    Mat<N, N> Q;
    if (!cfg_.q_diag_per_s.empty()) {
      Q.setZero();
      for (int i = 0; i < N; ++i) Q(i, i) = cfg_.q_diag_per_s[static_cast<std::size_t>(i)] * std::abs(dt);
    } else {
      Q = motion_.Q(x0, dt);
    }
    x = motion_.f(x0, dt);
    const Mat<N, N> FP = F * P;
    Mat<N, N> P1 = FP * F.transpose();
    P1 += Q;
    symmetrize(P1);
    P = P1;
  }

  template <class S>
  void run_frame(SensorState<Motion, S>& st, const Frame& f) {
    const int k = f.sensor;
    const Common& c = common_[static_cast<std::size_t>(k)];
    const TimeNs t = f.t_ns;
    constexpr int M = S::M;
    // frame_mount_, frame_motion_: set by process() from frame_pose (checked before any change)

    // 1-2. housekeeping, time rules, prediction
    table_.compact();
    compact_image_tracks();
    lifecycle_.advance(table_, t);
    table_.tick_frame();
    advance_image_tracks(t);
    // LEAVE for the tracks advance() deleted, before this frame's image-track association, so
    // that a camera frame's detection continues the handed-over track instead of starting one.
    for (Index s : table_.slots()) {
      if (table_.status(s) != track::TrackStatus::kDeleted) continue;
      left_[static_cast<std::size_t>(s)] = 1;
      if (table_.confirmed_ever(s)) leave(s, t);
    }
    table_.for_each_live([&](Index s) { predict_track(s, t); });
    if constexpr (std::is_same_v<S, sensor::CameraBox2D>) predict_image_tracks(k, t);

    // 3. columns
    Index nc = 0;
    for (Index j = 0; j < f.n; ++j) {
      det_assigned_[static_cast<std::size_t>(j)] = 0;
      if (!det_valid_[static_cast<std::size_t>(j)]) continue;
      if (score_of(f, j) < c.cfg.score_threshold) continue;
      col_det_[static_cast<std::size_t>(nc)] = j;
      col_score_[static_cast<std::size_t>(nc)] = score_of(f, j);
      std::copy(f.z + j * M, f.z + (j + 1) * M, det_z_.data() + nc * M);
      const double* Rj = f.R != nullptr && !all_nan(f.R + j * M * M, M * M) ? f.R + j * M * M : c.R.data();
      std::copy(Rj, Rj + M * M, det_R_.data() + nc * M * M);
      det_cls_[static_cast<std::size_t>(nc)] = f.class_id != nullptr ? f.class_id[j] : -1;
      ++nc;
    }
    const track::SlotSpan rows = table_.slots();
    const Index nr = rows.size();
    for (Index i = 0; i < nr; ++i) row_to_col_[static_cast<std::size_t>(i)] = assoc::kUnassigned;
    prob_rows_ = 0;
    // the cost graph (the sensor's cost plug-in), then its associator
    associators::CostGraph g;
    g.nr = nr;
    g.nc = nc;
    g.col_score = col_score_.data();
    g.sparse = c.sparse;
    bool solve = false;
    std::visit(
        [&](auto& slot) {
          using Slot = std::decay_t<decltype(slot)>;
          if constexpr (detail::IsCostImpl<Slot>::value) {
            auto& cost = *slot;
            using Impl = std::decay_t<decltype(cost)>;
            if constexpr (detail::kIsSparseCost<Impl>) {  // sparse: grid pre-gating, CSR of the in-gate pairs
              g.gate = gate_sparse(st, cost, c, f, rows, nc);
              g.edge_ptr = edge_ptr_.data();
              g.edge_col = edge_col_.data();
              g.edge_cost = edge_cost_.data();
              g.edges = edges_.data();
              solve = true;
            } else if (nr > 0 && nc > 0) {
              last_assoc_ = AssociationStats{};
              assoc::DetectionBatch<M> batch;
              batch.count = nc;
              batch.z = det_z_.data();
              batch.R = det_R_.data();
              batch.class_id = det_cls_.data();
              cost(costs::DenseCostFrame<Motion, M>{table_, rows, batch, frame_mount_, frame_motion_, cost_.data()});
              assoc::track_classes(table_, rows, row_cls_.data());
              class_gate_.apply(cost_.data(), nr, nc, row_cls_.data(), det_cls_.data());
              g.cost = cost_.data();
              g.gate = st.gate_max;
              solve = true;
            } else {
              last_assoc_ = AssociationStats{};
            }
          }
        },
        st.cost);
    bool marginals = false;
    if (solve) {
      int ai = 0;
      sensor::for_each_type(EngineAssociators{}, [&](auto* tag) {
        using A = std::remove_pointer_t<decltype(tag)>;
        if (ai++ != c.associator) return;
        auto& impl = std::get<typename A::Impl>(assoc_);
        if constexpr (A::kOutput == associators::AssociatorOutput::kAssignment) {
          impl.assign(g, c.cfg, row_to_col_.data(), col_to_row_.data());
        } else {
          impl.marginals(g, c.cfg, beta0_.data(), edge_beta_.data(), col_prob_.data(), last_assoc_);
          marginals = true;
        }
      });
    }
    if (marginals) apply_marginals(st, c, f, rows, nc);  // steps 4-5 from the marginals (JPDA)

    // 4-5. JOIN, hits, misses (rows in id order; a JOIN may reorder slots(), so the rows are
    // copied first)
    for (Index i = 0; i < nr; ++i) row_slot_[static_cast<std::size_t>(i)] = rows[i];
    for (Index i = 0; i < nr && !marginals; ++i) {
      const Index s = row_slot_[static_cast<std::size_t>(i)];
      if (table_.status(s) == track::TrackStatus::kDeleted) continue;
      const Index col = row_to_col_[static_cast<std::size_t>(i)];
      track::SensorEvidence& ev = table_.evidence(s, k);
      if (col == assoc::kUnassigned) {
        const bool in_fov = track::in_sensor_fov(motion_, Vec<N>(table_.x(s)), frame_mount_);
        lifecycle_.on_miss(table_, s, k, t, in_fov);
        ev.detection = -1;
        continue;
      }
      const Index j = col_det_[static_cast<std::size_t>(col)];
      det_assigned_[static_cast<std::size_t>(j)] = 1;
      if constexpr (std::is_same_v<S, sensor::CameraBox2D>) {
        if (c.cfg.image_tracks && !table_.confirmed_ever(s)) join_image_track(s, k, det_z_.data() + col * M);
      }
      double ratio = std::numeric_limits<double>::quiet_NaN();
      double ll = std::numeric_limits<double>::quiet_NaN();
      if (c.cfg.update_state) {
        ll = update_track(st, c, s, det_z_.data() + col * M, det_R_.data() + col * M * M);
        if (std::isfinite(ll) && c.likelihood)
          ratio = track::likelihood_ratio(ll, c.cfg.clutter_density);
      }
      fuse_class(f, s, k, j);
      lifecycle_.on_hit(table_, s, k, t, ratio, ll);
      ev.score_sum += score_of(f, j);
      ev.detection = static_cast<std::int32_t>(j);
      if constexpr (std::is_same_v<S, sensor::CameraBox2D>) {
        double* cb = cam_box(s, k);
        std::copy(det_z_.data() + col * M, det_z_.data() + (col + 1) * M, cb);
      }
    }

    // 6. births
    if constexpr (S::kHasInverse) {
      if (c.cfg.births) {
        const int C = cfg_.num_classes;
        pending_sensor_ = k;
        pending_t_ = t;
        pending_has_cs_ = f.class_scores != nullptr;
        for (Index col = 0; col < nc; ++col) {
          const Index j = col_det_[static_cast<std::size_t>(col)];
          if (det_assigned_[static_cast<std::size_t>(j)]) continue;
          if (score_of(f, j) < c.cfg.birth_score_threshold) continue;
          if (!birth_observable(st, det_z_.data() + col * M)) continue;
          const std::int32_t cls = f.class_id != nullptr ? f.class_id[j] : -1;
          const double* cs = f.class_scores != nullptr ? f.class_scores + j * C : nullptr;
          if (!f.defer_births) {
            birth(st, c, k, t, j, det_z_.data() + col * M, cls, cs, score_of(f, j));
            continue;
          }
          const auto u = static_cast<std::size_t>(num_pending_++);
          pending_col_[u] = col;
          pending_done_[u] = 0;
          pending_score_[u] = score_of(f, j);
          pending_cls_[u] = cls;
          if (cs != nullptr) std::copy(cs, cs + C, pending_cs_.data() + u * static_cast<std::size_t>(C));
        }
      }
    }

    // 7. image tracks
    if constexpr (std::is_same_v<S, sensor::CameraBox2D>) {
      if (c.cfg.image_tracks) image_frame(f, c, k, nc);
    }

    // 8. LEAVE for the tracks deleted by this frame, and the deletion count
    for (Index s : table_.slots()) {
      if (table_.status(s) != track::TrackStatus::kDeleted) continue;
      ++stats_.deletions;
      char& done = left_[static_cast<std::size_t>(s)];
      if (!done && table_.confirmed_ever(s)) leave(s, t);
      done = 0;
    }
  }

  static double score_of(const Frame& f, Index j) { return f.score != nullptr ? f.score[j] : 1.0; }

  // Whether the sensor model is defined at the state detection z would start (the view of its
  // inverse, unknown components 0): no track is born where its own sensor cannot predict it
  // (issue 8 §5: a radar return at zero range, or nearer than RadarPolar::min_range_m, where
  // azimuth and line of sight are undefined).
  template <class S>
  bool birth_observable(const SensorState<Motion, S>& st, const double* zp) const {
    constexpr int M = S::M;
    const PartialView pv =
        sensor::sensor_inverse(st.model, Vec<M>(Eigen::Map<const Vec<M>>(zp)), frame_mount_, frame_motion_);
    ViewVec v = pv.v;
    for (int i = 0; i < kViewDim; ++i)
      if (!view::contains(pv.known, static_cast<view::Idx>(i))) v(i) = 0.0;
    Vec<M> zhat;
    Mat<M, N> H;
    return sensor::predict_measurement(motion_, st.model, state_from_view(motion_, v), frame_mount_, frame_motion_,
                                       zhat, H);
  }

  void check_pending(Index i) const {
    if (i < 0 || i >= num_pending_)
      throw std::out_of_range("FusionEngine: pending birth " + std::to_string(i) + " out of range [0, " +
                              std::to_string(num_pending_) + ")");
  }

  // ---------------------------------------------------------------- sparse association
  // A sparse-gated cost (costs/cost_plugin.hpp: mahalanobis, mahalanobis_loglik) never builds
  // the nr x nc matrix. gate_sparse() lists the in-gate
  // (row, column) pairs as a CSR graph by row (edge_ptr_, edges_): with the frame's columns
  // bucketed in a uniform grid over their first two measurement components, each row visits
  // only the cells under its gate ellipse's bounding box (half-widths sqrt(q S_aa), S_aa =
  // (H P H^T)_aa + max over the frame's R of R_aa). Sensors whose first two components include
  // an angle (radar azimuth wraps), and M = 1, scan every column instead. Per pair:
  //   d2 = y^T S^-1 y  (M = 2: the closed-form 2 x 2 inverse; else a Cholesky factor),
  //   log_lr = log(pd / clutter_density) - M/2 log(2 pi) - 1/2 log det S - d2 / 2,
  // kept when d2 <= q (the cost's gate_d2) and the class gate allows the pair; its assignment
  // cost is the cost plug-in's edge_cost(d2, log det S). Returns the plug-in's lap_gate (the
  // GNN's unassigned cost) for the frame's largest in-gate log det S. The associator plug-in
  // takes the graph (GNN: the sparse gated assignment; JPDA: marginals).
  // Cost: O(rows x columns in nearby cells).
  // Capacity: edges_ is reserved for 16 x max(max_tracks, max_detections) pairs; a frame with
  // more grows the buffers once (the only allocating path of a step).
  using Edge = associators::GraphEdge;

  // Per-row innovation factors for one S (M = 2: closed form; else Cholesky).
  template <int M>
  struct RowGate {
    SmallCholesky<M> chol;
    double si00 = 0.0, si01 = 0.0, si11 = 0.0, log_det = 0.0;
    bool set(const Mat<M, M>& S) {
      if constexpr (M == 2) {
        const double s00 = S(0, 0), s01 = S(0, 1), s11 = S(1, 1);
        const double det = s00 * s11 - s01 * s01;
        if (!(det > 0.0) || !std::isfinite(det)) return false;
        si00 = s11 / det;
        si01 = -s01 / det;
        si11 = s00 / det;
        log_det = std::log(det);
        return true;
      } else {
        if (!all_finite(S) || !chol.compute(S)) return false;
        log_det = chol.log_det();
        return true;
      }
    }
    double d2(const Vec<M>& y) const {
      if constexpr (M == 2) {
        const double dx = y(0), dy = y(1);
        return si00 * dx * dx + 2.0 * si01 * dx * dy + si11 * dy * dy;
      } else {
        return chol.inv_quad(y);
      }
    }
  };

  void reserve_sparse(Index T, Index D, Index E, bool marginals) {
    const auto sz = [](Index v) { return static_cast<std::size_t>(v); };
    edges_.reserve(sz(E));
    edge_ptr_.assign(sz(T + 1), 0);
    edge_col_.assign(sz(E), 0);
    edge_cost_.assign(sz(E), 0.0);
    cell_start_.assign(sz(2 * D + 17), 0);  // at most 2 D + 16 grid cells
    cell_items_.assign(sz(D), 0);
    col_cell_.assign(sz(D), 0);
    row_hw_.assign(sz(2 * T), 0.0);
    scratch_.assign(sz(T), 0.0);
    row_id_.assign(sz(T), 0);
    if (marginals) {
      beta0_.assign(sz(T), 0.0);
      row_llr_.assign(sz(T), 0.0);
      col_prob_.assign(sz(D), 0.0);
      edge_beta_.assign(sz(E), 0.0);
    }
    marginals_ = marginals;
  }

  // More in-gate pairs than reserved: grow once (an allocation on this frame only).
  void grow_edges(Index E) {
    const Index cap = 2 * E;
    const auto s = static_cast<std::size_t>(cap);
    edge_col_.resize(s);
    edge_cost_.resize(s);
    const auto T = static_cast<Index>(row_id_.size()), D = static_cast<Index>(col_cell_.size());
    solver_.reserve(T, D, std::max(cap, solver_edges_));
    solver_edges_ = std::max(cap, solver_edges_);
    if (marginals_) edge_beta_.resize(s);
    int ai = 0;
    sensor::for_each_type(EngineAssociators{}, [&](auto* tag) {
      using A = std::remove_pointer_t<decltype(tag)>;
      if (assoc_used_[static_cast<std::size_t>(ai++)]) std::get<typename A::Impl>(assoc_).grow_edges(cap);
    });
  }

  template <class S, class Cost>
  double gate_sparse(SensorState<Motion, S>& st, const Cost& cost, const Common& c, const Frame& f,
                     track::SlotSpan rows, Index nc) {
    constexpr int M = S::M;
    constexpr bool kGrid = M >= 2 && !S::kAngles[0] && !S::kAngles[1];
    const Index nr = rows.size();
    const double q = cost.gate_d2();
    double max_log_det = -std::numeric_limits<double>::infinity();
    last_assoc_ = AssociationStats{};
    edges_.clear();
    edge_ptr_[0] = 0;
    for (Index i = 0; i < nr; ++i) row_id_[static_cast<std::size_t>(i)] = table_.id(rows[i]);
    if (nr == 0 || nc == 0) {
      for (Index i = 0; i < nr; ++i) edge_ptr_[static_cast<std::size_t>(i + 1)] = 0;
      return cost.lap_gate(0.0);
    }
    assoc::track_classes(table_, rows, row_cls_.data());
    const bool shared_R = f.R == nullptr;  // every column has the sensor's default R
    // Largest R diagonal of the frame (the gate bounding boxes must cover every column's S).
    double rmax0 = 0.0, rmax1 = 0.0;
    if constexpr (kGrid) {
      for (Index col = 0; col < nc; ++col) {
        const double* R = det_R_.data() + col * M * M;
        rmax0 = std::max(rmax0, R[0]);
        rmax1 = std::max(rmax1, R[M + 1]);
      }
    }
    const double log_pd_over_lambda = std::log(c.cfg.pd) - std::log(c.cfg.clutter_density);
    const double norm = log_pd_over_lambda - 0.5 * M * kLog2Pi;
    const auto mask_row = [&](Index i) {
      row_hw_[static_cast<std::size_t>(2 * i)] = -1.0;  // no gate: visits no cell
    };
    // Pass 1: per-row predicted measurement and gate half-widths (zhat kept in row_zhat_).
    for (Index i = 0; i < nr; ++i) {
      const Index s = rows[i];
      mask_row(i);
      if (table_.status(s) == track::TrackStatus::kDeleted) continue;
      Vec<M> zhat;
      Mat<M, N> H;
      if (!sensor::predict_measurement(motion_, st.model, Vec<N>(table_.x(s)), frame_mount_, frame_motion_, zhat,
                                       H))
        continue;
      const Mat<N, M> PHt = table_.P(s) * H.transpose();
      const Mat<M, M> HPHt = H * PHt;
      std::copy(zhat.data(), zhat.data() + M, row_zhat_.data() + i * M);
      std::copy(HPHt.data(), HPHt.data() + M * M, row_hpht_.data() + i * M * M);
      if constexpr (kGrid) {
        const double s00 = HPHt(0, 0) + rmax0, s11 = HPHt(1, 1) + rmax1;
        if (!(s00 > 0.0 && s11 > 0.0 && std::isfinite(s00) && std::isfinite(s11))) continue;
        row_hw_[static_cast<std::size_t>(2 * i)] = std::sqrt(q * s00);
        row_hw_[static_cast<std::size_t>(2 * i + 1)] = std::sqrt(q * s11);
      } else {
        row_hw_[static_cast<std::size_t>(2 * i)] = 0.0;  // scan every column
      }
    }
    // The grid (counting sort of the columns by cell; stable: column order inside a cell).
    double minx = 0.0, miny = 0.0, h = 1.0, fx = 1.0, fy = 1.0;
    Index gx = 1;
    if constexpr (kGrid) {
      const double* z = det_z_.data();
      minx = z[0];
      miny = z[1];
      double maxx = z[0], maxy = z[1];
      for (Index col = 1; col < nc; ++col) {
        minx = std::min(minx, z[col * M]);
        maxx = std::max(maxx, z[col * M]);
        miny = std::min(miny, z[col * M + 1]);
        maxy = std::max(maxy, z[col * M + 1]);
      }
      // Cell size: the median gate half-width, so a typical gate spans about 3 x 3 cells; made
      // coarser when the grid would need more cells than reserved.
      Index ng = 0;
      for (Index i = 0; i < nr; ++i) {
        const double hx = row_hw_[static_cast<std::size_t>(2 * i)];
        if (hx < 0.0) continue;
        scratch_[static_cast<std::size_t>(ng++)] = std::max(hx, row_hw_[static_cast<std::size_t>(2 * i + 1)]);
      }
      if (ng > 0) {
        std::nth_element(scratch_.begin(), scratch_.begin() + ng / 2, scratch_.begin() + ng);
        h = std::max(scratch_[static_cast<std::size_t>(ng / 2)], 1e-9 * (1.0 + (maxx - minx) + (maxy - miny)));
      }
      const double cap = static_cast<double>(cell_start_.size() - 1);
      fx = std::floor((maxx - minx) / h) + 1.0;
      fy = std::floor((maxy - miny) / h) + 1.0;
      while (fx * fy > cap) {
        h *= 1.5;
        fx = std::floor((maxx - minx) / h) + 1.0;
        fy = std::floor((maxy - miny) / h) + 1.0;
      }
      gx = static_cast<Index>(fx);
      const Index gy = static_cast<Index>(fy), cells = gx * gy;
      std::fill(cell_start_.begin(), cell_start_.begin() + cells + 1, 0);
      for (Index col = 0; col < nc; ++col) {
        const Index cx = std::min(gx - 1, static_cast<Index>((z[col * M] - minx) / h));
        const Index cy = std::min(gy - 1, static_cast<Index>((z[col * M + 1] - miny) / h));
        col_cell_[static_cast<std::size_t>(col)] = cx + gx * cy;
        ++cell_start_[static_cast<std::size_t>(col_cell_[static_cast<std::size_t>(col)] + 1)];
      }
      for (Index cc = 0; cc < cells; ++cc) cell_start_[static_cast<std::size_t>(cc + 1)] += cell_start_[static_cast<std::size_t>(cc)];
      for (Index col = 0; col < nc; ++col)
        cell_items_[static_cast<std::size_t>(cell_start_[static_cast<std::size_t>(col_cell_[static_cast<std::size_t>(col)])]++)] = col;
      for (Index cc = cells; cc > 0; --cc) cell_start_[static_cast<std::size_t>(cc)] = cell_start_[static_cast<std::size_t>(cc - 1)];
      cell_start_[0] = 0;
    }
    // Pass 2: the in-gate pairs of each row.
    for (Index i = 0; i < nr; ++i) {
      const double hx = row_hw_[static_cast<std::size_t>(2 * i)];
      if (hx >= 0.0) {
        const Vec<M> zhat = Eigen::Map<const Vec<M>>(row_zhat_.data() + i * M);
        const Mat<M, M> HPHt = Eigen::Map<const Mat<M, M>>(row_hpht_.data() + i * M * M);
        const int tc = row_cls_[static_cast<std::size_t>(i)];
        RowGate<M> rg;
        bool rg_ok = shared_R && rg.set(HPHt + Eigen::Map<const Mat<M, M>>(c.R.data()));
        const auto visit = [&](Index col) {
          if (!class_gate_.allowed(tc, det_cls_[static_cast<std::size_t>(col)])) return;
          if (!shared_R) {
            rg_ok = rg.set(HPHt + Eigen::Map<const Mat<M, M>>(det_R_.data() + col * M * M));
          }
          if (!rg_ok) return;
          const Vec<M> y = S::residual(Vec<M>(Eigen::Map<const Vec<M>>(det_z_.data() + col * M)), zhat);
          const double d2 = rg.d2(y);
          if (d2 <= q) {
            edges_.push_back(Edge{col, d2, (norm - 0.5 * rg.log_det) - 0.5 * d2, Cost::edge_cost(d2, rg.log_det)});
            max_log_det = std::max(max_log_det, rg.log_det);
          }
        };
        if constexpr (kGrid) {
          const double hy = row_hw_[static_cast<std::size_t>(2 * i + 1)];
          const double px = zhat(0), py = zhat(1);
          const double x0 = std::floor((px - hx - minx) / h), x1 = std::floor((px + hx - minx) / h);
          const double y0 = std::floor((py - hy - miny) / h), y1 = std::floor((py + hy - miny) / h);
          if (x1 >= 0.0 && y1 >= 0.0 && x0 < fx && y0 < fy) {
            const Index cx0 = static_cast<Index>(std::max(x0, 0.0)), cx1 = static_cast<Index>(std::min(x1, fx - 1.0));
            const Index cy0 = static_cast<Index>(std::max(y0, 0.0)), cy1 = static_cast<Index>(std::min(y1, fy - 1.0));
            for (Index cy = cy0; cy <= cy1; ++cy)
              for (Index cx = cx0; cx <= cx1; ++cx) {
                const Index cc = cx + gx * cy;
                for (Index p = cell_start_[static_cast<std::size_t>(cc)]; p < cell_start_[static_cast<std::size_t>(cc + 1)]; ++p)
                  visit(cell_items_[static_cast<std::size_t>(p)]);
              }
          }
        } else {
          for (Index col = 0; col < nc; ++col) visit(col);
        }
      }
      edge_ptr_[static_cast<std::size_t>(i + 1)] = static_cast<Index>(edges_.size());
    }
    const Index E = static_cast<Index>(edges_.size());
    last_assoc_.gated_pairs = E;
    if (E > static_cast<Index>(edge_col_.size())) grow_edges(E);
    for (Index e = 0; e < E; ++e) {
      edge_col_[static_cast<std::size_t>(e)] = edges_[static_cast<std::size_t>(e)].col;
      edge_cost_[static_cast<std::size_t>(e)] = edges_[static_cast<std::size_t>(e)].cost;
    }
    return cost.lap_gate(E > 0 ? max_log_det : 0.0);
  }

  // Steps 4-5 of a frame whose associator gave marginals (JPDA, associators/jpda.hpp): beta0_
  // per row, edge_beta_ per edge of gate_sparse()'s graph, col_prob_ per column. Per row:
  //   - the state update: with one R for the whole frame (no per-detection R), the PDA update
  //     with the combined innovation nu = sum_e beta_e y_e,
  //       x <- x + K nu,  P <- beta0 P + (1 - beta0) P_c + K (sum_e beta_e (y_e - nu)(y_e - nu)^T
  //                                                          + beta0 nu nu^T) K^T
  //     (P_c the Joseph-form updated covariance); with per-detection R, moment matching of the
  //     mixture of the per-detection Kalman updates and the prediction (jpda_mixture_update);
  //   - the frame's log likelihood ratio log(1 - pd P_G + sum_e w_e) (row_llr_): the "llr"
  //     existence model's increment for this frame, hit or miss (lifecycle llr_increment);
  //   - the lifecycle: a MISS (on_miss) when the gate is empty, or when jpda_miss_beta0 < 1 and
  //     beta0 >= jpda_miss_beta0; else a HIT with ratio_sum = sum_e w_e / pd (the IPDA
  //     existence update of lifecycle.hpp), class evidence and `detection` from its most
  //     probable detection;
  //   - births: jpda_birth_threshold < 0: detections in no gate; else detections whose total
  //     association probability sum_t beta_tj is below jpda_birth_threshold.
  // The marginals stay readable until the next frame (association_probabilities()).
  template <class S>
  void apply_marginals(SensorState<Motion, S>& st, const Common& c, const Frame& f, track::SlotSpan rows, Index nc) {
    const int k = f.sensor;
    const Index nr = rows.size();
    const double pd = c.cfg.pd;
    const double log_miss = std::log(1.0 - pd * c.cfg.gate_probability);
    const auto E = [&](Index e) -> const Edge& { return edges_[static_cast<std::size_t>(e)]; };
    const auto at = [](auto& v, Index i) -> auto& { return v[static_cast<std::size_t>(i)]; };
    prob_rows_ = nr;
    for (Index i = 0; i < nr; ++i) {
      const Index s = rows[i];
      const Index e0 = at(edge_ptr_, i), e1 = at(edge_ptr_, i + 1);
      // The frame's log likelihood ratio: log((1 - pd P_G) + sum_e w_e), in the log domain.
      double mx = log_miss;
      for (Index e = e0; e < e1; ++e) mx = std::max(mx, E(e).log_lr);
      double sum = std::exp(log_miss - mx);
      for (Index e = e0; e < e1; ++e) sum += std::exp(E(e).log_lr - mx);
      at(row_llr_, i) = mx + std::log(sum);
      if (table_.status(s) == track::TrackStatus::kDeleted) continue;
      track::SensorEvidence& ev = table_.evidence(s, k);
      const double b0 = at(beta0_, i);
      const bool miss = e0 == e1 || (c.cfg.jpda_miss_beta0 < 1.0 && b0 >= c.cfg.jpda_miss_beta0);
      Index best = -1;
      double best_beta = -1.0;
      double ratio_sum = 0.0;
      for (Index e = e0; e < e1; ++e) {
        ratio_sum += std::exp(E(e).log_lr) / pd;
        if (at(edge_beta_, e) > best_beta) {
          best_beta = at(edge_beta_, e);
          best = e;
        }
      }
      if (c.cfg.update_state && e0 != e1) {
        if (f.R == nullptr)
          pda_update(st, c, s, i, e0, e1);
        else
          jpda_mixture_update(st, c, s, i, e0, e1);
      }
      // "llr" existence model: the frame's marginal log likelihood ratio, hit or miss.
      const double llr_inc = at(row_llr_, i);
      if (miss) {
        lifecycle_.on_miss(table_, s, k, f.t_ns, track::in_sensor_fov(motion_, Vec<N>(table_.x(s)), frame_mount_),
                           llr_inc);
        ev.detection = -1;
        continue;
      }
      const Index jb = col_det_[static_cast<std::size_t>(E(best).col)];
      fuse_class(f, s, k, jb);
      lifecycle_.on_hit(table_, s, k, f.t_ns, ratio_sum, std::numeric_limits<double>::quiet_NaN(), llr_inc);
      ev.score_sum += score_of(f, jb);
      ev.detection = static_cast<std::int32_t>(jb);
    }
    // which detections are explained (no birth): in some gate, or sum_t beta_tj >= threshold
    const double thr = c.cfg.jpda_birth_threshold;
    if (thr < 0.0) {
      for (Index e = 0; e < at(edge_ptr_, nr); ++e)
        det_assigned_[static_cast<std::size_t>(col_det_[static_cast<std::size_t>(E(e).col)])] = 1;
    } else {
      for (Index col = 0; col < nc; ++col)
        if (at(col_prob_, col) >= thr) det_assigned_[static_cast<std::size_t>(col_det_[static_cast<std::size_t>(col)])] = 1;
    }
  }

  // PDA update with the combined innovation (one R for every gated detection; see apply_marginals).
  template <class S>
  void pda_update(SensorState<Motion, S>& st, const Common& c, Index s, Index row, Index e0, Index e1) {
    constexpr int M = S::M;
    Vec<N> x = table_.x(s);
    Mat<N, N> P = table_.P(s);
    Vec<M> zhat;
    Mat<M, N> H;
    if (!sensor::predict_measurement(motion_, st.model, x, frame_mount_, frame_motion_, zhat, H)) return;
    const double b0 = beta0_[static_cast<std::size_t>(row)];
    Vec<M> nu = Vec<M>::Zero();
    for (Index e = e0; e < e1; ++e) {
      const Index col = edges_[static_cast<std::size_t>(e)].col;
      const Vec<M> y = S::residual(Vec<M>(Eigen::Map<const Vec<M>>(det_z_.data() + col * M)), zhat);
      for (int a = 0; a < M; ++a) nu(a) += edge_beta_[static_cast<std::size_t>(e)] * y(a);
    }
    // Spread of innovations sum_e beta_e y_e y_e^T - nu nu^T, written as
    // sum_e beta_e (y_e - nu)(y_e - nu)^T + beta_0 nu nu^T: a sum of PSD terms, no cancellation.
    Mat<M, M> spread = b0 * nu * nu.transpose();
    for (Index e = e0; e < e1; ++e) {
      const Index col = edges_[static_cast<std::size_t>(e)].col;
      const Vec<M> y = S::residual(Vec<M>(Eigen::Map<const Vec<M>>(det_z_.data() + col * M)), zhat);
      const Vec<M> d = y - nu;
      spread.noalias() += edge_beta_[static_cast<std::size_t>(e)] * d * d.transpose();
    }
    const Mat<N, N> P_prior = P;
    const Mat<M, M> R = Eigen::Map<const Mat<M, M>>(c.R.data());
    Mat<M, M> Sm;
    Mat<N, M> K;
    if (kalman_update<N, M>(x, P, nu, H, R, Sm, K).status != UpdateStatus::kOk) {
      ++stats_.rejected_updates;
      return;
    }
    // P now holds the Joseph-form P_c.
    const Mat<N, M> KS = K * spread;
    P = b0 * P_prior + (1.0 - b0) * P;
    P.noalias() += KS * K.transpose();
    symmetrize(P);
    wrap_state<Motion>(x);
    clamp_extent<S>(x);
    store_update(s, x, P);
  }

  // Writes an updated (x, P) if finite with a positive diagonal; else counts a rejected update.
  void store_update(Index s, const Vec<N>& x, const Mat<N, N>& P) {
    bool ok = all_finite(x) && all_finite(P);
    for (int i = 0; i < N && ok; ++i) ok = P(i, i) > 0.0;
    if (!ok) {
      ++stats_.rejected_updates;
      return;
    }
    table_.x(s) = x;
    table_.P(s) = P;
  }

  // A lidar box update or birth keeps l, w, h >= min_size (box models only).
  template <class S>
  void clamp_extent(Vec<N>& x) const {
    if constexpr (std::is_same_v<S, sensor::LidarBox3D> && detail::kHasExtent<Motion>) {
      x(Motion::kLength) = std::max(x(Motion::kLength), cfg_.min_size);
      x(Motion::kWidth) = std::max(x(Motion::kWidth), cfg_.min_size);
      x(Motion::kHeight) = std::max(x(Motion::kHeight), cfg_.min_size);
    } else {
      (void)x;
    }
  }

  // JPDA update with per-detection R: moment matching of the mixture of the per-detection
  // Kalman updates and the prediction (the combined-innovation form needs one R):
  //   x = x^ + sum_e beta_e d_e,  d_e = x_e - x^ (angles wrapped)
  //   P = beta0 P^ + sum_e beta_e P_e + beta0 d0 d0^T + sum_e beta_e (d_e - dx)(d_e - dx)^T
  template <class S>
  void jpda_mixture_update(SensorState<Motion, S>& st, const Common& c, Index s, Index row, Index e0, Index e1) {
    constexpr int M = S::M;
    (void)c;  // the frame's mount and motion: frame_mount_, frame_motion_ (frame_pose)
    const Vec<N> xp = table_.x(s);
    const Mat<N, N> Pp = table_.P(s);
    const double b0 = beta0_[static_cast<std::size_t>(row)];
    Vec<N> dx = Vec<N>::Zero();
    Mat<N, N> P = b0 * Pp;
    Mat<N, N> second = Mat<N, N>::Zero();  // sum beta d d^T (d relative to the prediction)
    double used = b0;
    Vec<M> zhat;
    Mat<M, N> H;
    if (!sensor::predict_measurement(motion_, st.model, xp, frame_mount_, frame_motion_, zhat, H)) return;
    for (Index q = e0; q < e1; ++q) {
      const double b = edge_beta_[static_cast<std::size_t>(q)];
      if (!(b > 0.0)) continue;
      const Index col = edges_[static_cast<std::size_t>(q)].col;
      Vec<N> x = xp;
      Mat<N, N> Pe = Pp;
      const Vec<M> y = S::residual(Vec<M>(Eigen::Map<const Vec<M>>(det_z_.data() + col * M)), zhat);
      const Mat<M, M> R = Eigen::Map<const Mat<M, M>>(det_R_.data() + col * M * M);
      Mat<M, M> Sm;
      Mat<N, M> K;
      if (kalman_update<N, M>(x, Pe, y, H, R, Sm, K).status != UpdateStatus::kOk) continue;
      Vec<N> d = x - xp;
      wrap_state<Motion>(d);
      dx += b * d;
      P += b * Pe;
      second += b * d * d.transpose();
      used += b;
    }
    if (!(used > 0.0)) return;
    // renormalise if some pair's update failed
    dx /= used;
    P /= used;
    second /= used;
    P += second - dx * dx.transpose();
    symmetrize(P);
    Vec<N> x = xp + dx;
    wrap_state<Motion>(x);
    clamp_extent<S>(x);
    store_update(s, x, P);
  }

  // EKF update; returns the log-likelihood, NaN if the update was rejected (counted).
  template <class S>
  double update_track(SensorState<Motion, S>& st, const Common& c, Index s, const double* zp,
                      const double* Rp) {
    constexpr int M = S::M;
    (void)c;  // the frame's mount and motion: frame_mount_, frame_motion_ (frame_pose)
    if constexpr (kIsImm<Motion>) {  // each mode's EKF update, mode probabilities, combination
      const auto r = motion_.update_track(table_.aux(s), table_.x(s).data(), table_.P(s).data(), st.model, frame_mount_,
                                          frame_motion_, zp, Rp,
                                          std::is_same_v<S, sensor::LidarBox3D> ? cfg_.min_size : 0.0);
      if (r.rejected) ++stats_.rejected_updates;
      if (r.underflow) ++stats_.imm_underflows;
      return r.log_likelihood;
    }
    Vec<N> x = table_.x(s);
    Mat<N, N> P = table_.P(s);
    Vec<M> zhat;
    Mat<M, N> H;
    if (!sensor::predict_measurement(motion_, st.model, x, frame_mount_, frame_motion_, zhat, H)) {
      ++stats_.rejected_updates;
      return std::numeric_limits<double>::quiet_NaN();
    }
    const Vec<M> z = Eigen::Map<const Vec<M>>(zp);
    const Mat<M, M> R = Eigen::Map<const Mat<M, M>>(Rp);
    const Vec<M> y = S::residual(z, zhat);
    Mat<M, M> Sm;
    Mat<N, M> K;
    const UpdateInfo info = kalman_update<N, M>(x, P, y, H, R, Sm, K);
    if (info.status != UpdateStatus::kOk) {
      ++stats_.rejected_updates;
      return std::numeric_limits<double>::quiet_NaN();
    }
    wrap_state<Motion>(x);
    clamp_extent<S>(x);
    bool ok = all_finite(x) && all_finite(P);
    for (int i = 0; i < N && ok; ++i) ok = P(i, i) > 0.0;
    if (!ok) {
      ++stats_.rejected_updates;
      return std::numeric_limits<double>::quiet_NaN();
    }
    table_.x(s) = x;
    table_.P(s) = P;
    return info.log_likelihood;
  }

  void fuse_class(const Frame& f, Index s, int k, Index j) {
    if (!class_fusion_.reports_class(k)) return;
    if (f.class_scores != nullptr)
      class_fusion_.fuse_scores(table_, s, k, f.class_scores + j * cfg_.num_classes);
    else if (f.class_id != nullptr && f.class_id[j] >= 0)
      class_fusion_.fuse(table_, s, k, f.class_id[j]);
  }

  // Starts a track from detection j of sensor k's frame at t (z at zp; class id, class scores
  // or null, detection score).
  template <class S>
  void birth(SensorState<Motion, S>& st, const Common& c, int k, TimeNs t, Index j, const double* zp,
             std::int32_t cls, const double* scores, double score) {
    constexpr int M = S::M;
    (void)c;  // the frame's mount and motion: frame_mount_, frame_motion_ (frame_pose)
    const PartialView pv = sensor::sensor_inverse(st.model, Vec<M>(Eigen::Map<const Vec<M>>(zp)), frame_mount_,
                                                  frame_motion_);
    ViewVec v = pv.v;
    for (int i = 0; i < kViewDim; ++i)
      if (!view::contains(pv.known, static_cast<view::Idx>(i))) v(i) = 0.0;
    Vec<N> x = state_from_view(motion_, v);
    clamp_extent<S>(x);
    wrap_state<Motion>(x);
    Mat<N, N> P = Mat<N, N>::Zero();
    for (int i = 0; i < N; ++i) P(i, i) = cfg_.p0_diag[static_cast<std::size_t>(i)];
    // Class probabilities: the birth report fused into a uniform prior through the sensor's
    // confusion matrix; without one, the normalised class scores, else one-hot on class_id,
    // else uniform.
    const int C = cfg_.num_classes;
    std::array<double, track::kMaxRecordClasses> p{};
    const double* prob = nullptr;
    if (class_fusion_.reports_class(k)) {
      for (int i = 0; i < C; ++i) p[static_cast<std::size_t>(i)] = 1.0 / C;
      const track::ConfusionMatrix& A = confusion(k);
      const bool fused = scores != nullptr ? track::fuse_class_scores(p.data(), C, A, scores)
                                           : (cls >= 0 && track::fuse_reported_class(p.data(), C, A, cls));
      if (fused) prob = p.data();
    } else if (scores != nullptr) {
      double sum = 0.0;
      for (int i = 0; i < C; ++i) sum += scores[i];
      if (sum > 0.0) prob = scores;
    } else if (cls >= 0) {
      p[static_cast<std::size_t>(cls)] = 1.0;
      prob = p.data();
    }
    const Index s = lifecycle_.birth(table_, x, P, t, k, prob);
    if (s == track::kNoSlot) return;  // counted by the table
    if constexpr (kIsImm<Motion>) motion_.init_track(table_.aux(s), table_.x(s).data(), table_.P(s).data());
    ++stats_.births;
    track::SensorEvidence& ev = table_.evidence(s, k);
    ev.score_sum = score;
    ev.detection = static_cast<std::int32_t>(j);
  }

  const track::ConfusionMatrix& confusion(int k) const { return confusions_view_[static_cast<std::size_t>(k)]; }

  double* cam_box(Index slot, int k) {
    return cam_box_.data() + (static_cast<std::size_t>(slot) * common_.size() + static_cast<std::size_t>(k)) * 4;
  }

  // ---------------------------------------------------------------- image tracks
  void compact_image_tracks() {
    auto keep = img_order_.begin();
    for (auto it = img_order_.begin(); it != img_order_.end(); ++it) {
      if (img_[static_cast<std::size_t>(*it)].status == track::TrackStatus::kDeleted)
        img_free_.push_back(*it);
      else
        *keep++ = *it;
    }
    img_order_.erase(keep, img_order_.end());
  }

  void advance_image_tracks(TimeNs t) {
    for (Index s : img_order_) {
      ImageTrack& it = img_[static_cast<std::size_t>(s)];
      if (it.status == track::TrackStatus::kDeleted) continue;
      const TimeNs limit = it.status == track::TrackStatus::kTentative ? img_tentative_max_coast_ns_
                                                                       : img_max_coast_ns_;
      if (t > it.last_update_ns && track::elapsed_ns(t, it.last_update_ns) > limit)
        it.status = track::TrackStatus::kDeleted;
    }
  }

  void predict_image_tracks(int k, TimeNs t) {
    const ImageTrackConfig& ic = cfg_.image_track;
    for (Index s : img_order_) {
      ImageTrack& it = img_[static_cast<std::size_t>(s)];
      if (it.status == track::TrackStatus::kDeleted || it.sensor != k || t <= it.t_ns) continue;
      const double dt = ns_to_s(track::elapsed_ns(t, it.t_ns));
      Mat<6, 6> F = Mat<6, 6>::Identity();
      F(0, 4) = F(1, 5) = dt;
      Mat<6, 6> Q = Mat<6, 6>::Zero();
      Q.diagonal() << ic.q_pos, ic.q_pos, ic.q_size, ic.q_size, ic.q_vel, ic.q_vel;
      Q *= std::abs(dt);
      kalman_predict<6>(it.x, it.P, F, Q);
      it.t_ns = t;
      it.x(2) = std::max(it.x(2), 1.0);  // a box keeps at least a pixel of width and height
      it.x(3) = std::max(it.x(3), 1.0);
    }
  }

  void join_image_track(Index slot, int k, const double* det_box) {
    Index best = -1;
    double best_iou = cfg_.image_track.gate;
    for (Index s : img_order_) {
      const ImageTrack& it = img_[static_cast<std::size_t>(s)];
      if (it.status == track::TrackStatus::kDeleted || it.sensor != k) continue;
      double b[4];
      detail::image_box(it.x, b);
      const double iou = assoc::image_box_iou(b, det_box);
      // An image track that a 3D track LEFT in this frame keeps that track's id, which the
      // deleted 3D record holds until the next frame's compact(): it cannot be joined before
      // (set_id would find the id taken).
      if (iou >= best_iou && (best < 0 || iou > best_iou) && !id_held_by_other(it.id, slot)) {
        best = s;
        best_iou = iou;
      }
    }
    if (best < 0) return;
    const std::int64_t id = img_[static_cast<std::size_t>(best)].id;
    img_order_.erase(std::find(img_order_.begin(), img_order_.end(), best));
    img_free_.push_back(best);
    table_.set_id(slot, id);
  }

  bool id_held_by_other(std::int64_t id, Index slot) const {
    const Index holder = table_.find(id);
    return holder != track::kNoSlot && holder != slot;
  }

  static Vec<4> box_to_meas(const double* b) {
    Vec<4> z;
    z << 0.5 * (b[0] + b[2]), 0.5 * (b[1] + b[3]), b[2] - b[0], b[3] - b[1];
    return z;
  }

  // Inserts an image track (kNoSlot if full, counted). id < 0: a new id from the table.
  Index new_image_track(std::int64_t id, int k, TimeNs t, const double* box) {
    if (img_free_.empty()) {
      ++img_insert_failures_;
      return track::kNoSlot;
    }
    const Index s = img_free_.back();
    img_free_.pop_back();
    ImageTrack& it = img_[static_cast<std::size_t>(s)];
    it = ImageTrack{};
    it.id = id >= 0 ? id : table_.allocate_id();
    it.t_ns = it.birth_t_ns = it.last_update_ns = t;
    it.sensor = k;
    it.status = track::TrackStatus::kTentative;
    it.x.template head<4>() = box_to_meas(box);
    it.x(2) = std::max(it.x(2), 1.0);
    it.x(3) = std::max(it.x(3), 1.0);
    const double r = cfg_.image_track.r;
    it.P.setZero();
    it.P.diagonal() << r, r, r, r, detail::kImageP0VelPx2PerS2, detail::kImageP0VelPx2PerS2;
    // Keep img_order_ sorted by id (a LEAVE reuses an older id).
    const auto pos = std::lower_bound(img_order_.begin(), img_order_.end(), it.id, [&](Index a, std::int64_t v) {
      return img_[static_cast<std::size_t>(a)].id < v;
    });
    img_order_.insert(pos, s);
    return s;
  }

  void image_hit(ImageTrack& it, const Frame& f, Index j, const double* box) {
    const ImageTrackConfig& ic = cfg_.image_track;
    Mat<4, 6> H = Mat<4, 6>::Zero();
    for (int i = 0; i < 4; ++i) H(i, i) = 1.0;
    const Vec<4> y = box_to_meas(box) - H * it.x;
    const Mat<4, 4> R = Mat<4, 4>::Identity() * ic.r;
    Mat<4, 4> Sm;
    Mat<6, 4> K;
    Vec<6> x = it.x;
    Mat<6, 6> P = it.P;
    const UpdateInfo info = kalman_update<6, 4>(x, P, y, H, R, Sm, K);
    if (info.status == UpdateStatus::kOk && all_finite(x) && all_finite(P)) {
      it.x = x;
      it.P = P;
    } else {
      ++stats_.rejected_updates;
    }
    it.x(2) = std::max(it.x(2), 1.0);
    it.x(3) = std::max(it.x(3), 1.0);
    it.window.push(true);
    ++it.hits;
    it.last_update_ns = f.t_ns;
    it.score_sum += score_of(f, j);
    it.detection = static_cast<std::int32_t>(j);
    if (f.class_id != nullptr && f.class_id[j] >= 0) {
      it.class_id = f.class_id[j];
    } else if (f.class_scores != nullptr) {
      const double* cs = f.class_scores + j * cfg_.num_classes;
      it.class_id = static_cast<std::int32_t>(std::max_element(cs, cs + cfg_.num_classes) - cs);
    }
    if (it.status == track::TrackStatus::kTentative) {
      if (it.window.hits_in_last(ic.confirm_window) >= ic.confirm_hits) it.status = track::TrackStatus::kConfirmed;
    } else {
      it.status = track::TrackStatus::kConfirmed;
    }
  }

  void image_frame(const Frame& f, const Common& c, int k, Index nc) {
    constexpr int M = 4;
    // rows: live image tracks of this camera; cols: detections not taken by a 3D track
    Index nr = 0;
    for (Index s : img_order_) {
      const ImageTrack& it = img_[static_cast<std::size_t>(s)];
      if (it.status == track::TrackStatus::kDeleted || it.sensor != k) continue;
      row_slot_[static_cast<std::size_t>(nr++)] = s;
    }
    Index nfree = 0;
    for (Index col = 0; col < nc; ++col) {
      const Index j = col_det_[static_cast<std::size_t>(col)];
      if (det_assigned_[static_cast<std::size_t>(j)]) continue;
      free_cols_[static_cast<std::size_t>(nfree++)] = col;
    }
    const double gate = 1.0 - cfg_.image_track.gate;
    for (Index i = 0; i < nr; ++i) row_to_col_[static_cast<std::size_t>(i)] = assoc::kUnassigned;
    if (nr > 0 && nfree > 0) {
      for (Index i = 0; i < nr; ++i) {
        double b[4];
        detail::image_box(img_[static_cast<std::size_t>(row_slot_[static_cast<std::size_t>(i)])].x, b);
        for (Index q = 0; q < nfree; ++q) {
          const Index col = free_cols_[static_cast<std::size_t>(q)];
          const double iou = assoc::image_box_iou(b, det_z_.data() + col * M);
          cost_[static_cast<std::size_t>(i * nfree + q)] = 1.0 - iou <= gate ? 1.0 - iou : assoc::kForbidden;
        }
      }
      solver_.solve_dense_gated(cost_.data(), nr, nfree, gate, row_to_col_.data(), col_to_row_.data());
    }
    for (Index i = 0; i < nr; ++i) {
      ImageTrack& it = img_[static_cast<std::size_t>(row_slot_[static_cast<std::size_t>(i)])];
      const Index q = row_to_col_[static_cast<std::size_t>(i)];
      if (q == assoc::kUnassigned) {
        it.window.push(false);
        ++it.misses;
        it.detection = -1;
        if (it.status == track::TrackStatus::kConfirmed) it.status = track::TrackStatus::kCoasting;
        continue;
      }
      const Index col = free_cols_[static_cast<std::size_t>(q)];
      const Index j = col_det_[static_cast<std::size_t>(col)];
      det_assigned_[static_cast<std::size_t>(j)] = 1;
      image_hit(it, f, j, det_z_.data() + col * M);
    }
    // births
    for (Index q = 0; q < nfree; ++q) {
      const Index col = free_cols_[static_cast<std::size_t>(q)];
      const Index j = col_det_[static_cast<std::size_t>(col)];
      if (det_assigned_[static_cast<std::size_t>(j)]) continue;
      if (score_of(f, j) < c.cfg.birth_score_threshold) continue;
      const Index s = new_image_track(-1, k, f.t_ns, det_z_.data() + col * M);
      if (s == track::kNoSlot) continue;
      ++stats_.image_births;
      ImageTrack& it = img_[static_cast<std::size_t>(s)];
      image_hit_birth(it, f, j);
    }
  }

  void image_hit_birth(ImageTrack& it, const Frame& f, Index j) {
    it.window.push(true);
    it.hits = 1;
    it.score_sum = score_of(f, j);
    it.detection = static_cast<std::int32_t>(j);
    if (f.class_id != nullptr && f.class_id[j] >= 0) {
      it.class_id = f.class_id[j];
    } else if (f.class_scores != nullptr) {
      const double* cs = f.class_scores + j * cfg_.num_classes;
      it.class_id = static_cast<std::int32_t>(std::max_element(cs, cs + cfg_.num_classes) - cs);
    }
    if (cfg_.image_track.confirm_hits <= 1) it.status = track::TrackStatus::kConfirmed;
  }

  // A confirmed-ever 3D track deleted in this frame continues as an image track of each camera
  // that saw it in its latest frame (within image_track.max_coast_s).
  void leave(Index slot, TimeNs t) {
    for (int k = 0; k < num_sensors(); ++k) {
      const Common& c = common_[static_cast<std::size_t>(k)];
      if (!c.camera || !c.cfg.image_tracks) continue;
      const track::SensorEvidence& ev = table_.evidence(slot, k);
      if (ev.detection < 0 || ev.last_update_ns == track::kNeverNs) continue;
      if (t - ev.last_update_ns > img_max_coast_ns_) continue;
      const Index s = new_image_track(table_.id(slot), k, ev.last_update_ns, cam_box(slot, k));
      if (s == track::kNoSlot) continue;
      ImageTrack& it = img_[static_cast<std::size_t>(s)];
      it.status = track::TrackStatus::kConfirmed;  // it continues a confirmed track
      for (int h = 0; h < cfg_.image_track.confirm_window; ++h) it.window.push(true);
      it.hits = static_cast<std::int32_t>(ev.hits);
      it.misses = static_cast<std::int32_t>(ev.misses);
      it.score_sum = ev.score_sum;
      it.detection = ev.detection;
      it.class_id = table_.most_likely_class(slot);
      break;  // one image track per id
    }
  }

  // ---------------------------------------------------------------- members
  EngineConfig cfg_;
  Motion motion_;
  track::TrackTable<Motion> table_;
  track::Lifecycle lifecycle_;
  track::ClassFusion class_fusion_;
  std::vector<track::ConfusionMatrix> confusions_view_ = make_confusions(cfg_);
  assoc::ClassGate class_gate_;
  assoc::LinearAssignmentSolver solver_;
  std::vector<Common> common_;
  std::vector<SensorVariant> sensors_;
  int max_m_ = 1;

  // per-frame scratch, sized at construction
  std::vector<double> cost_, det_z_, det_R_, cam_box_;
  std::vector<Index> row_to_col_, col_to_row_, col_det_, row_slot_, free_cols_;
  std::vector<char> det_valid_, det_assigned_, left_;
  std::vector<std::int32_t> det_cls_, row_cls_;

  // the associator plug-ins (one Impl per registered associator; reserved if a sensor uses it)
  typename detail::AssociatorTuple<EngineAssociators>::type assoc_;
  std::array<bool, std::tuple_size_v<typename detail::AssociatorTuple<EngineAssociators>::type>> assoc_used_{};
  std::vector<double> col_score_;  // the frame's column scores (two-stage GNN)

  // deferred births of the latest frame (Frame::defer_births)
  Index num_pending_ = 0;
  int pending_sensor_ = 0;
  TimeNs pending_t_ = 0;
  bool pending_has_cs_ = false;
  std::vector<Index> pending_col_;
  std::vector<char> pending_done_;
  std::vector<double> pending_score_, pending_cs_;
  std::vector<std::int32_t> pending_cls_;

  // sparse association (gate_sparse) and the marginals of the associator (apply_marginals), sized at construction
  std::vector<Edge> edges_;
  std::vector<Index> edge_ptr_, edge_col_, cell_start_, cell_items_, col_cell_;
  std::vector<double> edge_cost_, row_hw_, row_zhat_, row_hpht_, scratch_;
  std::vector<std::int64_t> row_id_;
  Index solver_edges_ = 0;
  bool marginals_ = false;  // a sensor's associator outputs marginals (their buffers are allocated)
  std::vector<double> edge_beta_, beta0_, row_llr_, col_prob_;
  Index prob_rows_ = 0;  // rows of the latest frame's JPDA marginals (0: not a JPDA frame)
  AssociationStats last_assoc_{};

  // image tracks
  std::vector<ImageTrack> img_;
  std::vector<Index> img_order_, img_free_;
  TimeNs img_max_coast_ns_ = 0, img_tentative_max_coast_ns_ = 0;
  std::int64_t img_insert_failures_ = 0, failures_at_reset_ = 0;

  // predict_track's F and Q of the latest dt (linear models only; NaN: none)
  Mat<N, N> pred_F_ = Mat<N, N>::Identity(), pred_Q_ = Mat<N, N>::Zero();
  double pred_dt_ = std::numeric_limits<double>::quiet_NaN();

  // the latest frame's sensor pose and motion (frame_pose)
  sensor::SensorMount frame_mount_{};
  sensor::SensorMotion frame_motion_{};

  EngineStats stats_{};
  bool has_time_ = false;
  TimeNs t_latest_ = 0;
};

}  // namespace fusion::engine
