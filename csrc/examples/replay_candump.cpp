// replay_candump: a candump-format CAN log through the fusion engine, in C++ without Python
// (issue 11 "Without Python"; the API is documented in docs/cpp_api.md).
//
//   fusion_replay_candump --log drive.log --layout rig.layout [--config engine.cfg] [--out tracks.csv] [--print]
//
//   --log     a candump -L log: "(seconds) channel ID#DATA [T|R]" lines (can-utils' candump -L,
//             the candump log writer of the harness); ID has 3 hex digits (a standard 11-bit id:
//             one above 7FF is refused, naming the line) or 8 (extended, 29 bits); CAN FD frames
//             are "ID##<flags digit><up to 64 data bytes>"
//   --layout  the rig layout written on the host by scripts/dbc_layout.py from a rig TOML and its
//             DBC files: channel -> bus map, the engine configuration (EngineConfig, flattened
//             spec keys), the sensors' object slots and signal bit layouts, the ego-motion inputs
//   --config  optional: the engine configuration from this file instead of the layout's (`spec KEY
//             VALUES` lines, the keys of EngineConfig / fusion's EngineConfig.to_spec(); written
//             by scripts/dbc_layout.py --config-out, or by hand)
//   --out     tracks CSV, the columns of `fusion replay`'s tracks.csv (fusion.hil.outputs)
//   --print   print every cycle's tracks on stdout (default: a summary, plus the last cycle)
//   --threads N  also replay the log in N threads at once, one engine each, and check that every
//             thread's tracks equal the single-threaded run's (digest of the rows): distinct
//             engines share no state (docs/cpp_api.md "Thread safety"); exit 3 if they differ
//
// What it does is what fusion.hil.replay.Replayer does with the same rig (so that the tracks are
// those of `fusion replay LOG --rig RIG --out DIR`; tests/test_cpp_example.py compares them):
//   * frames are routed by (bus, CAN id); a frame whose payload length is not the DBC length, an
//     error or remote frame, an unknown id, or a timestamp older than the engine's
//     out-of-sequence horizon is skipped (counted);
//   * a CAN FD frame is decoded when the DBC declares its message CAN FD (the layout's `fd`
//     lines) and otherwise skipped and counted ("CAN FD on a classic message", the Python
//     replay's fd_on_classic); a classic frame of an FD message is decoded when its length fits;
//   * fixed-slot object lists (dbc_object_list with slots): a cycle ends when every slot has
//     arrived (time: its last frame) or when a slot arrives a second time (the cycle so far is
//     fused as cut off, time: its last frame); invalid objects (valid signal 0) are dropped;
//     fields are value * scale + offset, range/azimuth from x/y with polar_from_xy;
//   * detections of one cycle closer than the merge gates are merged into their mean (the
//     radar's double-reported objects, fusion.hil.replay.merge_detections);
//   * ego motion (vehicle_motion): a sample (speed, yaw rate) on each frame of the emit_on
//     message once every input has been seen; sensor cycles before the first sample wait for it
//     (at most ego_max_extrapolation_s), so the odometry frame is the vehicle frame at the first
//     sample; samples go to the engine before the next sensor cycle;
//   * after each fused cycle, the confirmed and coasting tracks in the odometry frame and, with
//     ego motion, in the vehicle frame at the engine's time.
// Not done here (the Python harness does them; neither changes the tracks of a sound log): the
// check of a timestamp jumping more than an hour ahead, DBC range checks, per-id report counters.
// Exit status: 0 done, 1 bad input (a message names the file and line), 2 usage.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/engine/oosm.hpp"
#include "fusion/track/lifecycle.hpp"

// Heap allocations are counted (operator new below) so that the summary can show that the
// engine's calls (process, add_ego_motion, the exports) allocate nothing once warm: the
// board path's steady state (docs/cpp_api.md). The example's own code (its vectors, the
// CSV text) is not written to be allocation-free and is not counted.
namespace {
std::atomic<long> g_allocs{0};
}  // namespace

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using fusion::Index;
using fusion::TimeNs;
namespace eng = fusion::engine;

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------- signals (DBC bit layouts)
struct Signal {
  int start = 0, length = 0;  // start: LSB bit (little endian) or msb0 index of the MSB (big endian)
  bool big = false, is_signed = false, is_float = false;
  double scale = 1.0, offset = 0.0;
};

std::uint64_t extract(const std::uint8_t* d, int start, int length, bool big) {
  const std::uint64_t mask = length >= 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << length) - 1);
  std::uint64_t acc = 0;
  if (big) {
    const int first = start >> 3, last = (start + length - 1) >> 3;
    if ((start & 7) + length <= 64) {
      for (int i = first; i <= last; ++i) acc = (acc << 8) | d[i];
      return (acc >> ((last + 1) * 8 - (start + length))) & mask;
    }
    for (int k = 0; k < length; ++k) {
      const int bit = start + k;
      acc = (acc << 1) | ((d[bit >> 3] >> (7 - (bit & 7))) & 1U);
    }
    return acc;
  }
  const int first = start >> 3, last = (start + length - 1) >> 3;
  if ((start & 7) + length <= 64) {
    for (int i = last; i >= first; --i) acc = (acc << 8) | d[i];
    return (acc >> (start & 7)) & mask;
  }
  for (int k = 0; k < length; ++k) {
    const int bit = start + k;
    acc |= static_cast<std::uint64_t>((d[bit >> 3] >> (bit & 7)) & 1U) << k;
  }
  return acc;
}

// raw * scale + offset in double precision (the build has -ffp-contract=off: no fused multiply-add),
// as the harness's DBC decoding computes it.
double decode(const Signal& s, const std::uint8_t* d) {
  const std::uint64_t raw = extract(d, s.start, s.length, s.big);
  double x;
  if (s.is_float) {
    if (s.length == 32) {
      const auto bits = static_cast<std::uint32_t>(raw);
      float f;
      std::memcpy(&f, &bits, 4);
      x = static_cast<double>(f);
    } else {
      std::memcpy(&x, &raw, 8);
    }
  } else if (s.is_signed && s.length < 64 && ((raw >> (s.length - 1)) & 1U)) {
    x = static_cast<double>(static_cast<std::int64_t>(raw | ~((std::uint64_t{1} << s.length) - 1)));
  } else if (s.is_signed) {
    x = static_cast<double>(static_cast<std::int64_t>(raw));
  } else {
    x = static_cast<double>(raw);
  }
  return x * s.scale + s.offset;
}

