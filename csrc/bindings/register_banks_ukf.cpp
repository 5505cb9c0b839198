// Unscented Kalman filter banks for every (motion, sensor) pair of the bank registry
// (bank_registry.hpp).
#include "bank_registry.hpp"

namespace fusion::bindings {

void register_banks_ukf(py::module_& m) { bind_registered_banks<BankAlgorithm::kUnscented>(m, "Ukf"); }

}  // namespace fusion::bindings
