// The ThreadSanitizer build (target fusion_tsan_tests, CMake option FUSION_SANITIZE_THREAD) keeps
// to the core its concurrency tests need: every core source except the motion registry's builders,
// of which it compiles only cv_box (csrc/src/engine_motion_cv_box.cpp: the model those tests and
// the Tracker preset's default use). The other nine builders are heavy template instantiations
// (most of a core build's time) that add no thread behaviour of their own: Engine<Motion> and the
// time layer around it are the same code for every model. Here they are builders that refuse,
// so that csrc/src/engine.cpp's registry links; not part of any other build (the unit tests glob
// csrc/tests/*.cpp only).
#include <memory>
#include <string>

#include "fusion/core/errors.hpp"
#include "fusion/engine/engine.hpp"

namespace fusion::engine {

namespace {

[[noreturn]] void absent(const char* key) {
  throw ConfigurationError(std::string("motion '") + key + "' is not compiled into the ThreadSanitizer test build");
}

}  // namespace

#define FUSION_TSAN_ABSENT(key) \
  std::unique_ptr<EngineBase> make_##key##_engine(const EngineConfig&) { absent(#key); }

FUSION_TSAN_ABSENT(ctrv_box)
FUSION_TSAN_ABSENT(ca_box)
FUSION_TSAN_ABSENT(ctra_box)
FUSION_TSAN_ABSENT(ct_box)
FUSION_TSAN_ABSENT(bicycle_box)
FUSION_TSAN_ABSENT(ctrv_vz_box)
FUSION_TSAN_ABSENT(bicycle_vz_box)
FUSION_TSAN_ABSENT(cv_point2d)
FUSION_TSAN_ABSENT(imm_cv_ctrv_box)

}  // namespace fusion::engine
