#include "scheduler/node/pod_watch.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "spdlog/spdlog.h"

#include "scheduler/codec/annotations.h"
#include "scheduler/codec/kube.h"
#include "scheduler/kube/backoff.h"

namespace accelsched::scheduler::node {

PodWatch::PodWatch(const kube::KubeClient& client, std::string node, Assigner& assigner)
    : client_(client), node_(std::move(node)), assigner_(assigner) {}

PodWatch::~PodWatch() { Stop(); }

void PodWatch::Start() {
  watch_thread_ = std::thread([this] { RunWatch(); });
  patch_thread_ = std::thread([this] { RunPatches(); });
}

void PodWatch::Stop() {
  {
    // Records still queued get up to 2 s to land: a restart must not forget what was served.
    absl::MutexLock lock(&mu_);
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return patches_.empty(); };
    if (patch_thread_.joinable() && !stopping_) {
      mu_.AwaitWithTimeout(absl::Condition(&drained), absl::Seconds(2));
    }
    if (!patches_.empty()) {
      spdlog::error("node {}: stopping with {} {} record(s) unwritten", node_, patches_.size(),
                    kAnnotationAllocated);
    }
    stopping_ = true;
  }
  stop_ = true;
  client_.Stop();
  if (watch_thread_.joinable()) watch_thread_.join();
  if (patch_thread_.joinable()) patch_thread_.join();
}

bool PodWatch::WaitSynced(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (!synced_ && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  return synced_;
}

absl::Status PodWatch::ListAndWatchOnce() {
  const std::string selector = absl::StrCat("fieldSelector=spec.nodeName%3D", node_);
  absl::StatusOr<std::string> text = client_.Get(absl::StrCat("/api/v1/pods?", selector));
  if (!text.ok()) return text.status();
  absl::StatusOr<codec::ObjectList<codec::PodObject>> list = codec::DecodePodList(*text);
  if (!list.ok()) return list.status();
  std::vector<codec::PodObject> pods;
  int unreadable = 0;
  for (const absl::StatusOr<codec::PodObject>& p : list->items) {
    if (p.ok()) {
      pods.push_back(*p);
    } else {
      ++unreadable;
      spdlog::warn("node {}: pod ignored (dynamic MIG destroys nothing while it is there): {}",
                   node_, std::string(p.status().message()));
    }
  }
  assigner_.ReplacePods(pods, unreadable);
  synced_ = true;
  spdlog::info("node {}: {} pods listed (resourceVersion {})", node_, pods.size(),
               list->resource_version);
  std::string version = list->resource_version;
  return client_.Watch(absl::StrCat("/api/v1/pods?watch=true&allowWatchBookmarks=true&", selector,
                                    "&resourceVersion=", version),
                       [&](absl::string_view line) { return ApplyEvent(line, version); });
}

absl::Status PodWatch::ApplyEvent(absl::string_view line, std::string& version) {
  absl::StatusOr<codec::WatchEvent<codec::PodObject>> e = codec::DecodePodEvent(line);
  if (absl::IsInvalidArgument(e.status())) return absl::OkStatus();  // Skip the event.
  if (!e.ok()) return e.status();
  if (e->type == codec::WatchEventType::kError) {
    return e->error_code == 410 ? absl::AbortedError("410 Gone")
                                : absl::UnavailableError(e->error_message);
  }
  if (!e->resource_version.empty()) version = e->resource_version;
  if (e->type == codec::WatchEventType::kBookmark) return absl::OkStatus();
  if (!e->object.ok()) {
    spdlog::warn("node {}: pod {} ignored: {}", node_, e->name,
                 std::string(e->object.status().message()));
  } else if (e->type == codec::WatchEventType::kDeleted) {
    assigner_.RemovePod(e->object->uid);
  } else {
    assigner_.UpsertPod(*e->object);
  }
  return absl::OkStatus();
}

void PodWatch::RunWatch() {
  kube::Backoff backoff;
  while (!stop_) {
    const absl::Status s = ListAndWatchOnce();
    if (stop_) break;
    // The server ended the watch (its timeout), or 410 Gone (the version is too old): relist at
    // once, since containers admitted meanwhile would find no pod to match.
    if (s.ok() || absl::IsAborted(s)) {
      backoff.Reset();
      continue;
    }
    spdlog::warn("node {}: pod watch: {}; again in {:.1f} s", node_, std::string(s.message()),
                 backoff.seconds());
    backoff.Wait(stop_);
  }
}

void PodWatch::RecordAllocated(const std::string& uid, const std::string& key,
                               const std::set<std::string>& containers) {
  absl::MutexLock lock(&mu_);
  patches_.push_back({uid, key, absl::StrJoin(containers, ",")});
}

size_t PodWatch::pending_patches() const {
  absl::MutexLock lock(&mu_);
  return patches_.size();
}

void PodWatch::RunPatches() {
  kube::Backoff backoff;
  for (;;) {
    Patch p;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !patches_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      p = patches_.front();
    }
    const std::vector<std::string> ns_name = absl::StrSplit(p.key, absl::MaxSplits('/', 1));
    const absl::StatusOr<std::string> r = client_.MergePatch(
        absl::StrCat("/api/v1/namespaces/", ns_name[0], "/pods/", ns_name.back()),
        codec::EncodeAnnotationPatchForUid(p.uid, kAnnotationAllocated, p.value));
    // Gone (NotFound), replaced by a pod of the same name (409: the uid precondition), or
    // refused for good (no permission, an invalid patch): retrying would block every later
    // record.
    const bool permanent = absl::IsPermissionDenied(r.status()) ||
                           absl::IsInvalidArgument(r.status()) || absl::IsAlreadyExists(r.status());
    if (r.ok() || absl::IsNotFound(r.status()) || permanent) {
      if (permanent) {
        spdlog::error("pod {}: recording {}={} refused: {}; dropped", p.key, kAnnotationAllocated,
                      p.value, std::string(r.status().message()));
      }
      absl::MutexLock lock(&mu_);
      patches_.pop_front();
      backoff.Reset();
      continue;
    }
    spdlog::warn("pod {}: recording {}={} failed: {}; again in {:.1f} s", p.key,
                 kAnnotationAllocated, p.value, std::string(r.status().message()),
                 backoff.seconds());
    backoff.Wait(stop_);
  }
}

}  // namespace accelsched::scheduler::node
