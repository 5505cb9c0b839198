// The engine's registries (motion models, sensor models, costs, associators), configuration
// validation, and make_engine(): the one place where a motion key becomes an Engine<Motion>.
//
// Adding a motion model = its model file + an object_view/state_from_view adapter + one file
// csrc/src/engine_motion_<key>.cpp (its builder, with its motion_noise keys) + its line in
// kMotionRegistry below (and the builder's declaration above it).
#include <cmath>
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fusion/engine/config.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/engine/engine_impl.hpp"
#include "fusion/engine/oosm.hpp"
#include "fusion/engine/sensors.hpp"
#include "fusion/models/motion.hpp"
#include "fusion/motion/with_extent.hpp"

namespace fusion::engine {

// The motion registry's builders, one translation unit each (csrc/src/engine_motion_<key>.cpp,
// which instantiates Engine<Motion> for that model; separate files compile in parallel).
std::unique_ptr<EngineBase> make_cv_box_engine(const EngineConfig& config);
std::unique_ptr<EngineBase> make_ctrv_box_engine(const EngineConfig& config);
std::unique_ptr<EngineBase> make_ca_box_engine(const EngineConfig& config);
std::unique_ptr<EngineBase> make_ctra_box_engine(const EngineConfig& config);
std::unique_ptr<EngineBase> make_ct_box_engine(const EngineConfig& config);
std::unique_ptr<EngineBase> make_bicycle_box_engine(const EngineConfig& config);
std::unique_ptr<EngineBase> make_ctrv_vz_box_engine(const EngineConfig& config);
std::unique_ptr<EngineBase> make_bicycle_vz_box_engine(const EngineConfig& config);
std::unique_ptr<EngineBase> make_cv_point2d_engine(const EngineConfig& config);
std::unique_ptr<EngineBase> make_imm_cv_ctrv_box_engine(const EngineConfig& config);

namespace {

struct MotionEntry {
  const char* key;
  std::unique_ptr<EngineBase> (*make)(const EngineConfig&);
};

const MotionEntry kMotionRegistry[] = {
    {"cv_box", make_cv_box_engine},
    {"ctrv_box", make_ctrv_box_engine},
    {"ca_box", make_ca_box_engine},
    {"ctra_box", make_ctra_box_engine},
    {"ct_box", make_ct_box_engine},
    {"bicycle_box", make_bicycle_box_engine},
    {"ctrv_vz_box", make_ctrv_vz_box_engine},
    {"bicycle_vz_box", make_bicycle_vz_box_engine},
    {"cv_point2d", make_cv_point2d_engine},
    {"imm_cv_ctrv_box", make_imm_cv_ctrv_box_engine},
};

std::vector<std::string> motion_keys() {
  std::vector<std::string> k;
  for (const MotionEntry& e : kMotionRegistry) k.emplace_back(e.key);
  return k;
}

std::vector<std::string> sensor_keys() {
  std::vector<std::string> k;
  sensor::for_each_type(EngineSensorModels{}, [&](auto* tag) {
    using S = std::remove_pointer_t<decltype(tag)>;
    k.emplace_back(SensorKey<S>::kKey);
  });
  return k;
}

// The cost and associator keys, in registry order (engine/costs/registry.hpp,
// engine/associators/registry.hpp).
std::vector<std::string> cost_keys() {
  std::vector<std::string> k;
  sensor::for_each_type(EngineCosts{}, [&](auto* tag) { k.emplace_back(std::remove_pointer_t<decltype(tag)>::kKey); });
  return k;
}
std::vector<std::string> associator_keys() {
  std::vector<std::string> k;
  sensor::for_each_type(EngineAssociators{},
                        [&](auto* tag) { k.emplace_back(std::remove_pointer_t<decltype(tag)>::kKey); });
  return k;
}
// Whether cost `key`'s gate is a gate probability (gate_chi2 may replace it), and the keys of
// those costs for the error message.
bool chi2_gate_cost(const std::string& key) {
  bool yes = false;
  sensor::for_each_type(EngineCosts{}, [&](auto* tag) {
    using C = std::remove_pointer_t<decltype(tag)>;
    yes = yes || (key == C::kKey && C::kChi2Gate);
  });
  return yes;
}
std::string chi2_gate_costs() {
  std::vector<std::string> k;
  sensor::for_each_type(EngineCosts{}, [&](auto* tag) {
    using C = std::remove_pointer_t<decltype(tag)>;
    if (C::kChi2Gate) k.emplace_back(C::kKey);
  });
  return join_keys(k);
}

bool contains(const std::vector<std::string>& keys, const std::string& k) {
  for (const std::string& s : keys)
    if (s == k) return true;
  return false;
}

[[noreturn]] void bad(const std::string& field, const std::string& rule, double got) {
  throw ConfigurationError(field + " must be " + rule + ", got " + std::to_string(got));
}

}  // namespace

const std::vector<std::string> kMotionKeys = motion_keys();
const std::vector<std::string> kSensorKeys = sensor_keys();
const std::vector<std::string> kCostKeys = cost_keys();
const std::vector<std::string> kAssociatorKeys = associator_keys();

std::string join_keys(const std::vector<std::string>& keys) {
  std::string out;
  for (std::size_t i = 0; i < keys.size(); ++i) out += (i ? ", " : "") + keys[i];
  return out;
}

LatePolicy late_policy_from_string(const std::string& key) {
  if (key == "drop") return LatePolicy::kDrop;
  if (key == "raise") return LatePolicy::kRaise;
  throw ConfigurationError("late_policy: unknown value '" + key + "' (known: drop, raise)");
}
BadDetectionPolicy bad_detection_from_string(const std::string& key) {
  if (key == "raise") return BadDetectionPolicy::kRaise;
  if (key == "skip") return BadDetectionPolicy::kSkip;
  throw ConfigurationError("bad_detection: unknown value '" + key + "' (known: raise, skip)");
}
const char* to_string(LatePolicy p) { return p == LatePolicy::kRaise ? "raise" : "drop"; }
const char* to_string(BadDetectionPolicy p) { return p == BadDetectionPolicy::kSkip ? "skip" : "raise"; }

void EngineConfig::validate() const {
  if (!contains(kMotionKeys, motion))
    throw ConfigurationError("motion: unknown motion model '" + motion + "' (known: " +
                             join_keys(kMotionKeys) + ")");
  if ((!imm_transition.empty() || !imm_mu0.empty()) && motion.rfind("imm_", 0) != 0)
    throw ConfigurationError("imm_transition, imm_mu0: only for an IMM motion (imm_*), not '" + motion + "'");
  if (num_classes < 1 || num_classes > track::kMaxRecordClasses)
    bad("num_classes", "in [1, " + std::to_string(track::kMaxRecordClasses) + "]", num_classes);
  if (max_tracks < 1) bad("max_tracks", ">= 1", static_cast<double>(max_tracks));
  if (max_detections < 1) bad("max_detections", ">= 1", static_cast<double>(max_detections));
  if (max_image_tracks < 0) bad("max_image_tracks", ">= 0", static_cast<double>(max_image_tracks));
  if (!(min_size > 0.0 && std::isfinite(min_size))) bad("min_size", "finite and > 0", min_size);
  const ImageTrackConfig& it = image_track;
  if (!(it.gate > 0.0 && it.gate <= 1.0)) bad("image_track.gate", "in (0, 1]", it.gate);
  if (it.confirm_hits < 0 || it.confirm_hits > track::kMaxHistory)
    bad("image_track.confirm_hits", "in [0, " + std::to_string(track::kMaxHistory) + "]", it.confirm_hits);
  if (it.confirm_window < std::max(it.confirm_hits, 1) || it.confirm_window > track::kMaxHistory)
    bad("image_track.confirm_window", "in [max(confirm_hits, 1), " + std::to_string(track::kMaxHistory) + "]", it.confirm_window);
  if (!(it.max_coast_s > 0.0)) bad("image_track.max_coast_s", "> 0", it.max_coast_s);
  if (!(it.tentative_max_coast_s > 0.0)) bad("image_track.tentative_max_coast_s", "> 0", it.tentative_max_coast_s);
  const std::pair<const char*, double> qs[] = {{"q_pos", it.q_pos}, {"q_vel", it.q_vel}, {"q_size", it.q_size}};
  for (const auto& [name, v] : qs)
    if (!(v >= 0.0 && std::isfinite(v))) bad(std::string("image_track.") + name, "finite and >= 0", v);
  if (!(it.r > 0.0 && std::isfinite(it.r))) bad("image_track.r", "finite and > 0", it.r);
  if (sensors.empty() || sensors.size() > static_cast<std::size_t>(track::kMaxRecordSensors))
    bad("sensors", "1 to " + std::to_string(track::kMaxRecordSensors) + " entries",
        static_cast<double>(sensors.size()));
  std::set<std::string> names;
  for (std::size_t k = 0; k < sensors.size(); ++k) {
    const SensorConfig& s = sensors[k];
    const std::string f = "sensors[" + std::to_string(k) + "] (" + s.name + ").";
    if (s.name.empty()) throw ConfigurationError("sensors[" + std::to_string(k) + "].name must not be empty");
    if (!names.insert(s.name).second)
      throw ConfigurationError(f + "name: duplicate sensor name '" + s.name + "'");
    if (!contains(kSensorKeys, s.model))
      throw ConfigurationError(f + "model: unknown sensor model '" + s.model + "' (known: " +
                               join_keys(kSensorKeys) + ")");
    if (!contains(kCostKeys, s.cost))
      throw ConfigurationError(f + "cost: unknown cost '" + s.cost + "' (known: " + join_keys(kCostKeys) + ")");
    if (!contains(kAssociatorKeys, s.associator))
      throw ConfigurationError(f + "associator: unknown associator '" + s.associator + "' (known: " +
                               join_keys(kAssociatorKeys) + ")");
    if (!std::isfinite(s.gate)) bad(f + "gate", "finite", s.gate);
    if (!(s.gate_chi2 >= 0.0 && std::isfinite(s.gate_chi2))) bad(f + "gate_chi2", "finite and >= 0", s.gate_chi2);
    if (s.gate_chi2 > 0.0 && !chi2_gate_cost(s.cost))
      throw ConfigurationError(f + "gate_chi2: only for the chi-square gated costs (" + chi2_gate_costs() + "), not '" +
                               s.cost + "'");
    if (s.two_stage && s.associator != "gnn")
      throw ConfigurationError(f + "two_stage: only with the 'gnn' associator, not '" + s.associator + "'");
    if (std::isnan(s.birth_score_threshold)) bad(f + "birth_score_threshold", "a number", s.birth_score_threshold);
    if (std::isnan(s.score_threshold)) bad(f + "score_threshold", "a number", s.score_threshold);
    if (s.jpda_method != "auto" && s.jpda_method != "enumerate" && s.jpda_method != "exact" && s.jpda_method != "lbp")
      throw ConfigurationError(f + "jpda_method: unknown JPDA method '" + s.jpda_method +
                               "' (known: auto, enumerate, exact, lbp)");
    if (s.jpda_max_states < 1) bad(f + "jpda_max_states", ">= 1", static_cast<double>(s.jpda_max_states));
    if (!(s.jpda_birth_threshold < 0.0 || (s.jpda_birth_threshold >= 0.0 && s.jpda_birth_threshold <= 1.0)))
      bad(f + "jpda_birth_threshold", "< 0 (off) or in [0, 1]", s.jpda_birth_threshold);
    if (!(s.jpda_miss_beta0 > 0.0 && s.jpda_miss_beta0 <= 1.0))
      bad(f + "jpda_miss_beta0", "in (0, 1]", s.jpda_miss_beta0);
  }
}

int EngineBase::sensor_index(const std::string& name) const {
  const auto& s = config().sensors;
  for (std::size_t k = 0; k < s.size(); ++k)
    if (s[k].name == name) return static_cast<int>(k);
  return -1;
}

std::unique_ptr<EngineBase> make_engine(const EngineConfig& config) {
  config.validate();
  for (const MotionEntry& e : kMotionRegistry)
    if (config.motion == e.key) return make_time_layer(config, e.make);  // engine/oosm.hpp: the time layer
  throw ConfigurationError("motion: unknown motion model '" + config.motion + "' (known: " +
                           join_keys(kMotionKeys) + ")");
}

std::vector<RecordField> image_track_record_fields() {
  using R = ImageTrackRecord;
  return {
      {"id", "i8", {}, offsetof(R, id)},
      {"t_ns", "i8", {}, offsetof(R, t_ns)},
      {"birth_t_ns", "i8", {}, offsetof(R, birth_t_ns)},
      {"status", "i4", {}, offsetof(R, status)},
      {"sensor", "i4", {}, offsetof(R, sensor)},
      {"box", "f8", {4}, offsetof(R, box)},
      {"velocity", "f8", {2}, offsetof(R, velocity)},
      {"hits", "i4", {}, offsetof(R, hits)},
      {"misses", "i4", {}, offsetof(R, misses)},
      {"score_sum", "f8", {}, offsetof(R, score_sum)},
      {"detection", "i4", {}, offsetof(R, detection)},
      {"class_id", "i4", {}, offsetof(R, class_id)},
  };
}

}  // namespace fusion::engine
