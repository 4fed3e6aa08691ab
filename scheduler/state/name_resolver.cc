#include "scheduler/state/name_resolver.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace accelsched::scheduler {

using plugins::ClusterSnapshot;
using plugins::NodeIndex;

void NameResolver::Resolve(Kind kind, const ClusterSnapshot& snapshot,
                           const codec::NodeNames& names, std::vector<NodeIndex>* out) {
  std::shared_ptr<const Previous> prev;
  {
    absl::MutexLock lock(&mu_);
    std::vector<std::shared_ptr<const Previous>>& kept = previous_[static_cast<int>(kind)];
    for (size_t k = 0; k < kept.size(); ++k) {
      if (kept[k]->identity == names.identity() && kept[k]->layout == snapshot.layout()) {
        *out = kept[k]->list;
        counts_.reused += static_cast<int64_t>(names.size());
        std::rotate(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(k),
                    kept.begin() + static_cast<std::ptrdiff_t>(k) + 1);
        return;
      }
    }
    size_t best = 0;
    for (const std::shared_ptr<const Previous>& p : previous_[static_cast<int>(kind)]) {
      const size_t gap = p->list.size() > names.size() ? p->list.size() - names.size()
                                                       : names.size() - p->list.size();
      if (prev == nullptr || gap < best) {
        prev = p;
        best = gap;
      }
    }
  }
  const int64_t num_nodes = snapshot.num_nodes();
  auto next = std::make_shared<Previous>();
  next->identity = names.identity();
  next->keep_alive = names.keep_alive();
  next->layout = snapshot.layout();
  next->list.resize(names.size());
  next->position.assign(static_cast<size_t>(num_nodes), -1);
  out->resize(names.size());
  Counts counts;
  int64_t offset = 0;  // names[i] is predicted at prev->list[i + offset].
  for (size_t i = 0; i < names.size(); ++i) {
    NodeIndex found = -1;
    if (prev != nullptr) {
      const int64_t p = static_cast<int64_t>(i) + offset;
      if (p >= 0 && p < static_cast<int64_t>(prev->list.size())) {
        const NodeIndex guess = prev->list[static_cast<size_t>(p)];
        if (guess >= 0 && guess < num_nodes && snapshot.node(guess).name == names[i]) {
          found = guess;
        }
      }
    }
    if (found >= 0) {
      ++counts.predicted;
    } else {
      ++counts.looked_up;
      if (std::optional<NodeIndex> n = snapshot.Find(names[i]); n.has_value()) {
        found = *n;
        // Continue predicting from where this node stood in the previous list.
        if (prev != nullptr && static_cast<size_t>(found) < prev->position.size() &&
            prev->position[static_cast<size_t>(found)] >= 0) {
          offset = prev->position[static_cast<size_t>(found)] - static_cast<int64_t>(i);
        }
      }
    }
    (*out)[i] = found;
    next->list[i] = found;
    if (found >= 0) next->position[static_cast<size_t>(found)] = static_cast<int32_t>(i);
  }
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<const Previous>>& kept = previous_[static_cast<int>(kind)];
  // The new list replaces the kept ones in its length band.
  const size_t band = std::max<size_t>(1, names.size() / 32);
  kept.erase(std::remove_if(kept.begin(), kept.end(),
                            [&](const std::shared_ptr<const Previous>& p) {
                              const size_t n = p->list.size();
                              return (n > names.size() ? n - names.size() : names.size() - n) <
                                     band;
                            }),
             kept.end());
  kept.insert(kept.begin(), std::move(next));
  if (kept.size() > kKept) kept.resize(kKept);
  counts_.predicted += counts.predicted;
  counts_.looked_up += counts.looked_up;
}

NameResolver::Counts NameResolver::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

}  // namespace accelsched::scheduler
