// Cost and associator plug-ins (engine/costs/, engine/associators/): the registries give the
// key lists in order; a cost that does not apply to a sensor model, or an associator that needs
// likelihoods on a dense cost, is a ConfigurationError naming the field; the recipe's new cost
// (mahalanobis_loglik) tracks with GNN and JPDA and its steady state allocates nothing.
#include <cmath>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/engine/engine.hpp"
#include "test_framework.hpp"

using fusion::ConfigurationError;
using fusion::Index;
using fusion::TimeNs;
using namespace fusion::engine;  // NOLINT: the module under test

namespace {

EngineConfig point_config(const std::string& cost, const std::string& associator) {
  EngineConfig c;
  c.motion = "cv_point2d";
  c.q_diag_per_s = {0.01, 0.01, 0.1, 0.1};
  c.p0_diag = {1, 1, 25, 25};
  c.max_tracks = 16;
  c.max_detections = 16;
  c.max_image_tracks = 0;
  c.lifecycle.confirm_by_existence = false;
  c.lifecycle.confirm_hits = 2;
  c.lifecycle.confirm_window = 3;
  SensorConfig s;
  s.name = "pos";
  s.model = "position2d";
  s.cost = cost;
  s.associator = associator;
  s.gate = 0.99;
  s.R = {0.04, 0, 0, 0.04};
  c.sensors = {s};
  return c;
}

std::string error_of(const EngineConfig& c) {
  try {
    make_engine(c);
  } catch (const ConfigurationError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("engine plugins: the cost and associator keys come from the registries, in order") {
  const std::vector<std::string> costs = {"giou_3d", "giou_bev", "iou_3d", "iou_bev", "iou_2d",
                                          "giou_2d", "mahalanobis", "distance", "distance_bev",
                                          "mahalanobis_loglik"};
  CHECK(kCostKeys == costs);
  CHECK(kAssociatorKeys == (std::vector<std::string>{"gnn", "jpda"}));
}

TEST_CASE("engine plugins: pairings a plug-in does not serve are configuration errors naming the field") {
  EngineConfig c = point_config("iou_2d", "gnn");
  CHECK(error_of(c).find("sensors[0] (pos).cost: 'iou_2d' needs a camera_box2d sensor, not position2d") !=
        std::string::npos);
  c = point_config("distance_bev", "jpda");
  CHECK(error_of(c).find("sensors[0] (pos).associator: 'jpda' needs a sparse likelihood cost") != std::string::npos);
  c = point_config("mahalanobis_loglik", "gnn");
  c.sensors[0].gate = 0.9;  // not a tabulated chi-square probability
  CHECK(error_of(c).find("sensors[0] (pos).gate") != std::string::npos);
  c = point_config("distance_bev", "gnn");
  c.sensors[0].gate_chi2 = 9.0;
  CHECK(error_of(c).find("gate_chi2") != std::string::npos);
  c = point_config("mahalanobis_loglik", "gnn");
  c.sensors[0].gate_chi2 = 9.0;
  CHECK(error_of(c).empty());
}

TEST_CASE("engine plugins: mahalanobis_loglik tracks with gnn and jpda, allocation-free in steady state") {
  for (const char* assoc : {"gnn", "jpda"}) {
    auto e = make_engine(point_config("mahalanobis_loglik", assoc));
    auto step = [&](int k) {
      const double t = 0.1 * k;
      const double z[6] = {1.0 + 2.0 * t, 0.5, 20.0 - 1.0 * t, -3.0, 8.0, 6.0 + 0.5 * t};
      Frame f;
      f.sensor = 0;
      f.t_ns = static_cast<TimeNs>(k) * 100000000;
      f.n = 3;
      f.z = z;
      e->process(f);
    };
    for (int k = 0; k < 5; ++k) step(k);
    const long before = g_allocations.load();
    for (int k = 5; k < 40; ++k) step(k);
    CHECK(g_allocations.load() == before);
    CHECK(e->num_tracks() == 3);
    CHECK(e->stats().births == 3);
  }
}
