// Worst-case cycle time of the fusion engine, in C++ without Python (issue 11).
//
//   fusion_cycle_bench [--tracks 256] [--cycles 100000] [--warmup 200] [--seed 1] [--json FILE]
//
// A scene of `tracks` objects moving at constant velocity in front of the car (objects that
// leave the area re-enter at its far end, so tracks are born and deleted all the time) seen by
// three sensors per cycle: a lidar (3D boxes, every object plus 4 % clutter), a radar (range,
// azimuth, range rate: three quarters of the objects plus clutter) and a camera (image boxes of
// the objects in its field of view, at most a quarter of `tracks`): with the default 256 objects
// about 256 + 192 + 64 = 512 detections per cycle. One cycle = the three frames, 100 ms apart.
// Timed per cycle with steady_clock around the engine calls only (the scene is generated outside
// the timed region); reports p50, p99, p99.9 and max, and the heap allocations made inside the
// timed region (operator new is counted: the steady-state loop must allocate nothing).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "fusion/engine/engine.hpp"

namespace {
std::atomic<long> g_allocs{0};
}  // namespace

// The replacements pair malloc with free; GCC, seeing both inlined in this one file, warns that
// free() receives a pointer from operator new (it cannot know new is this malloc).
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
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

using fusion::Index;
using fusion::TimeNs;
using namespace fusion::engine;  // NOLINT: a benchmark of this module

constexpr double kFocal = 700.0, kCu = 640.0, kCv = 200.0, kWidth = 1280.0, kHeight = 400.0;

struct Object {
  double x, y, vx, vy, yaw, l, w, h;
};

EngineConfig config(Index tracks) {
  EngineConfig c;
  c.motion = "cv_box";
  c.q_diag_per_s = {1, 1, 0.1, 2, 2, 0.1, 0.1, 0.01, 0.01, 0.01};
  c.p0_diag = {1, 1, 1, 100, 100, 1, 1, 1, 1, 1};
  c.max_tracks = 2 * tracks;  // room for clutter births
  c.max_detections = 2 * tracks;
  c.max_image_tracks = tracks / 2;
  c.lifecycle.confirm_hits = 2;
  c.lifecycle.confirm_window = 3;
  c.lifecycle.max_coast_s = 0.5;
  c.lifecycle.tentative_max_coast_s = 0.3;

  SensorConfig lidar;
  lidar.name = "lidar";
  lidar.model = "lidar_box3d";
  lidar.cost = "mahalanobis";
  lidar.gate = 0.99;
  lidar.R.assign(49, 0.0);
  for (std::size_t i = 0; i < 7; ++i) lidar.R[i * 8] = 0.05;

  SensorConfig radar;
  radar.name = "radar";
  radar.model = "radar";
  radar.cost = "mahalanobis";
  radar.gate = 0.99;
  radar.R = {0.25, 0, 0, 0, 1e-4, 0, 0, 0, 0.04};
  radar.births = false;
  radar.counts_for_confirmation = false;

  SensorConfig camera;
  camera.name = "camera";
  camera.model = "camera_box2d";
  camera.cost = "iou_2d";
  camera.gate = 0.3;
  camera.has_projection = true;
  camera.projection << kFocal, 0, kCu, 0, 0, kFocal, kCv, 0, 0, 0, 1, 0;
  camera.image_width_px = kWidth;
  camera.image_height_px = kHeight;
  camera.R = {16, 0, 0, 0, 0, 16, 0, 0, 0, 0, 16, 0, 0, 0, 0, 16};
  camera.births = false;
  camera.counts_for_confirmation = false;
  camera.counts_for_coast = false;
  camera.image_tracks = true;
  camera.fov.azimuth_half_rad = 0.7;
  c.sensors = {lidar, radar, camera};
  return c;
}

bool camera_box(const Object& o, double* b) {
  if (o.x < 3.0) return false;
  double u0 = 1e9, v0 = 1e9, u1 = -1e9, v1 = -1e9;
  for (int k = 0; k < 8; ++k) {
    const double px = o.x + ((k & 1) ? 0.5 : -0.5) * o.l, py = o.y + ((k & 2) ? 0.5 : -0.5) * o.w;
    const double pz = 0.5 * o.h + ((k & 4) ? 0.5 : -0.5) * o.h;
    const double u = kFocal * (-py) / px + kCu, v = kFocal * (-pz) / px + kCv;
    u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
  }
  b[0] = std::max(u0, 0.0), b[1] = std::max(v0, 0.0), b[2] = std::min(u1, kWidth), b[3] = std::min(v1, kHeight);
  return b[2] - b[0] > 4.0 && b[3] - b[1] > 4.0;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const auto k = static_cast<std::size_t>(std::min(static_cast<double>(v.size() - 1), q * static_cast<double>(v.size())));
  return v[k];
}

