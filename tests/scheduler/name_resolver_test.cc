// NameResolver against its oracle, ClusterSnapshot::Find: every list it resolves, however the
// lists change between requests, must give exactly Find's answer; and repeated or slightly
// changed lists must be resolved mostly by prediction.
#include "scheduler/state/name_resolver.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "tests/testing/builders.h"

namespace accelsched::scheduler {
namespace {

using plugins::ClusterSnapshot;
using plugins::NodeIndex;
using testing::CpuNodes;

ClusterSnapshot Nodes(int n, const std::string& prefix = "node-") {
  std::vector<std::pair<std::string, int64_t>> nodes;
  for (int i = 0; i < n; ++i) nodes.emplace_back(absl::StrCat(prefix, i), 1000);
  return CpuNodes(nodes);
}

std::vector<NodeIndex> Oracle(const ClusterSnapshot& s, const std::vector<std::string>& names) {
  std::vector<NodeIndex> out;
  for (const std::string& n : names) out.push_back(s.Find(n).value_or(-1));
  return out;
}

std::vector<std::string> Names(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(absl::StrCat("node-", i));
  return out;
}

TEST(NameResolverTest, RepeatedListIsPredictedAfterTheFirstRequest) {
  const ClusterSnapshot s = Nodes(100);
  std::vector<std::string> names = Names(100);
  std::reverse(names.begin(), names.end());  // Not the snapshot's order.
  NameResolver r;
  std::vector<NodeIndex> got;
  r.Resolve(NameResolver::Kind::kFilter, s, names, &got);
  EXPECT_EQ(got, Oracle(s, names));
  EXPECT_EQ(r.counts().looked_up, 100);
  r.Resolve(NameResolver::Kind::kFilter, s, names, &got);
  EXPECT_EQ(got, Oracle(s, names));
  EXPECT_EQ(r.counts().predicted, 100);
  EXPECT_EQ(r.counts().looked_up, 100);
  // The other kind has its own history.
  r.Resolve(NameResolver::Kind::kPrioritize, s, names, &got);
  EXPECT_EQ(r.counts().looked_up, 200);
}

TEST(NameResolverTest, AnInsertedOrDroppedNodeCostsOneLookup) {
  const ClusterSnapshot s = Nodes(100);
  const std::vector<std::string> all = Names(100);
  NameResolver r;
  std::vector<NodeIndex> got;
  std::vector<std::string> without_10(all);
  without_10.erase(without_10.begin() + 10);
  r.Resolve(NameResolver::Kind::kPrioritize, s, without_10, &got);
  const int64_t before = r.counts().looked_up;
  r.Resolve(NameResolver::Kind::kPrioritize, s, all, &got);  // node-10 is back at position 10.
  EXPECT_EQ(got, Oracle(s, all));
  // node-10 is looked up; node-11 is then predicted one place further on, as is the rest.
  EXPECT_LE(r.counts().looked_up - before, 2);
  r.Resolve(NameResolver::Kind::kPrioritize, s, without_10, &got);  // Dropped again.
  EXPECT_EQ(got, Oracle(s, without_10));
  EXPECT_LE(r.counts().looked_up - before, 4);
}

TEST(NameResolverTest, AShortListInBetweenDoesNotSpoilTheLongOnesPrediction) {
  const ClusterSnapshot s = Nodes(200);
  std::vector<std::string> all = Names(200);
  std::shuffle(all.begin(), all.end(), std::mt19937(3));  // Not the snapshot's order.
  const std::vector<std::string> one = {all[17]};
  const std::vector<std::string> few(all.begin() + 50, all.begin() + 60);
  NameResolver r;
  std::vector<NodeIndex> got;
  r.Resolve(NameResolver::Kind::kFilter, s, all, &got);
  int64_t after_first_round = 0;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    r.Resolve(NameResolver::Kind::kFilter, s, one, &got);  // e.g. a pod with a node selector
    EXPECT_EQ(got, Oracle(s, one));
    r.Resolve(NameResolver::Kind::kFilter, s, few, &got);
    EXPECT_EQ(got, Oracle(s, few));
    const int64_t before_all = r.counts().looked_up;
    r.Resolve(NameResolver::Kind::kFilter, s, all, &got);
    EXPECT_EQ(got, Oracle(s, all));
    // The long list is still predicted from the previous long one.
    EXPECT_EQ(r.counts().looked_up, before_all);
    if (round == 0) after_first_round = r.counts().looked_up;
  }
  // Once seen, the short lists are predicted from themselves too.
  EXPECT_EQ(r.counts().looked_up, after_first_round);
}

TEST(NameResolverTest, TheSameDecodedListOnTheSameLayoutIsReusedWhole) {
  const ClusterSnapshot s = Nodes(50);
  std::vector<std::string> v = Names(50);
  v.emplace_back("ghost");
  const codec::NodeNames names(v);  // As the codec's cache hands out for a repeated body.
  NameResolver r;
  std::vector<NodeIndex> got;
  r.Resolve(NameResolver::Kind::kFilter, s, names, &got);
  EXPECT_EQ(r.counts().reused, 0);
  r.Resolve(NameResolver::Kind::kFilter, s, names, &got);
  EXPECT_EQ(got, Oracle(s, v));
  EXPECT_EQ(r.counts().reused, 51);
  // Another layout (the same names, rebuilt): resolved again, not reused.
  const ClusterSnapshot rebuilt = Nodes(50);
  r.Resolve(NameResolver::Kind::kFilter, rebuilt, names, &got);
  EXPECT_EQ(got, Oracle(rebuilt, v));
  EXPECT_EQ(r.counts().reused, 51);
  // A list with equal names but decoded apart is another list: predicted, not reused.
  r.Resolve(NameResolver::Kind::kFilter, rebuilt, codec::NodeNames(v), &got);
  EXPECT_EQ(got, Oracle(rebuilt, v));
  EXPECT_EQ(r.counts().reused, 51);
}

// Random edits between requests (drops, inserts, unknown names, shuffles, duplicates) and
// snapshots with other node sets: always Find's answer.
TEST(NameResolverTest, MatchesFindUnderRandomEditsAndSnapshotChanges) {
  std::mt19937 rng(7);
  const ClusterSnapshot snapshots[] = {Nodes(60), Nodes(80), Nodes(60, "other-")};
  NameResolver r;
  std::vector<std::string> names = Names(60);
  std::vector<NodeIndex> got;
  for (int round = 0; round < 500; ++round) {
    SCOPED_TRACE(round);
    const ClusterSnapshot& s = snapshots[(round / 50) % 3];
    switch (rng() % 6) {
      case 0:
        if (!names.empty()) {
          names.erase(names.begin() + static_cast<std::ptrdiff_t>(rng() % names.size()));
        }
        break;
      case 1:
        names.insert(names.begin() + static_cast<std::ptrdiff_t>(rng() % (names.size() + 1)),
                     absl::StrCat("node-", rng() % 90));
        break;
      case 2:
        names.insert(names.begin() + static_cast<std::ptrdiff_t>(rng() % (names.size() + 1)),
                     "ghost");
        break;
      case 3:
        std::shuffle(names.begin(), names.end(), rng);
        break;
      default:
        break;  // Unchanged.
    }
    const auto kind =
        rng() % 2 == 0 ? NameResolver::Kind::kFilter : NameResolver::Kind::kPrioritize;
    r.Resolve(kind, s, names, &got);
    ASSERT_EQ(got, Oracle(s, names));
  }
  EXPECT_GT(r.counts().predicted, 0);
}

}  // namespace
}  // namespace accelsched::scheduler
