// PodCache (scheduler/state/pod_cache.h): least recently used eviction by count and by bytes.
#include "scheduler/state/pod_cache.h"

#include <string>

#include "gtest/gtest.h"

namespace accelsched::scheduler {
namespace {

codec::PodObject PodWithAnnotation(const std::string& uid, size_t annotation_bytes) {
  codec::PodObject p;
  p.uid = uid;
  p.name = uid;
  p.namespace_name = "ns";
  if (annotation_bytes > 0) p.annotations["a"] = std::string(annotation_bytes, 'x');
  return p;
}

TEST(PodCacheTest, EvictsTheLeastRecentlyUsedBeyondItsCount) {
  PodCache cache(2);
  cache.Put(PodWithAnnotation("a", 0));
  cache.Put(PodWithAnnotation("b", 0));
  EXPECT_TRUE(cache.Get("a").has_value());  // Now a is the most recent.
  cache.Put(PodWithAnnotation("c", 0));
  EXPECT_TRUE(cache.Get("a").has_value());
  EXPECT_FALSE(cache.Get("b").has_value());
  EXPECT_TRUE(cache.Get("c").has_value());
  cache.Put(PodWithAnnotation("", 0));  // No UID: not remembered, nothing evicted.
  EXPECT_TRUE(cache.Get("a").has_value());
  EXPECT_TRUE(cache.Get("c").has_value());
}

// Issue 14: the cache was bounded by count only; 60 pods with 5 MB annotations held 314 MB.
TEST(PodCacheTest, EvictsBeyondItsBytesButKeepsTheNewest) {
  const size_t one = PodCache::PodBytes(PodWithAnnotation("x", 1000));
  EXPECT_GT(one, 1000u);
  PodCache cache(100, 3 * one);  // Room for three such pods by bytes, 100 by count.
  for (const char* uid : {"a", "b", "c", "d"}) cache.Put(PodWithAnnotation(uid, 1000));
  EXPECT_FALSE(cache.Get("a").has_value());
  for (const char* uid : {"b", "c", "d"}) EXPECT_TRUE(cache.Get(uid).has_value()) << uid;
  // A pod larger than the whole budget evicts the others but is itself kept, so its bind works.
  cache.Put(PodWithAnnotation("big", 10 * one));
  EXPECT_TRUE(cache.Get("big").has_value());
  for (const char* uid : {"b", "c", "d"}) EXPECT_FALSE(cache.Get(uid).has_value()) << uid;
  // Replacing a pod counts only its new size.
  cache.Put(PodWithAnnotation("big", 1000));
  cache.Put(PodWithAnnotation("e", 1000));
  EXPECT_TRUE(cache.Get("big").has_value());
  EXPECT_TRUE(cache.Get("e").has_value());
}

}  // namespace
}  // namespace accelsched::scheduler
