#include "scheduler/service/bind_tracker.h"

#include "gtest/gtest.h"

namespace accelsched::scheduler {
namespace {

TEST(BindTrackerTest, InFlightWhileRunningAndForTheMemoryAfter) {
  double now = 100;
  BindTracker tracker([&] { return now; }, /*memory_seconds=*/60);
  EXPECT_FALSE(tracker.InFlight("a"));  // Never bound.
  tracker.Begin("a");
  now += 1000;  // However long the bind runs, it is in flight until it ends.
  EXPECT_TRUE(tracker.InFlight("a"));
  tracker.End("a");  // Ended at 1100.
  now = 1159.9;
  EXPECT_TRUE(tracker.InFlight("a"));
  now = 1160;  // 60 s after the end: a list taken now shows the bind.
  EXPECT_FALSE(tracker.InFlight("a"));
}

// A list requested at `since` shows every bind that ended before it: only a running bind, or one
// that ended at or after the request, may be missing from it.
TEST(BindTrackerTest, InFlightSinceAListWasRequested) {
  double now = 100;
  BindTracker tracker([&] { return now; }, 60);
  EXPECT_FALSE(tracker.InFlightSince("a", 0));  // Never bound.
  tracker.Begin("a");
  EXPECT_TRUE(tracker.InFlightSince("a", 200));  // Running: any list may miss it.
  now = 110;
  tracker.End("a");
  EXPECT_TRUE(tracker.InFlightSince("a", 105));   // The list was asked for before the end.
  EXPECT_TRUE(tracker.InFlightSince("a", 110));   // At the same time: not sure, kept.
  EXPECT_FALSE(tracker.InFlightSince("a", 111));  // Asked for after: the list shows it.
}

TEST(BindTrackerTest, AClockAtZeroIsNotARunningBind) {
  double now = 0;  // A clock that starts at 0 (the old code took 0 for "running").
  BindTracker tracker([&] { return now; }, 60);
  tracker.Begin("a");
  tracker.End("a");  // Ended at 0.
  now = 61;
  EXPECT_FALSE(tracker.InFlight("a"));
}

TEST(BindTrackerTest, OldBindsAreForgottenWhenTheNextBegins) {
  double now = 0;
  BindTracker tracker([&] { return now; }, 60);
  tracker.Begin("old");
  tracker.End("old");
  now = 30;
  tracker.Begin("running");  // Begun before the old one expires, still running at the end.
  now = 100;
  tracker.Begin("new");  // "old" ended 100 s ago: dropped; "running" kept.
  EXPECT_FALSE(tracker.InFlight("old"));
  EXPECT_TRUE(tracker.InFlight("running"));
  EXPECT_TRUE(tracker.InFlight("new"));
}

TEST(BindTrackerTest, ScopeEndsTheBindOnEveryPath) {
  double now = 0;
  BindTracker tracker([&] { return now; }, 60);
  {
    BindTracker::Scope scope(&tracker, "a");
    EXPECT_TRUE(tracker.InFlight("a"));
  }
  now = 60;
  EXPECT_FALSE(tracker.InFlight("a"));
}

}  // namespace
}  // namespace accelsched::scheduler
