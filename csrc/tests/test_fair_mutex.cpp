// FairMutex (the lock the Python bindings put around trackers and filter banks): mutual
// exclusion, and first-come-first-served hand-over, which std::mutex does not promise.
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "fusion/tracking/fair_mutex.hpp"
#include "test_framework.hpp"

using fusion::tracking::FairMutex;

TEST_CASE("fair mutex: mutual exclusion under contention") {
  FairMutex mu;
  long counter = 0;  // plain: only touched under the lock
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        const std::lock_guard<FairMutex> lock(mu);
        ++counter;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(counter == 4 * 20000);
}

TEST_CASE("fair mutex: waiters get in in the order they asked, before a re-locking owner") {
  FairMutex mu;
  std::vector<int> order;  // appended under the lock
  mu.lock();
  // B asks first, then C; both block while main holds the lock.
  std::thread b([&] {
    const std::lock_guard<FairMutex> lock(mu);
    order.push_back(1);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::thread c([&] {
    const std::lock_guard<FairMutex> lock(mu);
    order.push_back(2);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // The owner releases and immediately asks again (what a thread stepping in a tight loop
  // does): it must queue behind B and C.
  mu.unlock();
  mu.lock();
  order.push_back(0);
  mu.unlock();
  b.join();
  c.join();
  CHECK(order.size() == 3);
  CHECK(order == std::vector<int>({1, 2, 0}));
}
