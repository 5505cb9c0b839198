// Heap allocation counter of the test binary: test_filters.cpp replaces the global operator
// new/delete (once for the whole binary) and counts every allocation here, so any test can
// check that a steady-state loop allocates nothing.
#pragma once
#include <atomic>

extern std::atomic<long> g_allocations;
