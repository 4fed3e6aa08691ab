// Status propagation macros for absl::Status / absl::StatusOr.
//
// Debian 12's abseil (20220623) has no ABSL_RETURN_IF_ERROR-style macros, so the project defines
// its own. Replace with abseil's once it ships them (>= 20260526).
#ifndef ACCELSCHED_TOPOLOGY_STATUS_MACROS_H_
#define ACCELSCHED_TOPOLOGY_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ACCELSCHED_STATUS_CONCAT_INNER_(a, b) a##b
#define ACCELSCHED_STATUS_CONCAT_(a, b) ACCELSCHED_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function if not OK.
#define ACCELSCHED_RETURN_IF_ERROR(expr)                     \
  do {                                                       \
    ::absl::Status accelsched_status_ = (expr);              \
    if (!accelsched_status_.ok()) return accelsched_status_; \
  } while (false)

// `ACCELSCHED_ASSIGN_OR_RETURN(auto x, F())`: evaluates F() (an absl::StatusOr<T>); on error
// returns its status, else move-assigns the value to the left-hand side.
#define ACCELSCHED_ASSIGN_OR_RETURN(lhs, expr)                                                 \
  ACCELSCHED_ASSIGN_OR_RETURN_IMPL_(ACCELSCHED_STATUS_CONCAT_(accelsched_statusor_, __LINE__), \
                                    lhs, expr)

// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` is a declaration and cannot be parenthesized.
#define ACCELSCHED_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                      \
  if (!statusor.ok()) return std::move(statusor).status();     \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)

#endif  // ACCELSCHED_TOPOLOGY_STATUS_MACROS_H_