// ---------------------------------------------------------------- the rig layout file
struct Field {
  std::string name;
  double scale = 1.0, offset = 0.0;  // applied after the DBC's scaling
  Signal sig;
};
struct Slot {
  std::uint32_t id = 0;
  bool ext = false;
  int dlc = 0;
  std::vector<Field> fields;
  bool has_valid = false;
  Signal valid;
};
struct SensorLayout {
  int index = 0;
  std::string name, model, bus;
  std::vector<std::string> components;
  bool merge = false;
  double merge_distance_m = 0.0, merge_range_rate_mps = 0.0;
  bool polar = false;
  std::vector<Slot> slots;
};
struct EgoInput {
  std::string name;  // yaw_rate, speed, wheel_speeds
  std::uint32_t id = 0;
  bool ext = false;
  int dlc = 0;
  double scale = 1.0, offset = 0.0;
  std::vector<Signal> sigs;
};
struct Layout {
  std::map<std::string, std::string> channels;  // log channel -> bus
  eng::EngineConfig config;
  std::vector<SensorLayout> sensors;
  bool has_ego = false;
  std::string ego_bus;
  std::uint32_t ego_emit_id = 0;
  std::vector<EgoInput> ego_inputs;
  std::set<std::tuple<std::string, std::uint32_t, bool>> fd;  // (bus, id, extended) of CAN FD messages
};

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    const std::size_t j = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > j) out.push_back(line.substr(j, i - j));
  }
  return out;
}

struct Parser {
  std::string where;  // "file:line"
  [[noreturn]] void fail(const std::string& why) const { throw InputError(where + ": " + why); }
  double num(const std::string& s) const {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0') fail("expected a number, got '" + s + "'");
    return v;
  }
  long integer(const std::string& s) const {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (end == s.c_str() || *end != '\0' || errno == ERANGE) fail("expected an integer, got '" + s + "'");
    return v;
  }
  bool boolean(const std::string& s) const {
    if (s == "true") return true;
    if (s == "false") return false;
    fail("expected true or false, got '" + s + "'");
  }
  Signal signal(const std::vector<std::string>& t, std::size_t at) const {
    if (t.size() != at + 7) fail("expected 7 signal values (start length big signed float scale offset)");
    Signal s;
    s.start = static_cast<int>(integer(t[at]));
    s.length = static_cast<int>(integer(t[at + 1]));
    s.big = integer(t[at + 2]) != 0;
    s.is_signed = integer(t[at + 3]) != 0;
    s.is_float = integer(t[at + 4]) != 0;
    s.scale = num(t[at + 5]);
    s.offset = num(t[at + 6]);
    if (s.length < 1 || s.length > 64 || s.start < 0 || s.start + s.length > 512) fail("signal bits out of range");
    return s;
  }
};

