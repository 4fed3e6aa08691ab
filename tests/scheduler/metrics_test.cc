// The Prometheus text exposition (version 0.0.4) of Metrics::Render: exact lines for a known
// state (derived by hand below), and the format rules every family must keep (HELP and TYPE
// before its samples, cumulative histogram buckets ending in +Inf == _count).
#include "scheduler/service/metrics.h"

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

#include "plugins/framework/cluster_state.h"
#include "tests/testing/builders.h"

namespace accelsched::scheduler {
namespace {

using testing::Assign;
using testing::BuildSnapshot;
using testing::Node;

// Two nodes: a (2 x A100-80GB), b (1 x L4). On a: GPU 0 whole, GPU 1 has a 250-milli share.
plugins::ClusterSnapshot TwoNodes() {
  plugins::ClusterState state(BuildSnapshot({Node("a").Cpu(8000).Mem(1000).Gpus(2, "A100-80GB"),
                                             Node("b").Cpu(8000).Mem(1000).Gpus(1, "L4")}));
  EXPECT_TRUE(state.Apply(Assign(0, 0b01)).ok());
  EXPECT_TRUE(state.Apply(Assign(0, 0b10, 250)).ok());
  return *state.Snapshot();
}

std::string Rendered(Metrics& m) {
  return m.Render(TwoNodes(), /*pods_placed=*/2,
                  Metrics::GangFigures{1, 3, {{"planned", 4}, {"expired", 1}}}, {{"ml", 1250}});
}

std::set<std::string> Lines(const std::string& text) {
  std::vector<std::string> v = absl::StrSplit(text, '\n', absl::SkipEmpty());
  return {v.begin(), v.end()};
}

TEST(MetricsRenderTest, KnownStateGivesTheseSamples) {
  Metrics m;
  m.ObserveRequest("filter", 200, 0.0003);  // Bucket le=0.0005 and above.
  m.ObserveRequest("filter", 200, 0.002);   // Bucket le=0.0025 and above.
  m.ObserveRequest("bind", 200, 3.0);       // Only +Inf.
  m.CountPlacement("whole");
  m.CountBindError();
  m.AddTenantGpuSeconds({{"ml", 1500}}, 2.0);  // 1.5 GPUs x 2 s = 3 GPU-seconds.
  const std::set<std::string> lines = Lines(Rendered(m));
  const std::vector<std::string> want = {
      R"(accelsched_requests_total{verb="filter",code="200"} 2)",
      R"(accelsched_requests_total{verb="bind",code="200"} 1)",
      R"(accelsched_request_duration_seconds_bucket{verb="filter",le="0.00025"} 0)",
      R"(accelsched_request_duration_seconds_bucket{verb="filter",le="0.0005"} 1)",
      R"(accelsched_request_duration_seconds_bucket{verb="filter",le="0.001"} 1)",
      R"(accelsched_request_duration_seconds_bucket{verb="filter",le="0.0025"} 2)",
      R"(accelsched_request_duration_seconds_bucket{verb="filter",le="+Inf"} 2)",
      R"(accelsched_request_duration_seconds_count{verb="filter"} 2)",
      R"(accelsched_request_duration_seconds_sum{verb="filter"} 0.002300000)",
      R"(accelsched_request_duration_seconds_bucket{verb="bind",le="2.5"} 0)",
      R"(accelsched_request_duration_seconds_bucket{verb="bind",le="+Inf"} 1)",
      R"(accelsched_placements_total{kind="whole"} 1)",
      R"(accelsched_bind_errors_total 1)",
      R"(accelsched_tenant_gpu_seconds_total{namespace="ml"} 3.000)",
      // a: 2 GPUs = 2000 capacity; GPU 0 full (1000) + 250 of GPU 1 allocated; GPU 1's free
      // 750 is fragmented. b: 1000 capacity, nothing used.
      R"(accelsched_gpu_capacity_milli{model="A100-80GB"} 2000)",
      R"(accelsched_gpu_allocated_milli{model="A100-80GB"} 1250)",
      R"(accelsched_gpu_fragmented_milli{model="A100-80GB"} 750)",
      R"(accelsched_gpu_capacity_milli{model="L4"} 1000)",
      R"(accelsched_gpu_allocated_milli{model="L4"} 0)",
      R"(accelsched_gpu_fragmented_milli{model="L4"} 0)",
      R"(accelsched_nodes 2)",
      R"(accelsched_pods_placed 2)",
      R"(accelsched_gang_reservations 1)",
      R"(accelsched_gang_slots_held 3)",
      R"(accelsched_gang_events_total{event="planned"} 4)",
      R"(accelsched_gang_events_total{event="expired"} 1)",
      R"(accelsched_tenant_gpu_allocated_milli{namespace="ml"} 1250)",
  };
  for (const std::string& line : want) EXPECT_TRUE(lines.count(line)) << "missing: " << line;
}

TEST(MetricsRenderTest, EveryFamilyFollowsTheExpositionFormat) {
  Metrics m;
  m.ObserveRequest("prioritize", 200, 0.01);
  m.ObserveRequest("preempt", 400, 0.0001);
  m.CountPlacement("share");
  m.AddTenantGpuSeconds({{"team-a", 7}}, 1.0);
  const std::string text = Rendered(m);
  // name{label="value",...} number, or name number.
  const std::regex sample(R"(^([a-z_]+)(\{([a-z]+="[^"\\]*",?)+\})? [-+0-9.eInf]+$)");
  const std::regex help(R"(^# HELP ([a-z_]+) .+$)");
  const std::regex type(R"(^# TYPE ([a-z_]+) (counter|gauge|histogram)$)");
  std::set<std::string> helped, typed;
  std::map<std::string, std::string> types;
  const std::vector<std::string> all_lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  for (const std::string& line : all_lines) {
    SCOPED_TRACE(line);
    std::smatch match;
    if (std::regex_match(line, match, help)) {
      helped.insert(match[1]);
    } else if (std::regex_match(line, match, type)) {
      EXPECT_TRUE(helped.count(match[1])) << "TYPE before HELP";
      typed.insert(match[1]);
      types[match[1]] = match[2];
    } else {
      ASSERT_TRUE(std::regex_match(line, match, sample)) << "not a sample line";
      std::string family = match[1];
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string s = suffix;
        if (family.size() > s.size() &&
            family.compare(family.size() - s.size(), s.size(), s) == 0 &&
            types.count(family.substr(0, family.size() - s.size()))) {
          family = family.substr(0, family.size() - s.size());
        }
      }
      EXPECT_TRUE(typed.count(family)) << "sample before its TYPE";
      if (types[family] == "counter") {
        EXPECT_EQ(family.substr(family.size() - 6), "_total") << "counters end in _total";
      }
    }
  }
  // Histogram: buckets cumulative, +Inf equals _count (prioritize: one request of 10 ms).
  const std::set<std::string> lines = Lines(text);
  EXPECT_TRUE(
      lines.count(R"(accelsched_request_duration_seconds_bucket{verb="prioritize",le="0.005"} 0)"));
  EXPECT_TRUE(
      lines.count(R"(accelsched_request_duration_seconds_bucket{verb="prioritize",le="0.01"} 1)"));
  EXPECT_TRUE(
      lines.count(R"(accelsched_request_duration_seconds_bucket{verb="prioritize",le="+Inf"} 1)"));
  EXPECT_TRUE(lines.count(R"(accelsched_requests_total{verb="preempt",code="400"} 1)"));
  EXPECT_TRUE(lines.count(R"(accelsched_tenant_gpu_seconds_total{namespace="team-a"} 0.007)"));
}

TEST(MetricsRenderTest, LabelValuesAreEscaped) {
  Metrics m;
  m.CountPlacement("a\"b\\c\nd");
  EXPECT_TRUE(Lines(Rendered(m)).count(R"(accelsched_placements_total{kind="a\"b\\c\nd"} 1)"));
}

}  // namespace
}  // namespace accelsched::scheduler
