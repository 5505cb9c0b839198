// A first-come, first-served ("ticket") mutex for the objects the Python bindings share
// between threads (trackers, filter banks).
//
// std::mutex promises no fairness, and a thread stepping in a tight loop re-takes it a few
// microseconds after releasing it, before a woken waiter gets to run: a reset() or stats()
// from another thread could wait for hundreds of steps (measured: a reset requested during
// frame 10 of 150 landed after the last one, every time). With tickets, a thread that asked
// for the lock is served before any later request, so it gets in at the next step boundary.
// Locking and unlocking allocate nothing; an uncontended lock costs one extra mutex round trip.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace fusion::tracking {

class FairMutex {
 public:
  FairMutex() = default;
  FairMutex(const FairMutex&) = delete;
  FairMutex& operator=(const FairMutex&) = delete;

  void lock() {
    std::unique_lock<std::mutex> lk(m_);
    const std::uint64_t ticket = next_++;
    cv_.wait(lk, [&] { return serving_ == ticket; });
  }

  void unlock() {
    {
      const std::lock_guard<std::mutex> lk(m_);
      ++serving_;
    }
    cv_.notify_all();  // the next ticket's owner is among the waiters
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::uint64_t next_ = 0;     // next ticket to hand out
  std::uint64_t serving_ = 0;  // ticket allowed in
};

}  // namespace fusion::tracking
