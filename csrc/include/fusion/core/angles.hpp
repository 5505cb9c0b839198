#pragma once
#include <cmath>

namespace fusion {

inline constexpr double kPi = 3.14159265358979323846;

// Wrap an angle to [-pi, pi). Used on every angular residual and angular state component,
// so that a heading of 179 deg and -179 deg differ by 2 deg, not 358.
inline double wrap_angle(double a) {
  if (a >= -kPi && a < kPi) return a;  // fast path: already wrapped
  a = std::fmod(a + kPi, 2.0 * kPi);
  if (a < 0.0) a += 2.0 * kPi;
  return a - kPi;
}

}  // namespace fusion