// One `spec KEY VALUES` line into the EngineConfig (the keys of fusion's EngineConfig.to_spec()).
void apply_spec(eng::EngineConfig& c, const std::string& key, const std::vector<std::string>& v, const Parser& p) {
  auto one = [&]() -> const std::string& {
    if (v.size() != 1) p.fail(key + ": expected one value");
    return v[0];
  };
  auto nums = [&] {
    std::vector<double> out;
    for (const auto& s : v) out.push_back(p.num(s));
    return out;
  };
  auto d = [&] { return p.num(one()); };
  auto i32 = [&] { return static_cast<std::int32_t>(p.integer(one())); };
  auto b = [&] { return p.boolean(one()); };
  using fusion::track::LifecyclePolicy;
  LifecyclePolicy& l = c.lifecycle;
  eng::ImageTrackConfig& it = c.image_track;
  const std::map<std::string, std::function<void()>> top = {
      {"motion", [&] { c.motion = one(); }},
      {"q_diag_per_s", [&] { c.q_diag_per_s = nums(); }},
      {"p0_diag", [&] { c.p0_diag = nums(); }},
      {"imm_transition", [&] { c.imm_transition = nums(); }},
      {"imm_mu0", [&] { c.imm_mu0 = nums(); }},
      {"num_classes", [&] { c.num_classes = i32(); }},
      {"max_tracks", [&] { c.max_tracks = p.integer(one()); }},
      {"max_detections", [&] { c.max_detections = p.integer(one()); }},
      {"max_image_tracks", [&] { c.max_image_tracks = p.integer(one()); }},
      {"min_size", [&] { c.min_size = d(); }},
      {"late_policy", [&] { c.late_policy = eng::late_policy_from_string(one()); }},
      {"bad_detection", [&] { c.bad_detection = eng::bad_detection_from_string(one()); }},
      {"oosm_horizon_s", [&] { c.oosm_horizon_s = d(); }},
      {"oosm_max_frames", [&] { c.oosm_max_frames = p.integer(one()); }},
      {"ego_max_gap_s", [&] { c.ego_max_gap_s = d(); }},
      {"ego_max_extrapolation_s", [&] { c.ego_max_extrapolation_s = d(); }},
      {"extent_noise.z_m2_per_s", [&] { c.extent_noise.z_m2_per_s = d(); }},
      {"extent_noise.yaw_rad2_per_s", [&] { c.extent_noise.yaw_rad2_per_s = d(); }},
      {"extent_noise.length_m2_per_s", [&] { c.extent_noise.length_m2_per_s = d(); }},
      {"extent_noise.width_m2_per_s", [&] { c.extent_noise.width_m2_per_s = d(); }},
      {"extent_noise.height_m2_per_s", [&] { c.extent_noise.height_m2_per_s = d(); }},
      {"lifecycle.confirm_hits", [&] { l.confirm_hits = i32(); }},
      {"lifecycle.confirm_window", [&] { l.confirm_window = i32(); }},
      {"lifecycle.confirm_by_existence", [&] { l.confirm_by_existence = b(); }},
      {"lifecycle.confirm_existence", [&] { l.confirm_existence = d(); }},
      {"lifecycle.delete_existence", [&] { l.delete_existence = d(); }},
      {"lifecycle.birth_existence", [&] { l.birth_existence = d(); }},
      {"lifecycle.max_coast_s", [&] { l.max_coast_s = d(); }},
      {"lifecycle.tentative_max_coast_s", [&] { l.tentative_max_coast_s = d(); }},
      {"lifecycle.mean_lifetime_s", [&] { l.mean_lifetime_s = d(); }},
      {"lifecycle.tentative_max_misses", [&] { l.tentative_max_misses = i32(); }},
      {"lifecycle.max_misses", [&] { l.max_misses = i32(); }},
      {"lifecycle.miss_max_coast_s", [&] { l.miss_max_coast_s = d(); }},
      {"lifecycle.confirm_rule", [&] { l.confirm_rule = fusion::track::confirm_rule_from_string(one()); }},
      {"lifecycle.existence_model", [&] { l.existence_model = fusion::track::existence_model_from_string(one()); }},
      {"lifecycle.llr_init", [&] { l.llr_init = d(); }},
      {"lifecycle.llr_confirm", [&] { l.llr_confirm = d(); }},
      {"lifecycle.llr_delete", [&] { l.llr_delete = d(); }},
      {"lifecycle.llr_max", [&] { l.llr_max = d(); }},
      {"image_track.gate", [&] { it.gate = d(); }},
      {"image_track.confirm_hits", [&] { it.confirm_hits = i32(); }},
      {"image_track.confirm_window", [&] { it.confirm_window = i32(); }},
      {"image_track.max_coast_s", [&] { it.max_coast_s = d(); }},
      {"image_track.tentative_max_coast_s", [&] { it.tentative_max_coast_s = d(); }},
      {"image_track.q_pos", [&] { it.q_pos = d(); }},
      {"image_track.q_vel", [&] { it.q_vel = d(); }},
      {"image_track.q_size", [&] { it.q_size = d(); }},
      {"image_track.r", [&] { it.r = d(); }},
  };
  if (auto f = top.find(key); f != top.end()) return f->second();
  if (key.rfind("motion_noise.", 0) == 0) {
    c.motion_noise.emplace_back(key.substr(13), d());
    return;
  }
  if (key.rfind("sensors.", 0) != 0) p.fail("unknown engine key '" + key + "'");
  const std::size_t dot = key.find('.', 8);
  if (dot == std::string::npos) p.fail("bad sensor key '" + key + "'");
  const long k = p.integer(key.substr(8, dot - 8));
  if (k < 0 || k > 64) p.fail("sensor index out of range in '" + key + "'");
  if (c.sensors.size() <= static_cast<std::size_t>(k)) c.sensors.resize(static_cast<std::size_t>(k) + 1);
  eng::SensorConfig& s = c.sensors[static_cast<std::size_t>(k)];
  const std::string f = key.substr(dot + 1);
  auto fixed = [&](std::size_t n) {
    auto x = nums();
    if (x.size() != n) p.fail(key + ": expected " + std::to_string(n) + " values");
    return x;
  };
  const std::map<std::string, std::function<void()>> sensor = {
      {"name", [&] { s.name = one(); }},
      {"model", [&] { s.model = one(); }},
      {"mount_R", [&] { auto x = fixed(9); for (int i = 0; i < 9; ++i) s.mount_R(i / 3, i % 3) = x[static_cast<std::size_t>(i)]; }},
      {"mount_t", [&] { auto x = fixed(3); for (int i = 0; i < 3; ++i) s.mount_t(i) = x[static_cast<std::size_t>(i)]; }},
      {"fov.azimuth_half_rad", [&] { s.fov.azimuth_half_rad = d(); }},
      {"fov.elevation_half_rad", [&] { s.fov.elevation_half_rad = d(); }},
      {"fov.min_range_m", [&] { s.fov.min_range_m = d(); }},
      {"fov.max_range_m", [&] { s.fov.max_range_m = d(); }},
      {"projection", [&] {
         auto x = fixed(12);
         for (int i = 0; i < 12; ++i) s.projection(i / 4, i % 4) = x[static_cast<std::size_t>(i)];
         s.has_projection = true;
       }},
      {"image_size", [&] { auto x = fixed(2); s.image_width_px = x[0]; s.image_height_px = x[1]; }},
      {"R", [&] { s.R = nums(); }},
      {"cost", [&] { s.cost = one(); }},
      {"gate", [&] { s.gate = d(); }},
      {"gate_chi2", [&] { s.gate_chi2 = d(); }},
      {"two_stage", [&] { s.two_stage = b(); }},
      {"associator", [&] { s.associator = one(); }},
      {"jpda_method", [&] { s.jpda_method = one(); }},
      {"jpda_max_states", [&] { s.jpda_max_states = p.integer(one()); }},
      {"jpda_birth_threshold", [&] { s.jpda_birth_threshold = d(); }},
      {"jpda_miss_beta0", [&] { s.jpda_miss_beta0 = d(); }},
      {"update_state", [&] { s.update_state = b(); }},
      {"births", [&] { s.births = b(); }},
      {"birth_score_threshold", [&] { s.birth_score_threshold = d(); }},
      {"score_threshold", [&] { s.score_threshold = d(); }},
      {"pd", [&] { s.pd = d(); }},
      {"gate_probability", [&] { s.gate_probability = d(); }},
      {"clutter_density", [&] { s.clutter_density = d(); }},
      {"nominal_likelihood_ratio", [&] { s.nominal_likelihood_ratio = d(); }},
      {"counts_for_confirmation", [&] { s.counts_for_confirmation = b(); }},
      {"counts_for_coast", [&] { s.counts_for_coast = b(); }},
      {"confusion", [&] { s.confusion = nums(); }},
      {"image_tracks", [&] { s.image_tracks = b(); }},
  };
  auto g = sensor.find(f);
  if (g == sensor.end()) p.fail("unknown sensor key '" + f + "' in '" + key + "'");
  g->second();
}

