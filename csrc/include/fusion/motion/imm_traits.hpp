// What the engine and the track table need to know about an IMM motion (motion/imm_motion.hpp)
// without including it: whether a motion model is one (kIsImm), how many doubles of per-track
// auxiliary storage it keeps (the modes' x, P, mu, log-likelihoods; kAuxDoubles) and where its
// mode probabilities are in that storage (kModes, kMuOffset). Every other motion model keeps
// nothing (0).
#pragma once
#include <type_traits>

namespace fusion {

template <class Motion, class = void>
struct ImmTraits {
  static constexpr bool kIsImm = false;
  static constexpr int kAuxDoubles = 0;
  static constexpr int kModes = 0;
  static constexpr int kMuOffset = 0;
};

template <class Motion>
struct ImmTraits<Motion, std::void_t<decltype(Motion::kImmModes)>> {
  static constexpr bool kIsImm = true;
  static constexpr int kAuxDoubles = Motion::kAuxDoubles;
  static constexpr int kModes = Motion::kImmModes;
  static constexpr int kMuOffset = Motion::kMuOffset;
};

template <class Motion>
inline constexpr bool kIsImm = ImmTraits<Motion>::kIsImm;

}  // namespace fusion
