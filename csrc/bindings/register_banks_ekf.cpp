// Extended Kalman filter banks for every (motion, sensor) pair of the bank registry
// (bank_registry.hpp). The UKF banks are in their own translation unit so the two compile in
// parallel.
#include "bank_registry.hpp"

namespace fusion::bindings {

void register_banks_ekf(py::module_& m) { bind_registered_banks<BankAlgorithm::kExtended>(m, "Ekf"); }

}  // namespace fusion::bindings