// The layout file (every line kind), or with specs_only a separate engine configuration file of
// `spec` lines (--config), whose lines replace the layout's engine configuration.
Layout read_layout(const std::string& path, bool specs_only = false) {
  FILE* fp = std::fopen(path.c_str(), "r");
  if (!fp) throw InputError(path + ": cannot open the layout file (" + std::strerror(errno) + ")");
  std::unique_ptr<FILE, int (*)(FILE*)> guard(fp, &std::fclose);
  Layout L;
  Parser p;
  char buf[8192];
  int lineno = 0;
  bool header = false;
  auto sensor = [&](const std::string& s) -> SensorLayout& {
    const long k = p.integer(s);
    for (auto& x : L.sensors)
      if (x.index == k) return x;
    p.fail("sensor " + s + " is not declared (a 'sensor' line comes first)");
  };
  auto slot = [&](SensorLayout& s, const std::string& id) -> Slot& {
    const auto fid = static_cast<std::uint32_t>(p.integer(id));
    for (auto& x : s.slots)
      if (x.id == fid) return x;
    p.fail("frame id " + id + " is not a slot of sensor " + s.name);
  };
  while (std::fgets(buf, sizeof buf, fp)) {
    ++lineno;
    p.where = path + ":" + std::to_string(lineno);
    std::string line(buf);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    else if (!std::feof(fp)) p.fail("line too long");
    if (lineno == 1) {
      header = line == "# fusion-rig-layout 1" || (specs_only && line == "# fusion-engine-config 1");
      if (!header) p.fail("not a rig layout of format 1 (scripts/dbc_layout.py writes '# fusion-rig-layout 1')");
    }
    const auto t = split(line);
    if (t.empty() || t[0][0] == '#') continue;
    const std::string& kind = t[0];
    if (specs_only && kind != "spec") p.fail("an engine configuration file holds 'spec' lines only");
    if (kind == "rig") continue;
    if (kind == "channel") {
      if (t.size() != 3) p.fail("expected: channel LOG_CHANNEL BUS");
      L.channels[t[1]] = t[2];
    } else if (kind == "spec") {
      if (t.size() < 3) p.fail("expected: spec KEY VALUES");
      apply_spec(L.config, t[1], std::vector<std::string>(t.begin() + 2, t.end()), p);
    } else if (kind == "sensor") {
      if (t.size() != 8) p.fail("expected: sensor K NAME MODEL BUS COMPONENTS MERGE_DISTANCE MERGE_RANGE_RATE");
      SensorLayout s;
      s.index = static_cast<int>(p.integer(t[1]));
      s.name = t[2], s.model = t[3], s.bus = t[4];
      std::size_t a = 0;
      while (a <= t[5].size()) {
        const std::size_t b = t[5].find(',', a);
        s.components.push_back(t[5].substr(a, b == std::string::npos ? std::string::npos : b - a));
        if (b == std::string::npos) break;
        a = b + 1;
      }
      if (t[6] != "-") s.merge = true, s.merge_distance_m = p.num(t[6]), s.merge_range_rate_mps = p.num(t[7]);
      L.sensors.push_back(std::move(s));
    } else if (kind == "polar") {
      if (t.size() != 2) p.fail("expected: polar K");
      sensor(t[1]).polar = true;
    } else if (kind == "slot") {
      if (t.size() != 5) p.fail("expected: slot K FRAME_ID EXTENDED DLC");
      Slot s;
      s.id = static_cast<std::uint32_t>(p.integer(t[2]));
      s.ext = p.integer(t[3]) != 0;
      s.dlc = static_cast<int>(p.integer(t[4]));
      if (s.dlc < 1 || s.dlc > 64) p.fail("DLC out of range");
      sensor(t[1]).slots.push_back(s);
    } else if (kind == "field") {
      if (t.size() != 13) p.fail("expected: field K FRAME_ID NAME SCALE OFFSET + 7 signal values");
      Field f;
      f.name = t[3];
      f.scale = p.num(t[4]);
      f.offset = p.num(t[5]);
      f.sig = p.signal(t, 6);
      slot(sensor(t[1]), t[2]).fields.push_back(f);
    } else if (kind == "valid") {
      if (t.size() != 10) p.fail("expected: valid K FRAME_ID + 7 signal values");
      Slot& s = slot(sensor(t[1]), t[2]);
      s.has_valid = true;
      s.valid = p.signal(t, 3);
    } else if (kind == "fd") {
      if (t.size() != 4) p.fail("expected: fd BUS FRAME_ID EXTENDED");
      L.fd.emplace(t[1], static_cast<std::uint32_t>(p.integer(t[2])), p.integer(t[3]) != 0);
    } else if (kind == "ego") {
      if (t.size() != 3) p.fail("expected: ego BUS EMIT_ON_FRAME_ID");
      L.has_ego = true;
      L.ego_bus = t[1];
      L.ego_emit_id = static_cast<std::uint32_t>(p.integer(t[2]));
    } else if (kind == "ego_input") {
      if (t.size() != 14) p.fail("expected: ego_input NAME FRAME_ID EXTENDED DLC SCALE OFFSET + 7 signal values");
      EgoInput* in = nullptr;
      for (auto& x : L.ego_inputs)
        if (x.name == t[1]) in = &x;
      if (!in) {
        L.ego_inputs.emplace_back();
        in = &L.ego_inputs.back();
        in->name = t[1];
        in->id = static_cast<std::uint32_t>(p.integer(t[2]));
        in->ext = p.integer(t[3]) != 0;
        in->dlc = static_cast<int>(p.integer(t[4]));
        in->scale = p.num(t[5]);
        in->offset = p.num(t[6]);
      }
      in->sigs.push_back(p.signal(t, 7));
    } else {
      p.fail("unknown line kind '" + kind + "'");
    }
  }
  p.where = path;
  if (!header) p.fail("empty layout file");
  if (specs_only) return L;
  for (std::size_t k = 0; k < L.sensors.size(); ++k) {
    const auto& s = L.sensors[k];
    if (s.index != static_cast<int>(k)) p.fail("sensors must be declared in engine order 0, 1, ...");
    if (s.slots.empty()) p.fail("sensor " + s.name + " has no slots");
    for (const auto& c : s.components)
      for (const auto& sl : s.slots) {
        bool have = s.polar && (c == "range" || c == "azimuth");
        for (const auto& f : sl.fields) have = have || f.name == c;
        if (!have) p.fail("sensor " + s.name + ": component '" + c + "' is no field of slot " + std::to_string(sl.id));
      }
  }
  if (L.has_ego) {
    bool yaw = false, speed = false, wheels = false;
    for (const auto& in : L.ego_inputs)
      yaw |= in.name == "yaw_rate", speed |= in.name == "speed", wheels |= in.name == "wheel_speeds";
    if (!yaw || !(speed || wheels)) p.fail("ego: needs a yaw_rate input and a speed or wheel_speeds input");
  }
  return L;
}

// ---------------------------------------------------------------- the replay
constexpr std::int32_t kConfirmed = 1, kCoasting = 2;  // TrackStatus

struct Route {
  int sensor = -1;      // sensor index, or -1 for an ego input
  int slot = -1;        // slot index (sensor)
  int ego_input = -1;   // index into ego_inputs (ego)
  bool emit = false;    // the ego sample's emit_on message
  int dlc = 0;
  bool fd = false;      // a CAN FD message (the layout's `fd` line): only then is an FD frame decoded
};

struct SensorState {  // the cycle being assembled (fixed slots)
  std::vector<char> seen;
  std::vector<double> rows;  // n x components (valid objects only)
  Index n_valid = 0, n_frames = 0;
  TimeNs last_t = 0;
};

