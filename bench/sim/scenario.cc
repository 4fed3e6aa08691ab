#include "bench/sim/scenario.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <queue>
#include <random>
#include <sstream>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

#include "bench/sim/cli.h"
#include "plugins/framework/cluster_state.h"
#include "plugins/framework/fit.h"
#include "topology/profiles.h"
#include "topology/status_macros.h"

namespace accelsched::sim {
namespace {

using nlohmann::json;
using plugins::PodRequest;

absl::Status Bad(const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

// Reads an optional number field; `lo`..`hi` inclusive.
absl::Status Number(const json& obj, const std::string& path, const char* key, double lo, double hi,
                    double* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return absl::OkStatus();
  }
  if (!it->is_number()) {
    return Bad(absl::StrCat(path, ".", key), "must be a number");
  }
  const double v = it->get<double>();
  if (!(v >= lo && v <= hi)) {
    return Bad(absl::StrCat(path, ".", key), absl::StrCat("must be in ", lo, "..", hi));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status CheckKeys(const json& obj, const std::string& path,
                       std::initializer_list<const char*> known) {
  if (!obj.is_object()) {
    return Bad(path, "must be an object");
  }
  for (const auto& [key, value] : obj.items()) {
    bool ok = false;
    for (const char* k : known) {
      ok = ok || key == k;
    }
    if (!ok) {
      return Bad(absl::StrCat(path, ".", key), "unknown field");
    }
  }
  return absl::OkStatus();
}

struct PodClass {
  PodRequest request;
  double weight = 1;
  double mean_duration = 3600;
  std::vector<int> gang_sizes;  // Empty: single pods.
  plugins::NetworkMode network = plugins::NetworkMode::kNone;
  int level = -1;
};

// "required:rack" / "preferred:block" -> mode and level index (host, rack, block).
absl::Status ParseNetwork(const json& v, const std::string& path, PodClass* pc) {
  const std::string text = v.is_string() ? v.get<std::string>() : "";
  const size_t colon = text.find(':');
  const std::string mode = text.substr(0, colon);
  const std::string level = colon == std::string::npos ? "" : text.substr(colon + 1);
  const std::vector<std::string> levels = {"host", "rack", "block"};
  auto it = std::find(levels.begin(), levels.end(), level);
  if ((mode != "required" && mode != "preferred") || it == levels.end()) {
    return Bad(path,
               "must be \"required:LEVEL\" or \"preferred:LEVEL\" with LEVEL host, rack "
               "or block");
  }
  pc->network =
      mode == "required" ? plugins::NetworkMode::kRequired : plugins::NetworkMode::kPreferred;
  pc->level = static_cast<int>(it - levels.begin());
  return absl::OkStatus();
}

absl::StatusOr<PodClass> ParseClass(const json& c, const std::string& path) {
  ACCELSCHED_RETURN_IF_ERROR(
      CheckKeys(c, path,
                {"name", "weight", "cpu_milli", "memory_mib", "gpus", "gpu_milli", "mig", "nvlink",
                 "mean_duration_s", "gang_sizes", "gang_network"}));
  PodClass pc;
  pc.request.name = c.value("name", std::string("pod"));
  double v = 0;
  ACCELSCHED_RETURN_IF_ERROR(Number(c, path, "weight", 0, 1e9, &pc.weight));
  v = 1000;
  ACCELSCHED_RETURN_IF_ERROR(Number(c, path, "cpu_milli", 0, 1e9, &v));
  pc.request.cpu_milli = static_cast<int64_t>(v);
  v = 1024;
  ACCELSCHED_RETURN_IF_ERROR(Number(c, path, "memory_mib", 0, 1e12, &v));
  pc.request.memory_mib = static_cast<int64_t>(v);
  v = 0;
  ACCELSCHED_RETURN_IF_ERROR(Number(c, path, "gpus", 0, 16, &v));
  pc.request.gpu_count = static_cast<int32_t>(v);
  v = 0;
  ACCELSCHED_RETURN_IF_ERROR(Number(c, path, "gpu_milli", 0, 999, &v));
  pc.request.gpu_milli = static_cast<int32_t>(v);
  ACCELSCHED_RETURN_IF_ERROR(Number(c, path, "mean_duration_s", 1e-3, 1e9, &pc.mean_duration));
  if (auto it = c.find("mig"); it != c.end() && !it->is_null()) {
    // "3g", "1g.2m" (double memory), "1g+me".
    if (!it->is_string()) {
      return Bad(path + ".mig", "must be a string like \"3g\"");
    }
    std::string m = it->get<std::string>();
    plugins::MigRequest r;
    if (absl::EndsWith(m, "+me")) {
      r.media_extensions = true;
      m.resize(m.size() - 3);
    }
    if (absl::EndsWith(m, ".2m")) {
      r.double_memory = true;
      m.resize(m.size() - 3);
    }
    if (m.size() != 2 || m[1] != 'g' || !absl::SimpleAtoi(m.substr(0, 1), &r.compute_slices)) {
      return Bad(path + ".mig", "must look like \"1g\", \"3g\", \"1g.2m\" or \"1g+me\"");
    }
    pc.request.mig = r;
  }
  if (auto it = c.find("nvlink"); it != c.end() && !it->is_null()) {
    const std::string n = it->is_string() ? it->get<std::string>() : "";
    if (n == "required") {
      pc.request.nvlink = plugins::TopologyPreference::kRequired;
    } else if (n == "preferred") {
      pc.request.nvlink = plugins::TopologyPreference::kPreferred;
    } else if (n != "none") {
      return Bad(path + ".nvlink", "must be \"none\", \"preferred\" or \"required\"");
    }
  }
  if (auto it = c.find("gang_sizes"); it != c.end() && !it->is_null()) {
    if (!it->is_array() || it->empty()) {
      return Bad(path + ".gang_sizes", "must be a non-empty array of member counts");
    }
    for (const json& x : *it) {
      if (!x.is_number_integer() || x.get<int>() < 2 || x.get<int>() > 100000) {
        return Bad(path + ".gang_sizes", "member counts must be integers in 2..100000");
      }
      pc.gang_sizes.push_back(x.get<int>());
    }
  }
  if (auto it = c.find("gang_network"); it != c.end() && !it->is_null()) {
    if (pc.gang_sizes.empty()) {
      return Bad(path + ".gang_network", "needs gang_sizes");
    }
    ACCELSCHED_RETURN_IF_ERROR(ParseNetwork(*it, path + ".gang_network", &pc));
  }
  if (absl::Status s = pc.request.Validate(); !s.ok()) {
    return Bad(path, s.message());
  }
  return pc;
}

// Built-in profiles already turned into node topologies, by name (node groups share them).
using TopologyCache = std::map<std::string, std::shared_ptr<const plugins::NodeTopology>>;

// One entry of "nodes" (at `path`): `count` identical nodes appended to `nodes`.
absl::Status AddNodeGroup(const json& g, const std::string& path, TopologyCache& topologies,
                          std::vector<plugins::NodeSpec>& nodes) {
  ACCELSCHED_RETURN_IF_ERROR(CheckKeys(g, path,
                                       {"name", "count", "profile", "gpu_model", "gpus",
                                        "cpu_milli", "memory_mib", "gpu_memory_mib", "mig_gpus"}));
  if (!g.contains("name") || !g["name"].is_string()) {
    return Bad(path + ".name", "required string");
  }
  double count = 1, cpu = 64000, mem = 524288, gpu_mem = 0, gpus = 0;
  ACCELSCHED_RETURN_IF_ERROR(Number(g, path, "count", 1, 100000, &count));
  ACCELSCHED_RETURN_IF_ERROR(Number(g, path, "cpu_milli", 0, 1e9, &cpu));
  ACCELSCHED_RETURN_IF_ERROR(Number(g, path, "memory_mib", 0, 1e12, &mem));
  ACCELSCHED_RETURN_IF_ERROR(Number(g, path, "gpu_memory_mib", 0, 1e9, &gpu_mem));
  ACCELSCHED_RETURN_IF_ERROR(Number(g, path, "gpus", 0, 16, &gpus));
  std::shared_ptr<const plugins::NodeTopology> topo;
  if (g.contains("profile")) {
    if (!g["profile"].is_string()) {
      return Bad(path + ".profile", "must be a string");
    }
    const std::string name = g["profile"].get<std::string>();
    if (!topologies.count(name)) {
      absl::StatusOr<topology::Topology> t = topology::BuiltinProfile(name);
      if (!t.ok()) {
        return Bad(path + ".profile", t.status().message());
      }
      ACCELSCHED_ASSIGN_OR_RETURN(topologies[name], plugins::NodeTopology::Create(*t));
    }
    topo = topologies[name];
    gpus = topo->topology.num_gpus();
  }
  plugins::GpuMask mig = 0;
  if (auto it = g.find("mig_gpus"); it != g.end()) {
    if (!it->is_array()) {
      return Bad(path + ".mig_gpus", "must be an array of GPU indices");
    }
    for (const json& x : *it) {
      if (!x.is_number_integer() || x.get<int>() < 0 || x.get<int>() >= gpus) {
        return Bad(path + ".mig_gpus", "GPU index out of range");
      }
      mig |= plugins::GpuMask{1} << x.get<int>();
    }
  }
  for (int n = 0; n < static_cast<int>(count); ++n) {
    plugins::NodeSpec spec;
    spec.name = absl::StrCat(g["name"].get<std::string>(), "-", n);
    spec.cpu_milli = static_cast<int64_t>(cpu);
    spec.memory_mib = static_cast<int64_t>(mem);
    spec.gpu_count = static_cast<int>(gpus);
    spec.gpu_model = gpus > 0 ? g.value("gpu_model", std::string("GPU")) : "";
    spec.gpu_memory_mib = static_cast<int64_t>(gpu_mem);
    spec.mig_enabled = mig;
    spec.topology = topo;
    nodes.push_back(std::move(spec));
  }
  return absl::OkStatus();
}

// "scenario.nodes": the node groups, expanded, in file order.
absl::StatusOr<std::vector<plugins::NodeSpec>> ParseNodeGroups(const json& root) {
  auto groups = root.find("nodes");
  if (groups == root.end() || !groups->is_array() || groups->empty()) {
    return Bad("scenario.nodes", "must be a non-empty array of node groups");
  }
  TopologyCache topologies;
  std::vector<plugins::NodeSpec> nodes;
  for (size_t i = 0; i < groups->size(); ++i) {
    ACCELSCHED_RETURN_IF_ERROR(
        AddNodeGroup((*groups)[i], absl::StrCat("scenario.nodes[", i, "]"), topologies, nodes));
  }
  return nodes;
}

// "scenario.network": the kNetworkLevelKeys labels on every node, in node order.
absl::Status AddNetworkLabels(const json& net, std::vector<plugins::NodeSpec>& nodes) {
  ACCELSCHED_RETURN_IF_ERROR(
      CheckKeys(net, "scenario.network", {"nodes_per_rack", "racks_per_block"}));
  double per_rack = 32, per_block = 8;
  ACCELSCHED_RETURN_IF_ERROR(
      Number(net, "scenario.network", "nodes_per_rack", 1, 100000, &per_rack));
  ACCELSCHED_RETURN_IF_ERROR(
      Number(net, "scenario.network", "racks_per_block", 1, 100000, &per_block));
  const size_t rack = static_cast<size_t>(per_rack), block = rack * static_cast<size_t>(per_block);
  for (size_t i = 0; i < nodes.size(); ++i) {
    plugins::NodeSpec& n = nodes[i];
    n.labels.emplace_back(kNetworkLevelKeys[0], n.name);
    n.labels.emplace_back(kNetworkLevelKeys[1], absl::StrFormat("rack-%05d", i / rack));
    n.labels.emplace_back(kNetworkLevelKeys[2], absl::StrFormat("block-%04d", i / block));
  }
  return absl::OkStatus();
}

// "scenario.workload" before the draw: how many pods, how often, of which classes.
struct WorkloadSpec {
  double pods = 100;
  double mean_interarrival_s = 60;
  std::vector<PodClass> classes;
  std::vector<double> weights;  // Per class.
};

absl::StatusOr<WorkloadSpec> ParseWorkload(const json& root) {
  auto w = root.find("workload");
  if (w == root.end()) {
    return Bad("scenario.workload", "required");
  }
  ACCELSCHED_RETURN_IF_ERROR(
      CheckKeys(*w, "scenario.workload", {"pods", "mean_interarrival_s", "classes"}));
  WorkloadSpec spec;
  ACCELSCHED_RETURN_IF_ERROR(Number(*w, "scenario.workload", "pods", 1, 1e7, &spec.pods));
  ACCELSCHED_RETURN_IF_ERROR(
      Number(*w, "scenario.workload", "mean_interarrival_s", 1e-6, 1e9, &spec.mean_interarrival_s));
  auto classes = w->find("classes");
  if (classes == w->end() || !classes->is_array() || classes->empty()) {
    return Bad("scenario.workload.classes", "must be a non-empty array");
  }
  for (size_t i = 0; i < classes->size(); ++i) {
    ACCELSCHED_ASSIGN_OR_RETURN(
        PodClass pc, ParseClass((*classes)[i], absl::StrCat("scenario.workload.classes[", i, "]")));
    spec.weights.push_back(pc.weight);
    spec.classes.push_back(std::move(pc));
  }
  return spec;
}

// Draws the arrivals of `spec` from one generator seeded with `rng_seed` (class, gap, duration
// and gang size per pod, in that order) into s.pods, and the workload model from them.
absl::Status DrawPods(const WorkloadSpec& spec, uint64_t rng_seed, Scenario& s) {
  std::mt19937_64 rng(rng_seed);
  std::discrete_distribution<size_t> pick(spec.weights.begin(), spec.weights.end());
  std::exponential_distribution<double> gap(1.0 / spec.mean_interarrival_s);
  double t = 0;
  std::vector<PodRequest> requests;
  for (int i = 0; i < static_cast<int>(spec.pods); ++i) {
    const PodClass& pc = spec.classes[pick(rng)];
    ScenarioPod p;
    p.request = pc.request;
    p.request.name = absl::StrCat(pc.request.name, "-", i);
    t += gap(rng);
    p.arrival = t;
    p.duration = std::exponential_distribution<double>(1.0 / pc.mean_duration)(rng);
    if (!pc.gang_sizes.empty()) {
      p.members =
          pc.gang_sizes[std::uniform_int_distribution<size_t>(0, pc.gang_sizes.size() - 1)(rng)];
      p.network = pc.network;
      p.level = pc.level;
      if (p.network != plugins::NetworkMode::kNone && !s.network) {
        return Bad("scenario.network", "required by gang_network (racks and blocks)");
      }
    }
    requests.push_back(p.request);
    if (p.request.mig.has_value()) {
      s.workload.mig_demand.emplace_back(*p.request.mig, 1.0);
    }
    s.pods.push_back(std::move(p));
  }
  ACCELSCHED_ASSIGN_OR_RETURN(s.workload.shapes, plugins::TypicalShapes(requests));
  return absl::OkStatus();
}

// ---- RunScenario ------------------------------------------------------------------------------

// True if every slot is on a node of the same named domain (`domain_of`: per node, "" for none).
bool AllIn(const std::vector<std::string>& domain_of,
           const std::vector<plugins::Assignment>& slots) {
  const std::string& first = domain_of[static_cast<size_t>(slots.front().node)];
  if (first.empty()) {
    return false;
  }
  for (const plugins::Assignment& a : slots) {
    if (domain_of[static_cast<size_t>(a.node)] != first) {
      return false;
    }
  }
  return true;
}

// Per node, the value of label `key` ("" when the node has none).
std::vector<std::string> LabelOfEachNode(const plugins::ClusterSnapshot& view,
                                         const std::string& key) {
  std::vector<std::string> value_of(static_cast<size_t>(view.num_nodes()));
  for (plugins::NodeIndex n = 0; n < view.num_nodes(); ++n) {
    for (const auto& [k, value] : *view.node(n).labels) {
      if (k == key) {
        value_of[static_cast<size_t>(n)] = value;
      }
    }
  }
  return value_of;
}

// One event-driven run of a scenario (RunScenario): the cluster, the clock, the departures, the
// waiting queue and the tallies. Single-threaded; lives for one run.
class ScenarioRun {
 public:
  ScenarioRun(const plugins::Solver& solver, const Scenario& s, uint64_t seed,
              const ScenarioOptions& options, plugins::ClusterSnapshot initial)
      : solver_(solver),
        s_(s),
        options_(options),
        state_(std::move(initial)),
        view_(state_.view()),
        rng_(seed),
        // The layout never changes during a run, so the planner's domains are built once.
        domains_(plugins::NetworkDomains::Build(
            view_, s.network ? kNetworkLevelKeys : std::vector<std::string>())),
        rack_of_(LabelOfEachNode(view_, kNetworkLevelKeys[1])),
        block_of_(LabelOfEachNode(view_, kNetworkLevelKeys[2])),
        placed_(s.pods.size()) {}

  absl::StatusOr<ScenarioResult> Run();

 private:
  // Departures: (time, pod index); min-heap.
  using Departure = std::pair<double, size_t>;

  // Moves the clock to `t`, adding the allocation since the last event to the area.
  void Advance(double t) {
    alloc_area_ += (t - now_) * static_cast<double>(view_.gpu_used_milli());
    now_ = t;
  }
  int64_t FreeWholeGpus() const {
    int64_t free = 0;
    for (const plugins::NodeInfo& n : view_.nodes()) {
      free += std::popcount(n.WholeFreeGpus());
    }
    return free;
  }
  absl::StatusOr<std::vector<plugins::Assignment>> PlaceGang(const ScenarioPod& job);
  absl::StatusOr<bool> FitsOneRackWhenEmpty(const ScenarioPod& job);
  absl::Status CountGangs();
  absl::StatusOr<bool> PlaceSinglePod(size_t i);
  absl::StatusOr<bool> BestSetAvailable(const PodRequest& pod) const;
  absl::StatusOr<bool> TryPlace(size_t i);
  absl::Status DepartAndRetry();
  ScenarioResult Finish();

  const plugins::Solver& solver_;
  const Scenario& s_;
  const ScenarioOptions& options_;
  plugins::ClusterState state_;
  const plugins::ClusterSnapshot& view_;
  plugins::Rng rng_;
  const plugins::NetworkDomains domains_;
  const std::vector<std::string> rack_of_;   // Per node.
  const std::vector<std::string> block_of_;  // Per node.
  std::priority_queue<Departure, std::vector<Departure>, std::greater<>> departures_;
  std::vector<std::vector<plugins::Assignment>> placed_;  // Per pod, while it runs.
  std::deque<size_t> waiting_;
  ScenarioResult r_;
  double now_ = 0, alloc_area_ = 0, arrival_area_ = 0, wait_sum_ = 0, ring_sum_ = 0,
         large_wait_sum_ = 0;
  int ring_count_ = 0;
};

// Places every member of gang `job`, or none (an empty result).
absl::StatusOr<std::vector<plugins::Assignment>> ScenarioRun::PlaceGang(const ScenarioPod& job) {
  std::vector<plugins::Assignment> slots;
  if (job.request.gpu_count > 0 &&
      FreeWholeGpus() < static_cast<int64_t>(job.members) * job.request.gpu_count) {
    return slots;  // Cannot fit anywhere: skip the search.
  }
  if (options_.gangs == GangMethod::kPlanner) {
    plugins::GangSpec spec;
    spec.name = job.request.name;
    spec.members.assign(static_cast<size_t>(job.members), job.request);
    spec.mode = job.network;
    spec.level = job.level;
    ACCELSCHED_ASSIGN_OR_RETURN(plugins::GangPlanOutcome out,
                                plugins::PlanGang(solver_, view_, domains_, spec));
    if (!out.plan.has_value()) {
      return slots;
    }
    for (const plugins::Assignment& a : out.plan->slots) {
      ACCELSCHED_RETURN_IF_ERROR(state_.Apply(a));
    }
    return out.plan->slots;
  }
  for (int m = 0; m < job.members; ++m) {
    ACCELSCHED_ASSIGN_OR_RETURN(plugins::Placement p, solver_.Place(job.request, view_, &rng_));
    if (!p.assignment.has_value()) {
      for (const plugins::Assignment& a : slots) {
        ACCELSCHED_RETURN_IF_ERROR(state_.Release(a));
      }
      slots.clear();
      return slots;
    }
    ACCELSCHED_RETURN_IF_ERROR(state_.Apply(*p.assignment));
    slots.push_back(*p.assignment);
  }
  return slots;
}

// Whether some node with a topology where `pod` fits has a best set of its size free now.
absl::StatusOr<bool> ScenarioRun::BestSetAvailable(const PodRequest& pod) const {
  ACCELSCHED_ASSIGN_OR_RETURN(const plugins::CycleState state,
                              solver_.PreFilter(pod, view_, /*explain=*/false));
  for (const plugins::NodeInfo& node : view_.nodes()) {
    if (node.topology == nullptr || std::popcount(node.WholeFreeGpus()) < pod.gpu_count) {
      continue;
    }
    const plugins::GpuMask set =
        node.topology->search.BestUnconstrained(node.WholeFreeGpus(), pod.gpu_count);
    if (set == 0 || !plugins::IsBestSet(*node.topology, set)) {
      continue;
    }
    ACCELSCHED_ASSIGN_OR_RETURN(plugins::FilterVerdict v, solver_.FilterNode(state, pod, node));
    if (v.feasibility == plugins::Feasibility::kFeasible) {
      return true;
    }
  }
  return false;
}

// A single pod (not a gang): placed by the solver, counted for the MIG and multi-GPU figures.
absl::StatusOr<bool> ScenarioRun::PlaceSinglePod(size_t i) {
  const PodRequest& pod = s_.pods[i].request;
  bool best_available = false;
  if (pod.gpu_count >= 2) {
    ACCELSCHED_ASSIGN_OR_RETURN(best_available, BestSetAvailable(pod));
  }
  ACCELSCHED_ASSIGN_OR_RETURN(plugins::Placement p, solver_.Place(pod, view_, &rng_));
  if (!p.assignment.has_value()) {
    return false;
  }
  ACCELSCHED_RETURN_IF_ERROR(state_.Apply(*p.assignment));
  placed_[i] = {*p.assignment};
  if (pod.mig.has_value()) {
    ++r_.mig_placed;
  }
  if (pod.gpu_count >= 2) {
    ++r_.multi_gpu_placed;
    const plugins::NodeInfo& node = view_.node(p.assignment->node);
    if (node.topology != nullptr) {
      if (plugins::IsNvlinkRing(*node.topology, p.assignment->gpus)) {
        ++r_.multi_gpu_nvlink_ring;
      }
      ring_sum_ += node.topology->search.Quality(p.assignment->gpus).ring_mbps / 1000.0;
      ++ring_count_;
      ++r_.multi_gpu_on_topology;
      r_.multi_gpu_best_set += plugins::IsBestSet(*node.topology, p.assignment->gpus);
      r_.multi_gpu_best_available += best_available;
    }
  }
  return true;
}

// Places arrival `i` now if it fits (a gang all or nothing), scheduling its departure.
absl::StatusOr<bool> ScenarioRun::TryPlace(size_t i) {
  const ScenarioPod& job = s_.pods[i];
  if (job.members > 1) {
    ACCELSCHED_ASSIGN_OR_RETURN(placed_[i], PlaceGang(job));
    if (placed_[i].empty()) {
      return false;
    }
    ++r_.gangs_placed;
    const bool in_rack = AllIn(rack_of_, placed_[i]), in_block = AllIn(block_of_, placed_[i]);
    r_.gangs_in_rack += in_rack;
    r_.gangs_in_block += in_block;
    if (job.members >= options_.large_gang) {
      ++r_.large_placed;
      r_.large_in_rack += in_rack;
      r_.large_in_block += in_block;
      large_wait_sum_ += now_ - job.arrival;
    }
  } else {
    ACCELSCHED_ASSIGN_OR_RETURN(bool ok, PlaceSinglePod(i));
    if (!ok) {
      return false;
    }
  }
  departures_.emplace(now_ + job.duration, i);
  ++r_.placed;
  wait_sum_ += now_ - job.arrival;
  if (now_ > job.arrival) {
    ++r_.waited;
  }
  return true;
}

// The next departure: its devices are released, then the queue is retried in order.
absl::Status ScenarioRun::DepartAndRetry() {
  auto [t, i] = departures_.top();
  departures_.pop();
  Advance(t);
  for (const plugins::Assignment& a : placed_[i]) {
    ACCELSCHED_RETURN_IF_ERROR(state_.Release(a));
  }
  placed_[i].clear();
  for (size_t k = 0; k < waiting_.size();) {
    ACCELSCHED_ASSIGN_OR_RETURN(bool ok, TryPlace(waiting_[k]));
    if (ok) {
      waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(k));
    } else {
      ++k;
    }
  }
  return absl::OkStatus();
}

// Whether gang `job` fits within one rack of the cluster as it is now (empty: called before the
// first arrival): the planner, exact by its oracle test, with the rack required.
absl::StatusOr<bool> ScenarioRun::FitsOneRackWhenEmpty(const ScenarioPod& job) {
  if (!s_.network) {
    return false;
  }
  plugins::GangSpec spec;
  spec.name = job.request.name;
  spec.members.assign(static_cast<size_t>(job.members), job.request);
  spec.mode = plugins::NetworkMode::kRequired;
  spec.level = 1;  // kNetworkLevelKeys[1]: the rack.
  ACCELSCHED_ASSIGN_OR_RETURN(plugins::GangPlanOutcome out,
                              plugins::PlanGang(solver_, view_, domains_, spec));
  return out.plan.has_value();
}

// Counts the gangs and large gangs, and the large ones that could lie within one rack (one plan
// per distinct member count and request shape).
absl::Status ScenarioRun::CountGangs() {
  std::map<std::tuple<int, int, int64_t, int64_t, int64_t>, bool> fits;
  for (const ScenarioPod& job : s_.pods) {
    if (job.members <= 1) {
      continue;
    }
    ++r_.gangs;
    if (job.members < options_.large_gang) {
      continue;
    }
    ++r_.large;
    const PodRequest& q = job.request;
    const auto key =
        std::make_tuple(job.members, q.gpu_count, q.gpu_milli, q.cpu_milli, q.memory_mib);
    auto it = fits.find(key);
    if (it == fits.end()) {
      ACCELSCHED_ASSIGN_OR_RETURN(bool fit, FitsOneRackWhenEmpty(job));
      it = fits.emplace(key, fit).first;
    }
    r_.large_fit_rack += it->second;
  }
  return absl::OkStatus();
}

absl::StatusOr<ScenarioResult> ScenarioRun::Run() {
  r_.pods = static_cast<int>(s_.pods.size());
  ACCELSCHED_RETURN_IF_ERROR(CountGangs());
  size_t next = 0;
  while (next < s_.pods.size() || !departures_.empty()) {
    const bool arrival_next =
        next < s_.pods.size() &&
        (departures_.empty() || s_.pods[next].arrival < departures_.top().first);
    if (!arrival_next) {
      ACCELSCHED_RETURN_IF_ERROR(DepartAndRetry());
      continue;
    }
    Advance(s_.pods[next].arrival);
    if (next + 1 == s_.pods.size()) {
      arrival_area_ = alloc_area_;
    }
    ACCELSCHED_ASSIGN_OR_RETURN(bool ok, TryPlace(next));
    if (!ok) {
      waiting_.push_back(next);
    }
    ++next;
  }
  return Finish();
}

// The means and percentages from the tallies, after the last event.
ScenarioResult ScenarioRun::Finish() {
  ScenarioResult r = r_;
  const double capacity = static_cast<double>(view_.gpu_capacity_milli());
  r.never_placed = static_cast<int>(waiting_.size());
  r.mean_wait_s = r.placed > 0 ? wait_sum_ / r.placed : 0;
  r.mean_alloc_pct =
      now_ > 0 && view_.gpu_capacity_milli() > 0 ? 100.0 * alloc_area_ / now_ / capacity : 0;
  const double last_arrival = s_.pods.empty() ? 0 : s_.pods.back().arrival;
  r.arrival_alloc_pct = last_arrival > 0 && view_.gpu_capacity_milli() > 0
                            ? 100.0 * arrival_area_ / last_arrival / capacity
                            : 0;
  r.mean_ring_gbps = ring_count_ > 0 ? ring_sum_ / ring_count_ : 0;
  r.large_mean_wait_s = r.large_placed > 0 ? large_wait_sum_ / r.large_placed : 0;
  return r;
}

// ---- RunScenarioCommand -----------------------------------------------------------------------

constexpr char kScenarioHelp[] =
    R"(usage: accelsched-sim scenario --file FILE --policy P[,P...] [--seeds 1-5] [--large-gang 16]

Event-driven run of a scenario (bench/scenarios/*.json): node groups with built-in topology
profiles and MIG GPUs; pods from weighted classes with exponential arrivals and durations.
Pods that do not fit wait in a FIFO queue, retried after every departure.
Prints per policy (means over seeds): pods placed, never placed, mean wait, time-averaged GPU
allocation, multi-GPU pods on an NVLink ring and their mean ring bandwidth, MIG placements,
and best-set%: of the multi-GPU pods on nodes with a topology, those given a best set (the best
ring bottleneck the node model offers for that many GPUs when empty); best-avail%: those for
which some node where they fit had a best set free when they were placed (no node choice could
give the others one).

Gangs (classes with gang_sizes) are placed all or nothing: by the gang planner over the
network domains (smallest rack/block that fits) for policy accelsched, member by member with
the policy's own solver for the others (topology-blind, e.g. firstfit = first fit by node,
bestfit = best fit by node). A second table gives per policy: the GPU allocation until the last
arrival (load_alloc%), gangs placed, the share within
one rack and within one block, and for large gangs (at least --large-gang members) the same,
their mean wait, and fit1rack%: the share of large gangs that fit within one rack of the empty
cluster at all (planned with the rack required), the most any policy can keep within one rack.
)";

// The flags of `accelsched-sim scenario`, as given.
struct ScenarioFlags {
  std::string file, policies, seeds = "1", large = "16";
  bool help = false;
};

// Flags in argv order; stops at --help. InvalidArgument for an unknown flag, a missing value or
// a missing --file/--policy.
absl::StatusOr<ScenarioFlags> ParseScenarioFlags(int argc, char** argv) {
  ScenarioFlags flags;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help") {
      flags.help = true;
      return flags;
    }
    if ((a == "--file" || a == "--policy" || a == "--seeds" || a == "--large-gang") &&
        i + 1 < argc) {
      (a == "--file"     ? flags.file
       : a == "--policy" ? flags.policies
       : a == "--seeds"  ? flags.seeds
                         : flags.large) = argv[++i];
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat("unknown flag or missing value '", a, "'"));
  }
  if (flags.file.empty() || flags.policies.empty()) {
    return absl::InvalidArgumentError("--file and --policy are required");
  }
  return flags;
}

absl::StatusOr<std::string> ReadScenarioFile(const std::string& file) {
  std::ifstream in(file);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": cannot open"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Adds run `r` to the per-policy sum (counts add up; means are divided by the seeds later).
void AddResult(const ScenarioResult& r, ScenarioResult& sum) {
  sum.pods += r.pods;
  sum.placed += r.placed;
  sum.waited += r.waited;
  sum.never_placed += r.never_placed;
  sum.mean_wait_s += r.mean_wait_s;
  sum.mean_alloc_pct += r.mean_alloc_pct;
  sum.multi_gpu_placed += r.multi_gpu_placed;
  sum.multi_gpu_nvlink_ring += r.multi_gpu_nvlink_ring;
  sum.multi_gpu_on_topology += r.multi_gpu_on_topology;
  sum.multi_gpu_best_set += r.multi_gpu_best_set;
  sum.multi_gpu_best_available += r.multi_gpu_best_available;
  sum.mean_ring_gbps += r.mean_ring_gbps;
  sum.mig_placed += r.mig_placed;
  sum.gangs += r.gangs;
  sum.gangs_placed += r.gangs_placed;
  sum.gangs_in_rack += r.gangs_in_rack;
  sum.gangs_in_block += r.gangs_in_block;
  sum.large += r.large;
  sum.large_placed += r.large_placed;
  sum.large_in_rack += r.large_in_rack;
  sum.large_in_block += r.large_in_block;
  sum.large_mean_wait_s += r.large_mean_wait_s;
  sum.large_fit_rack += r.large_fit_rack;
  sum.arrival_alloc_pct += r.arrival_alloc_pct;
}

// Policy `p` on the scenario `text` once per seed, summed. InvalidArgument for a bad scenario or
// policy (message as printed), Internal when a run fails.
absl::StatusOr<ScenarioResult> SumOverSeeds(absl::string_view p, const ScenarioFlags& flags,
                                            const std::string& text,
                                            const std::vector<uint64_t>& seeds,
                                            const ScenarioOptions& options) {
  ScenarioResult sum;
  for (uint64_t seed : seeds) {
    absl::StatusOr<Scenario> s = ParseScenario(text, static_cast<int64_t>(seed));
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(flags.file, ": ", s.status().message()));
    }
    plugins::PolicyConfig config;
    config.policy = std::string{p};
    absl::StatusOr<std::unique_ptr<plugins::Solver>> solver =
        plugins::BuildSolver(config, s->workload);
    if (!solver.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--policy: ", solver.status().message()));
    }
    absl::StatusOr<ScenarioResult> r = RunScenario(**solver, *s, seed, options);
    if (!r.ok()) {
      return absl::InternalError(r.status().message());
    }
    AddResult(*r, sum);
  }
  return sum;
}

std::string PolicyRow(absl::string_view p, const ScenarioResult& sum, double n) {
  return absl::StrFormat(
      "%-13s %6d %7d %7d %7d %10.1f %9.2f %10.1f %9.1f %6d %9.1f %11.1f\n", p, sum.pods, sum.placed,
      sum.waited, sum.never_placed, sum.mean_wait_s / n, sum.mean_alloc_pct / n,
      sum.multi_gpu_placed > 0 ? 100.0 * sum.multi_gpu_nvlink_ring / sum.multi_gpu_placed : 0.0,
      sum.mean_ring_gbps / n, sum.mig_placed,
      sum.multi_gpu_on_topology > 0 ? 100.0 * sum.multi_gpu_best_set / sum.multi_gpu_on_topology
                                    : 0.0,
      sum.multi_gpu_on_topology > 0
          ? 100.0 * sum.multi_gpu_best_available / sum.multi_gpu_on_topology
          : 0.0);
}

std::string GangRow(absl::string_view p, const ScenarioResult& sum, double n) {
  auto pct = [](int part, int whole) { return whole > 0 ? 100.0 * part / whole : 0.0; };
  return absl::StrFormat("%-13s %10.2f %6d %7d %7.1f %7.1f %6d %7d %7.1f %7.1f %10.1f %9.1f\n", p,
                         sum.arrival_alloc_pct / n, sum.gangs, sum.gangs_placed,
                         pct(sum.gangs_in_rack, sum.gangs_placed),
                         pct(sum.gangs_in_block, sum.gangs_placed), sum.large, sum.large_placed,
                         pct(sum.large_in_rack, sum.large_placed),
                         pct(sum.large_in_block, sum.large_placed), sum.large_mean_wait_s / n,
                         pct(sum.large_fit_rack, sum.large));
}

// "accelsched-sim scenario: <message>" on stderr (and the help after it); returns `code`.
int ScenarioFail(absl::string_view message, int code, bool with_help = false) {
  std::cerr << "accelsched-sim scenario: " << message << "\n";
  if (with_help) {
    std::cerr << kScenarioHelp;
  }
  return code;
}

}  // namespace

absl::StatusOr<Scenario> ParseScenario(absl::string_view text, int64_t seed) {
  const json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError("scenario: not valid JSON");
  }
  ACCELSCHED_RETURN_IF_ERROR(CheckKeys(root, "scenario", {"seed", "nodes", "network", "workload"}));
  double file_seed = 1;
  ACCELSCHED_RETURN_IF_ERROR(Number(root, "scenario", "seed", 0, 1e15, &file_seed));
  const uint64_t rng_seed =
      seed >= 0 ? static_cast<uint64_t>(seed) : static_cast<uint64_t>(file_seed);
  Scenario s;
  ACCELSCHED_ASSIGN_OR_RETURN(s.nodes, ParseNodeGroups(root));
  if (auto net = root.find("network"); net != root.end() && !net->is_null()) {
    ACCELSCHED_RETURN_IF_ERROR(AddNetworkLabels(*net, s.nodes));
    s.network = true;
  }
  ACCELSCHED_ASSIGN_OR_RETURN(const WorkloadSpec workload, ParseWorkload(root));
  ACCELSCHED_RETURN_IF_ERROR(DrawPods(workload, rng_seed, s));
  return s;
}

absl::StatusOr<ScenarioResult> RunScenario(const plugins::Solver& solver, const Scenario& s,
                                           uint64_t seed, const ScenarioOptions& options) {
  plugins::ClusterSnapshotBuilder builder;
  for (const plugins::NodeSpec& n : s.nodes) {
    builder.AddNode(n);
  }
  ACCELSCHED_ASSIGN_OR_RETURN(plugins::ClusterSnapshot initial, std::move(builder).Build());
  ScenarioRun run(solver, s, seed, options, std::move(initial));
  return run.Run();
}

int RunScenarioCommand(int argc, char** argv) {
  absl::StatusOr<ScenarioFlags> flags = ParseScenarioFlags(argc, argv);
  if (!flags.ok()) {
    return ScenarioFail(flags.status().message(), 1, /*with_help=*/true);
  }
  if (flags->help) {
    std::cout << kScenarioHelp;
    return 0;
  }
  absl::StatusOr<std::string> text = ReadScenarioFile(flags->file);
  if (!text.ok()) {
    return ScenarioFail(text.status().message(), 1);
  }
  ScenarioOptions options;
  if (!absl::SimpleAtoi(flags->large, &options.large_gang) || options.large_gang < 2) {
    return ScenarioFail(absl::StrCat("--large-gang: '", flags->large, "' is not an integer >= 2"),
                        1);
  }
  absl::StatusOr<std::vector<uint64_t>> seeds = ParseSeeds(flags->seeds);
  if (!seeds.ok()) {
    return ScenarioFail(seeds.status().message(), 1);
  }
  std::cout << absl::StrFormat("%-13s %6s %7s %7s %7s %10s %9s %10s %9s %6s %9s %11s\n", "policy",
                               "pods", "placed", "waited", "never", "wait_s", "alloc%", "nvl-ring%",
                               "ring_GBs", "mig", "best-set%", "best-avail%");
  std::string gang_table;
  for (absl::string_view p : absl::StrSplit(flags->policies, ',')) {
    options.gangs = p == "accelsched" ? GangMethod::kPlanner : GangMethod::kPodByPod;
    absl::StatusOr<ScenarioResult> sum = SumOverSeeds(p, *flags, *text, *seeds, options);
    if (!sum.ok()) {
      return ScenarioFail(sum.status().message(),
                          sum.status().code() == absl::StatusCode::kInternal ? 2 : 1);
    }
    const double n = static_cast<double>(seeds->size());
    std::cout << PolicyRow(p, *sum, n);
    absl::StrAppend(&gang_table, GangRow(p, *sum, n));
  }
  if (absl::StrContains(*text, "gang_sizes")) {
    std::cout << absl::StrFormat("\n%-13s %10s %6s %7s %7s %7s %6s %7s %7s %7s %10s %9s\n", "gangs",
                                 "load_alloc%", "gangs", "placed", "rack%", "block%", "large",
                                 "placed", "rack%", "block%", "wait_s", "fit1rack%")
              << gang_table;
  }
  return 0;
}

}  // namespace accelsched::sim
