#include "scheduler/service/metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "plugins/framework/pod_request.h"

namespace accelsched::scheduler {
namespace {

// Label values escaped as the text format requires.
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

void Metrics::ObserveRequest(const std::string& verb, int code, double seconds) {
  absl::MutexLock lock(&mu_);
  ++requests_[{verb, code}];
  Histogram& h = durations_[verb];
  ++h.count;
  h.sum += seconds;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
}

void Metrics::CountPlacement(const std::string& kind) {
  absl::MutexLock lock(&mu_);
  ++placements_[kind];
}

void Metrics::CountBindError() {
  absl::MutexLock lock(&mu_);
  ++bind_errors_;
}

void Metrics::AddTenantGpuSeconds(const std::map<std::string, int64_t>& milli, double seconds) {
  absl::MutexLock lock(&mu_);
  for (const auto& [ns, m] : milli) {
    tenant_gpu_seconds_[ns] += static_cast<double>(m) / plugins::kMilliPerGpu * seconds;
  }
}

void Metrics::RenderCountersLocked(std::string* out) const {
  absl::StrAppend(out,
                  "# HELP accelsched_requests_total Extender requests by verb and HTTP code.\n"
                  "# TYPE accelsched_requests_total counter\n");
  for (const auto& [key, n] : requests_) {
    absl::StrAppend(out, "accelsched_requests_total{verb=\"", Escape(key.first), "\",code=\"",
                    key.second, "\"} ", n, "\n");
  }
  absl::StrAppend(out,
                  "# HELP accelsched_request_duration_seconds Server-side handling time.\n"
                  "# TYPE accelsched_request_duration_seconds histogram\n");
  for (const auto& [verb, h] : durations_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      absl::StrAppend(out, "accelsched_request_duration_seconds_bucket{verb=\"", Escape(verb),
                      "\",le=\"", absl::StrFormat("%g", kBuckets[i]), "\"} ", cumulative, "\n");
    }
    absl::StrAppend(out, "accelsched_request_duration_seconds_bucket{verb=\"", Escape(verb),
                    "\",le=\"+Inf\"} ", h.count, "\n");
    absl::StrAppend(out, "accelsched_request_duration_seconds_sum{verb=\"", Escape(verb), "\"} ",
                    absl::StrFormat("%.9f", h.sum), "\n");
    absl::StrAppend(out, "accelsched_request_duration_seconds_count{verb=\"", Escape(verb), "\"} ",
                    h.count, "\n");
  }
  absl::StrAppend(out,
                  "# HELP accelsched_placements_total Pods bound, by request kind.\n"
                  "# TYPE accelsched_placements_total counter\n");
  for (const auto& [kind, n] : placements_) {
    absl::StrAppend(out, "accelsched_placements_total{kind=\"", Escape(kind), "\"} ", n, "\n");
  }
  absl::StrAppend(out,
                  "# HELP accelsched_bind_errors_total Binds that failed.\n"
                  "# TYPE accelsched_bind_errors_total counter\n"
                  "accelsched_bind_errors_total ",
                  bind_errors_, "\n");
  absl::StrAppend(out,
                  "# HELP accelsched_tenant_gpu_seconds_total GPU-seconds allocated per "
                  "namespace.\n# TYPE accelsched_tenant_gpu_seconds_total counter\n");
  for (const auto& [ns, v] : tenant_gpu_seconds_) {
    absl::StrAppend(out, "accelsched_tenant_gpu_seconds_total{namespace=\"", Escape(ns), "\"} ",
                    absl::StrFormat("%.3f", v), "\n");
  }
}

namespace {

// Capacity, allocated and fragmented milli-GPU per GPU model of `snapshot`, as gauges.
void RenderGpuGauges(const plugins::ClusterSnapshot& snapshot, std::string* out) {
  struct PerModel {
    int64_t capacity = 0, allocated = 0, fragmented = 0;
  };
  std::map<std::string, PerModel> models;
  for (const plugins::NodeInfo& n : snapshot.nodes()) {
    if (n.gpu_count == 0 || n.model == plugins::kNoModel) continue;
    PerModel& m = models[snapshot.models()[static_cast<size_t>(n.model)]];
    for (int g = 0; g < n.gpu_count; ++g) {
      const int free = n.gpu_free_milli[static_cast<size_t>(g)];
      m.capacity += plugins::kMilliPerGpu;
      m.allocated += plugins::kMilliPerGpu - free;
      if (free > 0 && free < plugins::kMilliPerGpu) m.fragmented += free;
    }
  }
  const struct {
    const char* name;
    const char* help;
    int64_t PerModel::*value;
  } gauges[] = {
      {"accelsched_gpu_capacity_milli", "GPU capacity in milli-GPU.", &PerModel::capacity},
      {"accelsched_gpu_allocated_milli", "Allocated milli-GPU.", &PerModel::allocated},
      {"accelsched_gpu_fragmented_milli", "Free milli-GPU on partly used GPUs.",
       &PerModel::fragmented}};
  for (const auto& gauge : gauges) {
    absl::StrAppend(out, "# HELP ", gauge.name, " ", gauge.help, "\n# TYPE ", gauge.name,
                    " gauge\n");
    for (const auto& [model, m] : models) {
      absl::StrAppend(out, gauge.name, "{model=\"", Escape(model), "\"} ", m.*gauge.value, "\n");
    }
  }
}

// The gang gauges and counters, and the GPU milli each namespace holds.
void RenderGangsAndTenants(const Metrics::GangFigures& gangs,
                           const std::map<std::string, int64_t>& tenant_milli, std::string* out) {
  absl::StrAppend(out,
                  "# HELP accelsched_gang_reservations Gangs holding slots for their members.\n"
                  "# TYPE accelsched_gang_reservations gauge\naccelsched_gang_reservations ",
                  gangs.reservations,
                  "\n# HELP accelsched_gang_slots_held Gang slots held and not bound yet.\n"
                  "# TYPE accelsched_gang_slots_held gauge\naccelsched_gang_slots_held ",
                  gangs.slots_held,
                  "\n# HELP accelsched_gang_events_total Gang planning outcomes and releases.\n"
                  "# TYPE accelsched_gang_events_total counter\n");
  for (const auto& [event, n] : gangs.events) {
    absl::StrAppend(out, "accelsched_gang_events_total{event=\"", Escape(event), "\"} ", n, "\n");
  }
  absl::StrAppend(out,
                  "# HELP accelsched_tenant_gpu_allocated_milli GPU milli held per namespace.\n"
                  "# TYPE accelsched_tenant_gpu_allocated_milli gauge\n");
  for (const auto& [ns, m] : tenant_milli) {
    absl::StrAppend(out, "accelsched_tenant_gpu_allocated_milli{namespace=\"", Escape(ns), "\"} ",
                    m, "\n");
  }
}

}  // namespace

std::string Metrics::Render(const plugins::ClusterSnapshot& snapshot, size_t pods_placed,
                            const GangFigures& gangs,
                            const std::map<std::string, int64_t>& tenant_milli) const {
  std::string out;
  {
    absl::MutexLock lock(&mu_);
    RenderCountersLocked(&out);
  }
  RenderGpuGauges(snapshot, &out);
  absl::StrAppend(&out,
                  "# HELP accelsched_nodes Nodes known.\n# TYPE accelsched_nodes gauge\n"
                  "accelsched_nodes ",
                  snapshot.num_nodes(),
                  "\n# HELP accelsched_pods_placed Pods holding resources in the ledger.\n"
                  "# TYPE accelsched_pods_placed gauge\naccelsched_pods_placed ",
                  pods_placed, "\n");
  RenderGangsAndTenants(gangs, tenant_milli, &out);
  return out;
}

std::string Metrics::RenderConflicts(size_t conflicts) {
  return absl::StrCat(
      "# HELP accelsched_placement_conflicts Pods the API shows bound on devices that another "
      "pod holds in the ledger (see /debug/state conflicts).\n"
      "# TYPE accelsched_placement_conflicts gauge\naccelsched_placement_conflicts ",
      conflicts, "\n");
}

std::string Metrics::RenderTentativeHolds(const HoldFigures& h) {
  return absl::StrCat(
      "# HELP accelsched_tentative_holds Devices held for a pod between prioritize and its bind.\n"
      "# TYPE accelsched_tentative_holds gauge\naccelsched_tentative_holds ",
      h.held,
      "\n# HELP accelsched_tentative_holds_total Tentative holds made, taken over by the pod's "
      "bind, given back (bound elsewhere, new cycle) and expired.\n"
      "# TYPE accelsched_tentative_holds_total counter\n"
      "accelsched_tentative_holds_total{outcome=\"made\"} ",
      h.made, "\naccelsched_tentative_holds_total{outcome=\"bound\"} ", h.bound,
      "\naccelsched_tentative_holds_total{outcome=\"dropped\"} ", h.dropped,
      "\naccelsched_tentative_holds_total{outcome=\"expired\"} ", h.expired, "\n");
}

std::string Metrics::RenderConnections(const ConnectionFigures& c) {
  return absl::StrCat(
      "# HELP accelsched_http_connections_open HTTP connections open.\n"
      "# TYPE accelsched_http_connections_open gauge\naccelsched_http_connections_open ",
      c.open,
      "\n# HELP accelsched_http_connections_total HTTP connections by what became of them: "
      "accepted; refused at accept (connection budget full, none idle); evicted (idle, to make "
      "room); timed_out (head, body or answer not moved in time).\n"
      "# TYPE accelsched_http_connections_total counter\n"
      "accelsched_http_connections_total{event=\"accepted\"} ",
      c.accepted, "\naccelsched_http_connections_total{event=\"refused\"} ", c.refused,
      "\naccelsched_http_connections_total{event=\"evicted\"} ", c.evicted,
      "\naccelsched_http_connections_total{event=\"timed_out\"} ", c.timed_out, "\n");
}

}  // namespace accelsched::scheduler