class Replay {
 public:
  Replay(Layout layout, FILE* csv, bool print_all)
      : L_(std::move(layout)), csv_(csv), print_all_(print_all) {
    engine_ = eng::make_engine(L_.config);
    oosm_ = dynamic_cast<eng::OosmEngine*>(engine_.get());
    if (oosm_ == nullptr) throw InputError("make_engine did not return the time layer (OosmEngine)");
    const auto fields = engine_->track_record_fields();
    for (const auto& f : fields) off_[f.name] = f.offset;
    for (const char* need : {"id", "status", "box", "velocity", "class_id", "existence"})
      if (!off_.count(need)) throw InputError(std::string("track record has no field ") + need);
    rec_size_ = engine_->track_record_size();
    const auto cap = static_cast<std::size_t>(L_.config.max_tracks);
    odo_buf_.resize(cap * rec_size_);
    veh_buf_.resize(cap * rec_size_);
    for (std::size_t k = 0; k < L_.sensors.size(); ++k) {
      const auto& s = L_.sensors[k];
      SensorState st;
      st.seen.assign(s.slots.size(), 0);
      st.rows.resize(s.slots.size() * s.components.size());
      state_.push_back(std::move(st));
      for (std::size_t j = 0; j < s.slots.size(); ++j) {
        Route r;
        r.sensor = static_cast<int>(k), r.slot = static_cast<int>(j), r.dlc = s.slots[j].dlc;
        add_route(s.bus, s.slots[j].id, s.slots[j].ext, r);
      }
    }
    for (std::size_t i = 0; i < L_.ego_inputs.size(); ++i) {
      const auto& in = L_.ego_inputs[i];
      Route r;
      r.ego_input = static_cast<int>(i), r.dlc = in.dlc, r.emit = in.id == L_.ego_emit_id;
      auto key = std::make_tuple(L_.ego_bus, in.id, in.ext);
      if (routes_.count(key)) {  // several inputs of one message (e.g. speed and yaw rate)
        extra_inputs_[key].push_back(static_cast<int>(i));
        continue;
      }
      add_route(L_.ego_bus, in.id, in.ext, r);
    }
    latest_.resize(L_.ego_inputs.size());
    have_.assign(L_.ego_inputs.size(), 0);
    back_ns_ = static_cast<TimeNs>(std::llround(L_.config.oosm_horizon_s * 1e9));
    extrap_ns_ = static_cast<TimeNs>(std::llround(L_.config.ego_max_extrapolation_s * 1e9));
    if (csv_) std::fputs("t_ns,track_id,x,y,vx,vy,yaw,length,width,class,existence,x_vehicle,y_vehicle\n", csv_);
  }

  void feed(TimeNs t, const std::string& channel, std::uint32_t id, bool ext, bool fd, bool err, bool rtr,
            const std::uint8_t* data, int len) {
    ++frames_;
    if (t >= last_t_ || !have_t_) {
      last_t_ = t, have_t_ = true;
    } else if (last_t_ - t > back_ns_) {
      ++skipped_time_;
      return;
    }
    auto ch = L_.channels.find(channel);
    const std::string& bus = ch == L_.channels.end() ? channel : ch->second;
    auto it = routes_.find(std::make_tuple(bus, id, ext));
    if (it == routes_.end() || err || rtr) {
      ++unknown_;
      return;
    }
    const Route& r = it->second;
    if (fd && !r.fd) {  // as fusion replay's fd_on_classic: an FD frame for a classic CAN message
      ++fd_on_classic_;
      return;
    }
    if (len != r.dlc) {
      ++wrong_length_;
      return;
    }
    if (r.sensor >= 0) return object_frame(r, t, id, data);
    ego_frame(it->first, r, t, data);
  }

  void finish() {
    for (std::size_t k = 0; k < L_.sensors.size(); ++k)
      if (state_[k].n_frames) emit_cycle(static_cast<int>(k), state_[k].last_t);
    if (!held_.empty()) {
      ego_given_up_ = true;
      release_held();
    }
    give_ego();
  }

  void summary(FILE* out) const {
    std::fprintf(out, "frames %ld, cycles %ld, track rows %ld, ego samples %ld, unknown/error/remote %ld, "
                 "wrong length %ld, CAN FD on a classic message %ld, late %ld, rejected cycles %ld\n",
                 frames_, cycles_, rows_, ego_samples_, unknown_, wrong_length_, fd_on_classic_, skipped_time_,
                 rejected_);
    const auto st = engine_->stats();
    std::fprintf(out, "engine: frames %lld, detections %lld, births %lld, deletions %lld, live tracks %ld\n",
                 static_cast<long long>(st.frames), static_cast<long long>(st.detections),
                 static_cast<long long>(st.births), static_cast<long long>(st.deletions),
                 static_cast<long>(engine_->num_tracks()));
    std::fprintf(out, "engine heap allocations after %ld warm-up cycles: %ld\n", kWarmCycles, engine_allocs_);
  }
  void print_last(FILE* out) const { std::fputs(last_print_.c_str(), out); }
  // FNV-1a digest of every track row (the CSV text), to compare runs.
  std::uint64_t digest() const { return digest_; }

 private:
  using Key = std::tuple<std::string, std::uint32_t, bool>;

  void add_route(const std::string& bus, std::uint32_t id, bool ext, const Route& r) {
    const auto key = std::make_tuple(bus, id, ext);
    if (!routes_.emplace(key, r).second)
      throw InputError("CAN id " + std::to_string(id) + " on bus " + bus + " is taken twice by the layout");
    routes_[key].fd = L_.fd.count(key) != 0;
  }

