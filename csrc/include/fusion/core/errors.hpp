// Exceptions thrown by the core. The bindings translate each one to its fusion.errors class,
// which also inherits the matching Python built-in (ValueError, ArithmeticError, ...).
#pragma once
#include <stdexcept>
#include <string>

namespace fusion {

// A matrix or vector does not have the shape an operation needs.
struct ShapeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// A value is outside its domain: a non-finite measurement, a covariance that is not
// symmetric positive definite, an innovation covariance that cannot be factorised.
struct NumericalError : std::domain_error {
  using std::domain_error::domain_error;
};

// A configuration value is invalid (negative noise, zero capacity, unknown model key).
struct ConfigurationError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// A timestamp is out of sequence (a sensor frame older than the engine's latest time, under
// late_policy = "raise"). The binding maps it to fusion.errors.TimestampError.
struct TimestampError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

}  // namespace fusion
