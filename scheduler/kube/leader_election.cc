#include "scheduler/kube/leader_election.h"

#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace accelsched::scheduler::kube {

absl::Status ValidateLeaderElection(const LeaderElectionOptions& o) {
  if (o.lease_namespace.empty() || o.lease_name.empty()) {
    return absl::InvalidArgumentError(
        "leaderElection: resourceNamespace and resourceName are "
        "required");
  }
  if (o.identity.empty()) return absl::InvalidArgumentError("leaderElection: identity is empty");
  if (!(o.retry_seconds > 0 && o.retry_seconds < o.renew_deadline_seconds &&
        o.renew_deadline_seconds < o.lease_seconds)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leaderElection: need 0 < retryPeriod (", o.retry_seconds, ") < renewDeadline (",
        o.renew_deadline_seconds, ") < leaseDuration (", o.lease_seconds, ")"));
  }
  return absl::OkStatus();
}

LeaderElector::LeaderElector(const KubeClient* client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {
  if (!options_.clock) {
    options_.clock = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
  }
}

std::string LeaderElector::Path(bool with_name) const {
  std::string p =
      absl::StrCat("/apis/coordination.k8s.io/v1/namespaces/", options_.lease_namespace, "/leases");
  if (with_name) absl::StrAppend(&p, "/", options_.lease_name);
  return p;
}

bool LeaderElector::IsLeader() const {
  absl::MutexLock lock(&mu_);
  return holding_ && Now() - renewed_at_ < options_.renew_deadline_seconds;
}

std::string LeaderElector::Holder() const {
  absl::MutexLock lock(&mu_);
  return observed_.has_value() ? observed_->holder : "";
}

bool LeaderElector::Write(const codec::LeaseRecord& record) {
  const std::string body =
      codec::EncodeLease(options_.lease_namespace, options_.lease_name, record);
  absl::StatusOr<std::string> r = record.resource_version.empty() ? client_->Post(Path(false), body)
                                                                  : client_->Put(Path(true), body);
  if (!r.ok()) {
    if (!absl::IsAlreadyExists(r.status())) {  // 409: someone else was faster; not news.
      spdlog::warn("lease {}/{}: {}", options_.lease_namespace, options_.lease_name,
                   std::string(r.status().message()));
    }
    return false;
  }
  return true;
}

bool LeaderElector::TryAcquireOrRenew() {
  const double now = Now();
  codec::LeaseRecord next;
  next.holder = options_.identity;
  next.lease_duration_seconds = static_cast<int64_t>(options_.lease_seconds);
  next.acquire_time = codec::TimestampMicrosNow();
  next.renew_time = next.acquire_time;
  absl::StatusOr<std::string> text = client_->Get(Path(true));
  if (!text.ok() && !absl::IsNotFound(text.status())) {
    spdlog::warn("lease {}/{}: {}", options_.lease_namespace, options_.lease_name,
                 std::string(text.status().message()));
    return false;
  }
  if (text.ok()) {
    absl::StatusOr<codec::LeaseRecord> old = codec::DecodeLease(*text);
    if (!old.ok()) {
      spdlog::error("lease {}/{}: {}", options_.lease_namespace, options_.lease_name,
                    std::string(old.status().message()));
      return false;
    }
    absl::MutexLock lock(&mu_);
    if (!observed_.has_value() || !(*observed_ == *old)) {
      observed_ = *old;
      observed_at_ = now;
    }
    const bool mine = old->holder == options_.identity;
    const double duration = static_cast<double>(old->lease_duration_seconds);
    if (!mine && !old->holder.empty() && observed_at_ + duration > now) {
      holding_ = false;
      return false;  // Held by another and not expired on our clock.
    }
    next.resource_version = old->resource_version;
    next.transitions = mine ? old->transitions : old->transitions + 1;
    if (mine && !old->acquire_time.empty()) next.acquire_time = old->acquire_time;
  }
  if (!Write(next)) return false;
  absl::MutexLock lock(&mu_);
  if (!holding_) {
    spdlog::info("lease {}/{}: {} is the leader", options_.lease_namespace, options_.lease_name,
                 options_.identity);
    ++won_;
  }
  holding_ = true;
  renewed_at_ = now;
  observed_ = next;
  observed_at_ = now;
  return true;
}

void LeaderElector::Release() {
  std::optional<codec::LeaseRecord> held;
  {
    absl::MutexLock lock(&mu_);
    if (!holding_) return;
    holding_ = false;  // Stop serving first, then give the Lease back.
    held = observed_;
  }
  absl::StatusOr<std::string> text = client_->Get(Path(true));
  absl::StatusOr<codec::LeaseRecord> current =
      text.ok() ? codec::DecodeLease(*text) : absl::StatusOr<codec::LeaseRecord>(text.status());
  if (!current.ok() || current->holder != options_.identity) return;  // Not ours any more.
  codec::LeaseRecord released = *current;
  released.holder = "";
  released.lease_duration_seconds = 1;
  released.renew_time = codec::TimestampMicrosNow();
  if (Write(released)) {
    spdlog::info("lease {}/{}: released by {}", options_.lease_namespace, options_.lease_name,
                 options_.identity);
  }
}

void LeaderElector::Sleep(double seconds) const {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!stop_ && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void LeaderElector::Run() {
  bool was_leader = false;
  while (!stop_) {
    TryAcquireOrRenew();
    const bool leader = IsLeader();
    if (was_leader && !leader) {
      spdlog::error("lease {}/{}: {} lost the leadership (no renewal for {} s)",
                    options_.lease_namespace, options_.lease_name, options_.identity,
                    options_.renew_deadline_seconds);
      absl::MutexLock lock(&mu_);
      holding_ = false;
    }
    was_leader = leader;
    Sleep(options_.retry_seconds);
  }
  if (release_) Release();
}

void LeaderElector::Stop(bool release) {
  release_ = release;
  stop_ = true;
}

}  // namespace accelsched::scheduler::kube