  void object_frame(const Route& r, TimeNs t, std::uint32_t /*id*/, const std::uint8_t* data) {
    const SensorLayout& s = L_.sensors[static_cast<std::size_t>(r.sensor)];
    SensorState& st = state_[static_cast<std::size_t>(r.sensor)];
    const auto j = static_cast<std::size_t>(r.slot);
    if (st.seen[j]) emit_cycle(r.sensor, st.last_t);  // the slot repeats: the previous cycle was cut short
    st.seen[j] = 1;
    const Slot& slot = s.slots[j];
    ++st.n_frames;
    st.last_t = t;
    if (!slot.has_valid || decode(slot.valid, data) != 0.0) {
      double x = 0.0, y = 0.0;
      const std::size_t m = s.components.size();
      double* row = &st.rows[static_cast<std::size_t>(st.n_valid) * m];
      for (std::size_t c = 0; c < m; ++c) row[c] = std::nan("");
      for (const Field& f : slot.fields) {
        const double v = decode(f.sig, data) * f.scale + f.offset;
        if (f.name == "x") x = v;
        if (f.name == "y") y = v;
        for (std::size_t c = 0; c < m; ++c)
          if (s.components[c] == f.name) row[c] = v;
      }
      if (s.polar)
        for (std::size_t c = 0; c < m; ++c) {
          if (s.components[c] == "range") row[c] = std::hypot(x, y);
          if (s.components[c] == "azimuth") row[c] = std::atan2(y, x);
        }
      ++st.n_valid;
    }
    if (st.n_frames == static_cast<Index>(s.slots.size())) emit_cycle(r.sensor, t);
  }

  void ego_frame(const Key& key, const Route& r, TimeNs t, const std::uint8_t* data) {
    auto read = [&](int i) {
      const EgoInput& in = L_.ego_inputs[static_cast<std::size_t>(i)];
      auto& v = latest_[static_cast<std::size_t>(i)];
      v.clear();
      for (const Signal& s : in.sigs) v.push_back(decode(s, data) * in.scale + in.offset);
      have_[static_cast<std::size_t>(i)] = 1;
    };
    read(r.ego_input);
    if (auto e = extra_inputs_.find(key); e != extra_inputs_.end())
      for (int i : e->second) read(i);
    if (!r.emit) return;
    for (char h : have_)
      if (!h) return;
    double speed = 0.0, yaw = 0.0;
    bool has_speed = false;
    const std::vector<double>* wheels = nullptr;
    for (std::size_t i = 0; i < L_.ego_inputs.size(); ++i) {
      const auto& n = L_.ego_inputs[i].name;
      if (n == "yaw_rate") yaw = latest_[i][0];
      if (n == "speed") speed = latest_[i][0], has_speed = true;
      if (n == "wheel_speeds") wheels = &latest_[i];
    }
    if (!has_speed && wheels) {  // the mean of the wheel speeds, summed in order as Python's sum()
      double sum = 0.0;
      for (double w : *wheels) sum += w;
      speed = sum / static_cast<double>(wheels->size());
    }
    ++ego_samples_;
    ego_t_.push_back(t), ego_v_.push_back(speed), ego_w_.push_back(yaw);
    if (!ego_started_) {
      ego_started_ = true;
      release_held();
    }
  }

  // Engine calls after this many fused cycles count in engine_allocs_ (the history of the
  // out-of-sequence layer reaches its working size within its horizon: 0.3 s, 6 radar cycles).
  static constexpr long kWarmCycles = 50;
  struct Counted {  // adds the allocations made in its scope to *sum when armed
    long* sum;
    bool armed;
    long a0 = g_allocs.load(std::memory_order_relaxed);
    ~Counted() {
      if (armed) *sum += g_allocs.load(std::memory_order_relaxed) - a0;
    }
  };

  void give_ego() {
    if (ego_t_.empty()) return;
    Counted counted{&engine_allocs_, cycles_ >= kWarmCycles};
    try {
      oosm_->add_ego_motion(ego_t_.data(), ego_v_.data(), ego_w_.data(), static_cast<Index>(ego_t_.size()));
    } catch (const std::logic_error&) {  // one by one, skipping the bad samples (as the Python harness)
      for (std::size_t i = 0; i < ego_t_.size(); ++i) {
        try {
          oosm_->add_ego_motion(ego_t_[i], ego_v_[i], ego_w_[i]);
        } catch (const std::logic_error& e) {
          std::fprintf(stderr, "replay_candump: ego-motion sample at t_ns=%lld rejected: %s\n",
                       static_cast<long long>(ego_t_[i]), e.what());
        }
      }
    }
    ego_t_.clear(), ego_v_.clear(), ego_w_.clear();
  }

  void emit_cycle(int k, TimeNs t) {
    SensorState& st = state_[static_cast<std::size_t>(k)];
    const std::size_t m = L_.sensors[static_cast<std::size_t>(k)].components.size();
    std::vector<double> z(st.rows.begin(), st.rows.begin() + static_cast<std::ptrdiff_t>(st.n_valid * static_cast<Index>(m)));
    st.n_valid = 0, st.n_frames = 0;
    std::fill(st.seen.begin(), st.seen.end(), 0);
    if (L_.has_ego && !ego_started_ && !ego_given_up_) {
      if (!held_.empty() && t - held_.front().t > extrap_ns_) {
        ego_given_up_ = true;
        std::fprintf(stderr, "replay_candump: no ego-motion sample within %g s of the first sensor cycle: "
                     "fusing without ego motion\n", static_cast<double>(extrap_ns_) / 1e9);
        release_held();
        fuse(k, t, std::move(z));
        return;
      }
      held_.push_back({k, t, std::move(z)});
      return;
    }
    fuse(k, t, std::move(z));
  }

  struct Held {
    int k;
    TimeNs t;
    std::vector<double> z;
  };
  void release_held() {
    std::vector<Held> held;
    held.swap(held_);
    for (auto& h : held) fuse(h.k, h.t, std::move(h.z));
  }

