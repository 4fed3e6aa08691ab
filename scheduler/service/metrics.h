// Prometheus metrics of the extender, in the text exposition format (version 0.0.4).
//
//   accelsched_requests_total{verb,code}             counter
//   accelsched_request_duration_seconds{verb}        histogram (server-side handling time)
//   accelsched_placements_total{kind}                counter: whole, share, mig, cpu
//   accelsched_bind_errors_total                     counter
//   accelsched_gpu_capacity_milli{model}             gauge, from the current snapshot
//   accelsched_gpu_allocated_milli{model}            gauge
//   accelsched_gpu_fragmented_milli{model}           gauge: free milli-GPU on partly used GPUs
//                                                    (what only a share can still use)
//   accelsched_nodes, accelsched_pods_placed         gauges
//   accelsched_gang_reservations                     gauge: gangs holding slots for members
//   accelsched_gang_slots_held                       gauge: slots held, not bound yet
//   accelsched_gang_events_total{event}              counter: planned, unplaceable, waiting,
//                                                    expired, dropped
//   accelsched_tenant_gpu_allocated_milli{namespace} gauge: GPU milli held by each namespace's
//                                                    pods (MIG: compute slices / 7)
//   accelsched_tenant_gpu_seconds_total{namespace}   counter: GPU-seconds allocated, summed by
//                                                    the extender's housekeeping every 5 s
//   accelsched_tentative_holds                       gauge: devices held between prioritize
//                                                    and bind (service/tentative_holds.h)
//   accelsched_tentative_holds_total{outcome}        counter: made, bound, dropped, expired
//
// Thread-safety: thread-safe.
#ifndef ACCELSCHED_SCHEDULER_SERVICE_METRICS_H_
#define ACCELSCHED_SCHEDULER_SERVICE_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "plugins/framework/snapshot.h"

namespace accelsched::scheduler {

class Metrics {
 public:
  // Bucket upper bounds of the duration histogram, in seconds.
  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.5,    2.5};

  void ObserveRequest(const std::string& verb, int code, double seconds) ABSL_LOCKS_EXCLUDED(mu_);
  void CountPlacement(const std::string& kind) ABSL_LOCKS_EXCLUDED(mu_);
  void CountBindError() ABSL_LOCKS_EXCLUDED(mu_);

  // Adds `seconds` x the GPUs each namespace holds (`milli` per namespace) to its GPU-seconds.
  void AddTenantGpuSeconds(const std::map<std::string, int64_t>& milli, double seconds)
      ABSL_LOCKS_EXCLUDED(mu_);

  struct GangFigures {
    size_t reservations = 0, slots_held = 0;
    std::map<std::string, uint64_t> events;  // planned, unplaceable, ...
  };
  struct ConnectionFigures {
    int64_t open = 0, accepted = 0, refused = 0, evicted = 0, timed_out = 0;
  };
  // The HTTP connection gauges and counters (the server keeps them; see http/event_server.h).
  static std::string RenderConnections(const ConnectionFigures& c);
  // accelsched_placement_conflicts: pods bound on devices another pod holds (conflict_book.h).
  static std::string RenderConflicts(size_t conflicts);
  // The tentative holds' gauge and counters.
  struct HoldFigures {
    size_t held = 0;
    int64_t made = 0, bound = 0, dropped = 0, expired = 0;
  };
  static std::string RenderTentativeHolds(const HoldFigures& h);

  // The whole exposition, with the gauges computed from `snapshot`, `pods_placed` and `gangs`.
  // `tenant_milli`: GPU milli held per namespace now.
  std::string Render(const plugins::ClusterSnapshot& snapshot, size_t pods_placed,
                     const GangFigures& gangs,
                     const std::map<std::string, int64_t>& tenant_milli) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The counters and the histogram (everything this object counts itself).
  void RenderCountersLocked(std::string* out) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};  // Non-cumulative counts.
    uint64_t count = 0;
    double sum = 0;
  };
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Histogram> durations_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> placements_ ABSL_GUARDED_BY(mu_);
  uint64_t bind_errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, double> tenant_gpu_seconds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_SERVICE_METRICS_H_
