// A minimal unit-test harness for the C++ core: TEST_CASE registers a function, CHECK and
// CHECK_CLOSE record failures with file and line, and main() prints "N passed, N failed".
#pragma once
#include <cmath>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace fusion::testing {

struct Case {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
inline int& failures_in_case() {
  static int n = 0;
  return n;
}

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

inline void fail(const char* file, int line, const std::string& msg) {
  ++failures_in_case();
  std::cerr << file << ":" << line << ": " << msg << "\n";
}

}  // namespace fusion::testing

#define FUSION_CAT2(a, b) a##b
#define FUSION_CAT(a, b) FUSION_CAT2(a, b)
#define TEST_CASE(name)                                                                \
  static void FUSION_CAT(test_fn_, __LINE__)();                                        \
  static const fusion::testing::Registrar FUSION_CAT(test_reg_, __LINE__)(             \
      name, FUSION_CAT(test_fn_, __LINE__));                                           \
  static void FUSION_CAT(test_fn_, __LINE__)()

#define CHECK(...)                                                                           \
  do {                                                                                       \
    if (!(__VA_ARGS__)) fusion::testing::fail(__FILE__, __LINE__, "CHECK(" #__VA_ARGS__ ") failed"); \
  } while (0)

#define CHECK_CLOSE(a, b, tol)                                                           \
  do {                                                                                   \
    const double va_ = (a), vb_ = (b);                                                   \
    if (!(std::abs(va_ - vb_) <= (tol)))                                                 \
      fusion::testing::fail(__FILE__, __LINE__,                                          \
                            std::string("CHECK_CLOSE(" #a ", " #b ") failed: ") +        \
                                std::to_string(va_) + " vs " + std::to_string(vb_));     \
  } while (0)

#define CHECK_THROWS(expr, Exc)                                                          \
  do {                                                                                   \
    bool thrown_ = false;                                                                \
    try {                                                                                \
      (void)(expr);                                                                      \
    } catch (const Exc&) {                                                               \
      thrown_ = true;                                                                    \
    }                                                                                    \
    if (!thrown_) fusion::testing::fail(__FILE__, __LINE__, "expected " #Exc " from " #expr); \
  } while (0)