  // fusion.hil.replay.merge_detections: detections of one cycle within both gates (transitively)
  // merged into their mean, groups in the order of their first member.
  static void merge(const SensorLayout& s, std::vector<double>& z) {
    const std::size_t m = s.components.size();
    const std::size_t n = z.size() / m;
    if (n < 2) return;
    const bool radar = s.model == "radar";
    std::vector<double> px(n), py(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double* r = &z[i * m];
      if (radar) px[i] = r[0] * std::cos(r[1]), py[i] = r[0] * std::sin(r[1]);
      else px[i] = r[0], py[i] = r[1];
    }
    const double d2 = s.merge_distance_m * s.merge_distance_m;
    auto close = [&](std::size_t i, std::size_t j) {
      const double dx = px[i] - px[j], dy = py[i] - py[j];
      bool c = dx * dx + dy * dy < d2;
      if (radar) c = c && std::abs(z[i * m + 2] - z[j * m + 2]) < s.merge_range_rate_mps;
      return c;
    };
    std::vector<std::size_t> first(n);
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      first[i] = i;
      for (std::size_t j = 0; j < n; ++j)
        if (j != i && close(i, j)) { any = true; if (j < first[i]) first[i] = j; }
      if (!close(i, i)) first[i] = 0;  // unreachable for finite values: each detection is close to itself
    }
    if (!any) return;
    std::vector<std::size_t> root(first);
    for (bool changed = true; changed;) {  // follow the chain to its start: first[root] == root
      changed = false;
      std::vector<std::size_t> next(n);
      for (std::size_t i = 0; i < n; ++i) next[i] = first[root[i]];
      if (next != root) root.swap(next), changed = true;
    }
    std::vector<double> out;
    for (std::size_t g = 0; g < n; ++g) {
      if (root[g] != g) continue;
      std::vector<double> sum(m, 0.0);
      double count = 0.0;
      for (std::size_t i = 0; i < n; ++i)
        if (root[i] == g) {
          for (std::size_t c = 0; c < m; ++c) sum[c] += z[i * m + c];
          count += 1.0;
        }
      for (std::size_t c = 0; c < m; ++c) out.push_back(sum[c] / count);
    }
    z.swap(out);
  }

  void fuse(int k, TimeNs t, std::vector<double> z) {
    give_ego();
    const SensorLayout& s = L_.sensors[static_cast<std::size_t>(k)];
    if (s.merge) merge(s, z);
    eng::Frame f;
    f.sensor = k;
    f.t_ns = t;
    f.n = static_cast<Index>(z.size() / s.components.size());
    f.z = f.n ? z.data() : nullptr;
    try {
      Counted counted{&engine_allocs_, cycles_ >= kWarmCycles};
      engine_->process(f);
    } catch (const std::logic_error& e) {
      ++rejected_;
      std::fprintf(stderr, "replay_candump: sensor %s at t_ns=%lld: the engine rejected the cycle: %s\n",
                   s.name.c_str(), static_cast<long long>(t), e.what());
      return;
    }
    ++cycles_;
    Index n = 0, nv = 0;
    const std::uint8_t* veh = odo_buf_.data();
    {
      Counted exports{&engine_allocs_, cycles_ > kWarmCycles};
      n = engine_->export_tracks(odo_buf_.data(), L_.config.max_tracks, false);
      nv = n;
      if (ego_started_) {
        try {
          nv = oosm_->export_tracks_at(veh_buf_.data(), L_.config.max_tracks, false, engine_->time_ns(), true);
          veh = veh_buf_.data();
        } catch (const std::logic_error&) {
          veh = odo_buf_.data(), nv = n;
        }
      }
    }
    if (nv != n) throw InputError("vehicle-frame export disagrees with the odometry-frame export");
    std::string text;
    char line[512];
    for (Index i = 0; i < n; ++i) {
      const std::uint8_t* r = odo_buf_.data() + static_cast<std::size_t>(i) * rec_size_;
      const std::uint8_t* rv = veh + static_cast<std::size_t>(i) * rec_size_;
      const auto status = get<std::int32_t>(r, "status");
      if (status != kConfirmed && status != kCoasting) continue;
      const double* box = reinterpret_cast<const double*>(r + off_.at("box"));
      const double* vel = reinterpret_cast<const double*>(r + off_.at("velocity"));
      const double* vbox = reinterpret_cast<const double*>(rv + off_.at("box"));
      const auto id = get<std::int64_t>(r, "id");
      ++rows_;
      char row[400];
      const int len = std::snprintf(row, sizeof row,
                                    "%lld,%lld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%d,%.17g,%.17g,%.17g\n",
                                    static_cast<long long>(t), static_cast<long long>(id), box[0], box[1], vel[0],
                                    vel[1], box[3], box[4], box[5], get<std::int32_t>(r, "class_id"),
                                    get<double>(r, "existence"), vbox[0], vbox[1]);
      for (int c = 0; c < len && c < static_cast<int>(sizeof row); ++c)  // FNV-1a of the rows
        digest_ = (digest_ ^ static_cast<unsigned char>(row[c])) * 1099511628211ULL;
      if (csv_) std::fputs(row, csv_);
      std::snprintf(line, sizeof line, "  track %4lld %s  x %8.2f  y %7.2f  vx %6.2f  vy %6.2f  (vehicle %7.2f %6.2f)\n",
                    static_cast<long long>(id), status == kConfirmed ? "confirmed" : "coasting ", box[0], box[1],
                    vel[0], vel[1], vbox[0], vbox[1]);
      text += line;
    }
    std::snprintf(line, sizeof line, "cycle %ld  t %.6f s  %s  tracks:\n", cycles_ - 1,
                  static_cast<double>(t) / 1e9, s.name.c_str());
    last_print_ = line + text;
    if (print_all_) std::fputs(last_print_.c_str(), stdout);
  }

  template <class T>
  T get(const std::uint8_t* rec, const char* name) const {
    T v;
    std::memcpy(&v, rec + off_.at(name), sizeof v);
    return v;
  }

  Layout L_;
  FILE* csv_;
  bool print_all_;
  std::unique_ptr<eng::EngineBase> engine_;
  eng::OosmEngine* oosm_ = nullptr;
  std::map<std::string, std::size_t> off_;
  std::size_t rec_size_ = 0;
  std::vector<std::uint8_t> odo_buf_, veh_buf_;
  std::map<Key, Route> routes_;
  std::map<Key, std::vector<int>> extra_inputs_;
  std::vector<SensorState> state_;
  std::vector<std::vector<double>> latest_;
  std::vector<char> have_;
  std::vector<TimeNs> ego_t_;
  std::vector<double> ego_v_, ego_w_;
  bool ego_started_ = false, ego_given_up_ = false;
  std::vector<Held> held_;
  TimeNs last_t_ = 0, back_ns_ = 0, extrap_ns_ = 0;
  bool have_t_ = false;
  long frames_ = 0, cycles_ = 0, rows_ = 0, ego_samples_ = 0, unknown_ = 0, wrong_length_ = 0, skipped_time_ = 0,
       rejected_ = 0, engine_allocs_ = 0, fd_on_classic_ = 0;
  std::string last_print_;
  std::uint64_t digest_ = 14695981039346656037ULL;
};

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One candump -L line: "(seconds) channel ID#DATA" (classic), "ID#R" (remote), "ID##F DATA" (FD),
// then an optional direction flag T / R. The time in ns is round(seconds * 1e9), half to even,
// as fusion.hil.logs does with the log reader's float seconds.
void replay_log(const std::string& path, Replay& rep) {
  FILE* fp = std::fopen(path.c_str(), "r");
  if (!fp) throw InputError(path + ": cannot open the log (" + std::strerror(errno) + ")");
  std::unique_ptr<FILE, int (*)(FILE*)> guard(fp, &std::fclose);
  char buf[1024];
  long lineno = 0;
  std::uint8_t data[64];
  std::string channel;
  while (std::fgets(buf, sizeof buf, fp)) {
    ++lineno;
    auto bad = [&](const char* why) {
      throw InputError(path + ":" + std::to_string(lineno) + ": " + why + ": " + std::string(buf));
    };
    const char* p = buf;
    while (*p == ' ' || *p == '\t') ++p;
    if (*p == '\n' || *p == '\0' || *p == '\r') continue;
    if (*p != '(') bad("expected '(seconds)'");
    char* end = nullptr;
    const double secs = std::strtod(p + 1, &end);
    if (end == p + 1 || *end != ')' || !std::isfinite(secs) || std::abs(secs) >= 9.2e9) bad("bad timestamp");
    const auto t = static_cast<TimeNs>(std::nearbyint(secs * 1e9));
    p = end + 1;
    while (*p == ' ') ++p;
    const char* c0 = p;
    while (*p && *p != ' ') ++p;
    channel.assign(c0, static_cast<std::size_t>(p - c0));
    while (*p == ' ') ++p;
    const char* id0 = p;
    std::uint32_t id = 0;
    while (hexval(*p) >= 0) id = (id << 4) | static_cast<std::uint32_t>(hexval(*p++));
    const auto id_digits = p - id0;
    if (id_digits == 0 || id_digits > 8 || *p != '#') bad("expected ID#DATA");
    // candump writes a standard (11-bit) id with 3 hex digits and an extended (29-bit) one with 8
    const bool ext = id_digits > 3;
    if (!ext && id > 0x7FFU) bad("standard CAN id above 0x7FF (3 hex digits are an 11-bit id; extended ids have 8)");
    bool err = (id & 0x20000000U) != 0, rtr = false;
    ++p;
    bool fd = false;
    if (*p == '#') {  // CAN FD: ##<flags nibble><data>
      fd = true;
      ++p;
      if (hexval(*p) < 0) bad("bad CAN FD flags");
      ++p;
    }
    int len = 0;
    if (*p == 'R') {
      rtr = true;
    } else {
      while (hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
        if (len == 64) bad("more than 64 data bytes");
        data[len++] = static_cast<std::uint8_t>(hexval(p[0]) * 16 + hexval(p[1]));
        p += 2;
      }
      if (hexval(*p) >= 0) bad("odd number of data digits");
    }
    // What may follow the frame: blanks, one direction flag T or R, blanks (as the harness's log
    // reader, which refuses anything else: "123#11G2" is a damaged line, not a 1-byte frame).
    if (rtr && hexval(*++p) >= 0) ++p;  // "ID#R" or "ID#R<dlc>"
    const char* rest = p;
    while (*rest == ' ' || *rest == '\t') ++rest;
    if (rest != p && (*rest == 'T' || *rest == 'R')) ++rest;
    while (*rest == ' ' || *rest == '\t' || *rest == '\r') ++rest;
    if (*rest != '\n' && *rest != '\0') bad("unexpected text after the frame");
    if (*rest == '\0' && std::fgetc(fp) != EOF) bad("line longer than 1023 characters");
    rep.feed(t, channel, id & 0x1FFFFFFFU, ext, fd, err, rtr, data, len);
  }
  if (std::ferror(fp)) throw InputError(path + ": read error");
}

