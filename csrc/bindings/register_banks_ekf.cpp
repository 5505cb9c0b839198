// Extended Kalman filter banks for every built-in (motion, sensor) pair.
// The Python registry (fusion.filters.bank) finds them by name: EkfBank_<Motion>_<Sensor>.
#include "banks.hpp"

namespace fusion::bindings {

void register_banks_ekf(py::module_& m) {
  bind_bank<CV2D, Position2D, BankAlgorithm::kExtended>(m, "EkfBank_CV2D_Position2D");
  bind_bank<CV2D, RadarPolar, BankAlgorithm::kExtended>(m, "EkfBank_CV2D_RadarPolar");
  bind_bank<CV2D, CameraPinhole, BankAlgorithm::kExtended>(m, "EkfBank_CV2D_CameraPinhole");
  bind_bank<CV3D, Position2D, BankAlgorithm::kExtended>(m, "EkfBank_CV3D_Position2D");
  bind_bank<CV3D, RadarPolar, BankAlgorithm::kExtended>(m, "EkfBank_CV3D_RadarPolar");
  bind_bank<CV3D, CameraPinhole, BankAlgorithm::kExtended>(m, "EkfBank_CV3D_CameraPinhole");
  bind_bank<CA2D, Position2D, BankAlgorithm::kExtended>(m, "EkfBank_CA2D_Position2D");
  bind_bank<CA2D, RadarPolar, BankAlgorithm::kExtended>(m, "EkfBank_CA2D_RadarPolar");
  bind_bank<CA2D, CameraPinhole, BankAlgorithm::kExtended>(m, "EkfBank_CA2D_CameraPinhole");
  bind_bank<CA3D, Position2D, BankAlgorithm::kExtended>(m, "EkfBank_CA3D_Position2D");
  bind_bank<CA3D, RadarPolar, BankAlgorithm::kExtended>(m, "EkfBank_CA3D_RadarPolar");
  bind_bank<CA3D, CameraPinhole, BankAlgorithm::kExtended>(m, "EkfBank_CA3D_CameraPinhole");
  bind_bank<CTRV, Position2D, BankAlgorithm::kExtended>(m, "EkfBank_CTRV_Position2D");
  bind_bank<CTRV, RadarPolar, BankAlgorithm::kExtended>(m, "EkfBank_CTRV_RadarPolar");
  bind_bank<CTRV, CameraPinhole, BankAlgorithm::kExtended>(m, "EkfBank_CTRV_CameraPinhole");
  bind_bank<CTRA, Position2D, BankAlgorithm::kExtended>(m, "EkfBank_CTRA_Position2D");
  bind_bank<CTRA, RadarPolar, BankAlgorithm::kExtended>(m, "EkfBank_CTRA_RadarPolar");
  bind_bank<CTRA, CameraPinhole, BankAlgorithm::kExtended>(m, "EkfBank_CTRA_CameraPinhole");
  bind_bank<ConstantTurn, Position2D, BankAlgorithm::kExtended>(m, "EkfBank_ConstantTurn_Position2D");
  bind_bank<ConstantTurn, RadarPolar, BankAlgorithm::kExtended>(m, "EkfBank_ConstantTurn_RadarPolar");
  bind_bank<ConstantTurn, CameraPinhole, BankAlgorithm::kExtended>(m, "EkfBank_ConstantTurn_CameraPinhole");
  bind_bank<CV3D, Position3D, BankAlgorithm::kExtended>(m, "EkfBank_CV3D_Position3D");
  bind_bank<CA3D, Position3D, BankAlgorithm::kExtended>(m, "EkfBank_CA3D_Position3D");
}

}  // namespace fusion::bindings
