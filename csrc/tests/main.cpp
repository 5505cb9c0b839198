#include "test_framework.hpp"

int main() {
  int passed = 0, failed = 0;
  for (const auto& c : fusion::testing::registry()) {
    fusion::testing::failures_in_case() = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      fusion::testing::fail(c.name, 0, std::string("unexpected exception: ") + e.what());
    }
    if (fusion::testing::failures_in_case() == 0) {
      ++passed;
    } else {
      ++failed;
      std::cerr << "FAILED: " << c.name << "\n";
    }
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