int usage(const char* why) {
  std::fprintf(stderr, "fusion_cycle_bench: %s\nusage: fusion_cycle_bench [--tracks N] [--cycles N] [--warmup N] "
                       "[--seed N] [--json FILE]\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long tracks = 256, cycles = 100000, warmup = 200;
  unsigned seed = 1;
  const char* json = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage(("missing value of " + a).c_str());
    const char* v = argv[++i];
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (a == "--json") { json = v; continue; }
    if (end == v || *end != '\0' || n < 0) return usage(("bad value of " + a + ": " + v).c_str());
    if (a == "--tracks") tracks = n;
    else if (a == "--cycles") cycles = n;
    else if (a == "--warmup") warmup = n;
    else if (a == "--seed") seed = static_cast<unsigned>(n);
    else return usage(("unknown option " + a).c_str());
  }
  if (tracks < 4 || cycles < 1) return usage("--tracks must be >= 4 and --cycles >= 1");

  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ux(5.0, 120.0), uy(-40.0, 40.0), uv(-3.0, 3.0), u01(0.0, 1.0);
  std::normal_distribution<double> n01(0.0, 1.0);
  std::vector<Object> objects(static_cast<std::size_t>(tracks));
  for (auto& o : objects) o = {ux(rng), uy(rng), uv(rng), uv(rng), 0.0, 4.5, 1.9, 1.6};

  auto engine = make_engine(config(static_cast<Index>(tracks)));
  const auto cap = static_cast<std::size_t>(2 * tracks);
  std::vector<double> zl(cap * 7), zr(cap * 3), zc(cap * 4);
  std::vector<double> times;
  times.reserve(static_cast<std::size_t>(cycles));
  long allocs_timed = 0, detections = 0;
  const TimeNs dt = 100000000;
  TimeNs t = 1000000000;
  for (long c = 0; c < warmup + cycles; ++c) {
    for (auto& o : objects) {  // move; objects leaving the area re-enter at the far end
      o.x += o.vx * 0.1, o.y += o.vy * 0.1;
      if (o.x < 5.0 || o.x > 120.0 || std::abs(o.y) > 40.0) o = {119.0, uy(rng), -1.0 - 2.0 * u01(rng), 0.3 * uv(rng), 0.0, 4.5, 1.9, 1.6};
      o.yaw = std::atan2(o.vy, o.vx);
    }
    Index nl = 0, nr = 0, nc = 0;
    const auto max_radar = static_cast<Index>(3 * tracks / 4), max_camera = static_cast<Index>(tracks / 4);
    for (const auto& o : objects) {
      double* b = &zl[static_cast<std::size_t>(nl) * 7];
      b[0] = o.x + 0.2 * n01(rng), b[1] = o.y + 0.2 * n01(rng), b[2] = 0.8 + 0.1 * n01(rng), b[3] = o.yaw;
      b[4] = o.l, b[5] = o.w, b[6] = o.h;
      ++nl;
      if (nr < max_radar && u01(rng) < 0.8) {
        const double r = std::hypot(o.x, o.y);
        double* p = &zr[static_cast<std::size_t>(nr) * 3];
        p[0] = r + 0.5 * n01(rng), p[1] = std::atan2(o.y, o.x) + 0.01 * n01(rng);
        p[2] = (o.x * o.vx + o.y * o.vy) / r + 0.2 * n01(rng);
        ++nr;
      }
      if (nc < max_camera && camera_box(o, &zc[static_cast<std::size_t>(nc) * 4])) ++nc;
    }
    const Index clutter = std::max<Index>(1, static_cast<Index>(tracks / 25));
    for (Index k = 0; k < clutter && nl < static_cast<Index>(cap); ++k, ++nl) {
      double* b = &zl[static_cast<std::size_t>(nl) * 7];
      b[0] = ux(rng), b[1] = uy(rng), b[2] = 0.5, b[3] = 0.0, b[4] = 1.0, b[5] = 1.0, b[6] = 1.0;
    }
    for (; nr < max_radar; ++nr) {  // radar clutter up to its quota
      double* p = &zr[static_cast<std::size_t>(nr) * 3];
      p[0] = 5.0 + 100.0 * u01(rng), p[1] = (u01(rng) - 0.5) * 1.2, p[2] = 4.0 * n01(rng);
    }
    Frame fl, fr, fc;
    fl.sensor = 0, fl.t_ns = t, fl.n = nl, fl.z = zl.data();
    fr.sensor = 1, fr.t_ns = t + 33000000, fr.n = nr, fr.z = zr.data();
    fc.sensor = 2, fc.t_ns = t + 66000000, fc.n = nc, fc.z = nc ? zc.data() : nullptr;
    const long a0 = g_allocs.load(std::memory_order_relaxed);
    const auto s = std::chrono::steady_clock::now();
    engine->process(fl);
    engine->process(fr);
    engine->process(fc);
    const auto e = std::chrono::steady_clock::now();
    if (c >= warmup) {
      allocs_timed += g_allocs.load(std::memory_order_relaxed) - a0;
      times.push_back(std::chrono::duration<double, std::micro>(e - s).count());
      detections += static_cast<long>(nl + nr + nc);
    }
    t += dt;
  }
  const Index live = engine->num_tracks();
  const double p50 = percentile(times, 0.5), p99 = percentile(times, 0.99), p999 = percentile(times, 0.999);
  const double mx = *std::max_element(times.begin(), times.end());
  double mean = 0.0;
  for (double v : times) mean += v;
  mean /= static_cast<double>(times.size());
  char line[512];
  std::snprintf(line, sizeof line,
                "{\"tracks\": %ld, \"cycles\": %ld, \"detections_per_cycle\": %.1f, \"live_tracks_end\": %ld, "
                "\"cycle_us\": {\"p50\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f, \"mean\": %.1f}, "
                "\"allocations_in_timed_loop\": %ld}",
                tracks, cycles, static_cast<double>(detections) / static_cast<double>(cycles), static_cast<long>(live),
                p50, p99, p999, mx, mean, allocs_timed);
  std::printf("%s\n", line);
  if (json) {
    if (FILE* f = std::fopen(json, "w")) {
      std::fprintf(f, "%s\n", line);
      std::fclose(f);
    } else {
      std::fprintf(stderr, "fusion_cycle_bench: cannot write %s\n", json);
      return 1;
    }
  }
  return allocs_timed == 0 ? 0 : 3;
}
