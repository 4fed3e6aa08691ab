#include "scheduler/config.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "scheduler/codec/yaml.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler {
namespace {

using codec::Json;

absl::Status Bad(absl::string_view file, absl::string_view key, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": ", key, ": ", why));
}

absl::StatusOr<int64_t> Integer(const Json& v, absl::string_view file, absl::string_view key,
                                int64_t lo, int64_t hi) {
  if (!v.is_number_integer())
    return Bad(file, key, absl::StrCat("must be an integer, got ", v.type_name()));
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) return Bad(file, key, absl::StrCat(x, " is outside ", lo, "..", hi));
  return x;
}

}  // namespace

absl::StatusOr<ExtenderConfig> ParseExtenderConfig(absl::string_view text, absl::string_view file) {
  ExtenderConfig config;
  ACCELSCHED_ASSIGN_OR_RETURN(Json root, codec::ParseJsonOrYaml(text, file));
  if (root.is_null()) return config;
  if (!root.is_object()) return Bad(file, "(top level)", "must be a mapping");
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = *it;
    if (key == "policy") {
      if (!v.is_string()) return Bad(file, key, "must be a string");
      config.policy.policy = v.get<std::string>();
    } else if (key == "weights") {
      if (!v.is_object()) return Bad(file, key, "must be a mapping");
      for (auto w = v.begin(); w != v.end(); ++w) {
        const std::string wkey = absl::StrCat("weights.", w.key());
        ACCELSCHED_ASSIGN_OR_RETURN(int64_t x, Integer(*w, file, wkey, 0, 1000));
        if (w.key() == "fragmentation") {
          config.policy.fragmentation_weight = x;
        } else if (w.key() == "topology") {
          config.policy.topology_weight = x;
        } else if (w.key() == "mig") {
          config.policy.mig_weight = x;
        } else {
          return Bad(file, wkey, "unknown weight (known: fragmentation, topology, mig)");
        }
      }
    } else if (key == "urlPrefix") {
      if (!v.is_string()) return Bad(file, key, "must be a string");
      std::string p = v.get<std::string>();
      while (p.size() > 1 && p.back() == '/') p.pop_back();
      if (p.empty() || p[0] != '/') return Bad(file, key, "must start with '/'");
      config.url_prefix = p == "/" ? "" : p;
    } else if (key == "maxBodyBytes") {
      ACCELSCHED_ASSIGN_OR_RETURN(config.max_body_bytes,
                                  Integer(v, file, key, 1024, int64_t{1} << 31));
    } else if (key == "podCacheSize") {
      ACCELSCHED_ASSIGN_OR_RETURN(config.pod_cache_size, Integer(v, file, key, 1, 10000000));
    } else if (key == "memoShapes") {
      ACCELSCHED_ASSIGN_OR_RETURN(int64_t m, Integer(v, file, key, 0, 1024));
      config.memo_shapes = static_cast<int>(m);
    } else if (key == "threads") {
      ACCELSCHED_ASSIGN_OR_RETURN(int64_t t, Integer(v, file, key, 1, 256));
      config.threads = static_cast<int>(t);
    } else {
      return Bad(file, key,
                 "unknown key (known: policy, weights, urlPrefix, maxBodyBytes, podCacheSize, "
                 "memoShapes, threads)");
    }
  }
  if (absl::Status s = plugins::ValidatePolicyConfig(config.policy); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", s.message()));
  }
  return config;
}

}  // namespace accelsched::scheduler
