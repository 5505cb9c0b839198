// The engine's cost registry: one line per cost file (the contract: costs/cost_plugin.hpp).
// The order is the order of kCostKeys and of the Python registry (fusion.engine.registry.COSTS).
#pragma once
#include "fusion/engine/costs/distance.hpp"
#include "fusion/engine/costs/distance_bev.hpp"
#include "fusion/engine/costs/giou_2d.hpp"
#include "fusion/engine/costs/giou_3d.hpp"
#include "fusion/engine/costs/giou_bev.hpp"
#include "fusion/engine/costs/iou_2d.hpp"
#include "fusion/engine/costs/iou_3d.hpp"
#include "fusion/engine/costs/iou_bev.hpp"
#include "fusion/engine/costs/mahalanobis.hpp"
#include "fusion/engine/costs/mahalanobis_loglik.hpp"

namespace fusion::engine {

using EngineCosts = sensor::TypeList<costs::Giou3d, costs::GiouBev, costs::Iou3d, costs::IouBev, costs::Iou2d,
                                     costs::Giou2d, costs::Mahalanobis, costs::Distance, costs::DistanceBev,
                                     costs::MahalanobisLoglik>;

}  // namespace fusion::engine
