// The engine's associator registry: one line per associator file (the contract:
// associators/associator.hpp). The order is the order of kAssociatorKeys and of the Python
// registry (fusion.engine.registry.ASSOCIATORS).
#pragma once
#include "fusion/engine/associators/gnn.hpp"
#include "fusion/engine/associators/jpda.hpp"
#include "fusion/sensor/all.hpp"

namespace fusion::engine {

using EngineAssociators = sensor::TypeList<associators::Gnn, associators::Jpda>;

}  // namespace fusion::engine