int usage(const char* why) {
  std::fprintf(stderr, "fusion_replay_candump: %s\nusage: fusion_replay_candump --log FILE.log --layout RIG.layout "
               "[--config engine.cfg] [--out tracks.csv] [--print] [--threads N]\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string log, layout, config, out;
  bool print_all = false;
  long threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--print") {
      print_all = true;
      continue;
    }
    if (i + 1 >= argc) return usage(("missing value of " + a).c_str());
    const std::string v = argv[++i];
    if (a == "--log") log = v;
    else if (a == "--layout") layout = v;
    else if (a == "--config") config = v;
    else if (a == "--threads") {
      char* end = nullptr;
      threads = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || threads < 1 || threads > 64) return usage("--threads: 1..64");
    }
    else if (a == "--out") out = v;
    else return usage(("unknown option " + a).c_str());
  }
  if (log.empty() || layout.empty()) return usage("--log and --layout are required");
  try {
    Layout L = read_layout(layout);
    if (!config.empty()) L.config = read_layout(config, true).config;
    std::unique_ptr<FILE, int (*)(FILE*)> csv(nullptr, &std::fclose);
    if (!out.empty()) {
      csv.reset(std::fopen(out.c_str(), "w"));
      if (!csv) throw InputError(out + ": cannot write (" + std::strerror(errno) + ")");
    }
    const Layout copy = threads > 0 ? L : Layout{};
    Replay rep(std::move(L), csv.get(), print_all);
    replay_log(log, rep);
    rep.finish();
    if (!print_all) rep.print_last(stdout);
    rep.summary(stdout);
    if (threads > 0) {
      std::vector<std::uint64_t> digests(static_cast<std::size_t>(threads), 0);
      std::vector<std::string> errors(static_cast<std::size_t>(threads));
      std::vector<std::thread> pool;
      for (long k = 0; k < threads; ++k)
        pool.emplace_back([&, k] {
          try {
            Replay r(copy, nullptr, false);
            replay_log(log, r);
            r.finish();
            digests[static_cast<std::size_t>(k)] = r.digest();
          } catch (const std::exception& e) {
            errors[static_cast<std::size_t>(k)] = e.what();
          }
        });
      for (auto& th : pool) th.join();
      long same = 0;
      for (long k = 0; k < threads; ++k) {
        if (!errors[static_cast<std::size_t>(k)].empty())
          std::fprintf(stderr, "fusion_replay_candump: thread %ld: %s\n", k, errors[static_cast<std::size_t>(k)].c_str());
        same += digests[static_cast<std::size_t>(k)] == rep.digest();
      }
      std::printf("threads %ld: %ld of %ld replays equal the single-threaded run (digest %016llx)\n", threads, same,
                  threads, static_cast<unsigned long long>(rep.digest()));
      if (same != threads) return 3;
    }
  } catch (const InputError& e) {
    std::fprintf(stderr, "fusion_replay_candump: %s\n", e.what());
    return 1;
  } catch (const std::logic_error& e) {
    std::fprintf(stderr, "fusion_replay_candump: %s: %s\n", layout.c_str(), e.what());
    return 1;
  }
  return 0;
}
