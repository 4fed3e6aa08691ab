#include "scheduler/codec/config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

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
  if (!v.is_number_integer()) {
    return Bad(file, key, absl::StrCat("must be an integer, got ", v.type_name()));
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) return Bad(file, key, absl::StrCat(x, " is outside ", lo, "..", hi));
  return x;
}

absl::Status ParseWeights(const Json& v, absl::string_view file, plugins::PolicyConfig* policy) {
  if (!v.is_object()) return Bad(file, "weights", "must be a mapping");
  for (auto w = v.begin(); w != v.end(); ++w) {
    const std::string wkey = absl::StrCat("weights.", w.key());
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t x, Integer(*w, file, wkey, 0, 1000));
    if (w.key() == "fragmentation") {
      policy->fragmentation_weight = x;
    } else if (w.key() == "topology") {
      policy->topology_weight = x;
    } else if (w.key() == "mig") {
      policy->mig_weight = x;
    } else {
      return Bad(file, wkey, "unknown weight (known: fragmentation, topology, mig)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseUrlPrefix(const Json& v, absl::string_view file) {
  if (!v.is_string()) return Bad(file, "urlPrefix", "must be a string");
  std::string p = v.get<std::string>();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty() || p[0] != '/') return Bad(file, "urlPrefix", "must start with '/'");
  // A plain path: the routes are built from it, and "/(a|b" once aborted the start-up.
  for (char c : p) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '-' && c != '_' &&
        c != '.' && c != '~') {
      return Bad(
          file, "urlPrefix",
          absl::StrCat("must be a plain path (letters, digits and / - _ . ~), got '", p, "'"));
    }
  }
  return p == "/" ? "" : p;
}

// networkLevels[i]: {name, label}, neither repeating an earlier level's.
absl::StatusOr<NetworkLevel> ParseNetworkLevel(const Json& level, absl::string_view file,
                                               const std::string& at,
                                               const std::vector<NetworkLevel>& earlier) {
  if (!level.is_object()) return Bad(file, at, "must be a mapping with name and label");
  NetworkLevel l;
  for (auto f = level.begin(); f != level.end(); ++f) {
    const std::string field = absl::StrCat(at, ".", f.key());
    if (f.key() != "name" && f.key() != "label") {
      return Bad(file, field, "unknown key (known: name, label)");
    }
    if (!f->is_string() || f->get<std::string>().empty()) {
      return Bad(file, field, "must be a non-empty string");
    }
    (f.key() == "name" ? l.name : l.label) = f->get<std::string>();
  }
  if (l.name.empty()) return Bad(file, at + ".name", "required");
  if (l.label.empty()) return Bad(file, at + ".label", "required");
  for (const NetworkLevel& other : earlier) {
    if (other.name == l.name) return Bad(file, at + ".name", "'" + l.name + "' given twice");
    if (other.label == l.label) return Bad(file, at + ".label", "'" + l.label + "' given twice");
  }
  return l;
}

absl::StatusOr<std::vector<NetworkLevel>> ParseNetworkLevels(const Json& v,
                                                             absl::string_view file) {
  const std::string key = "networkLevels";
  if (!v.is_array() || v.empty() || v.size() > 8) {
    return Bad(file, key, "must be a list of 1 to 8 {name, label} mappings, innermost first");
  }
  std::vector<NetworkLevel> levels;
  for (size_t i = 0; i < v.size(); ++i) {
    ACCELSCHED_ASSIGN_OR_RETURN(
        NetworkLevel l, ParseNetworkLevel(v[i], file, absl::StrCat(key, "[", i, "]"), levels));
    levels.push_back(std::move(l));
  }
  return levels;
}

// One key of leaderElection into `le`.
absl::Status ParseLeaderElectionKey(const std::string& key, const Json& v, absl::string_view file,
                                    LeaderElectionConfig* le) {
  const std::string at = "leaderElection." + key;
  if (key == "leaderElect") {
    if (!v.is_boolean()) return Bad(file, at, "must be true or false");
    le->leader_elect = v.get<bool>();
  } else if (key == "leaseDurationSeconds" || key == "renewDeadlineSeconds" ||
             key == "retryPeriodSeconds") {
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t t, Integer(v, file, at, 1, 3600));
    (key == "leaseDurationSeconds"   ? le->lease_duration_seconds
     : key == "renewDeadlineSeconds" ? le->renew_deadline_seconds
                                     : le->retry_period_seconds) = static_cast<double>(t);
  } else if (key == "resourceName" || key == "resourceNamespace") {
    if (!v.is_string() || v.get<std::string>().empty()) {
      return Bad(file, at, "must be a non-empty string");
    }
    (key == "resourceName" ? le->resource_name : le->resource_namespace) = v.get<std::string>();
  } else {
    return Bad(file, at,
               "unknown key (known: leaderElect, leaseDurationSeconds, renewDeadlineSeconds, "
               "retryPeriodSeconds, resourceName, resourceNamespace)");
  }
  return absl::OkStatus();
}

absl::StatusOr<LeaderElectionConfig> ParseLeaderElection(const Json& v, absl::string_view file) {
  if (!v.is_object()) return Bad(file, "leaderElection", "must be a mapping");
  LeaderElectionConfig le;
  for (auto it = v.begin(); it != v.end(); ++it) {
    ACCELSCHED_RETURN_IF_ERROR(ParseLeaderElectionKey(it.key(), *it, file, &le));
  }
  if (!(le.retry_period_seconds < le.renew_deadline_seconds &&
        le.renew_deadline_seconds < le.lease_duration_seconds)) {
    return Bad(file, "leaderElection",
               "need retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds (a leader "
               "must stop before its Lease can expire for the others)");
  }
  return le;
}

// One top-level key of the config into `config`.
absl::Status ParseKey(const std::string& key, const Json& v, absl::string_view file,
                      ExtenderConfig* config) {
  if (key == "policy") {
    if (!v.is_string()) return Bad(file, key, "must be a string");
    config->policy.policy = v.get<std::string>();
  } else if (key == "weights") {
    ACCELSCHED_RETURN_IF_ERROR(ParseWeights(v, file, &config->policy));
  } else if (key == "urlPrefix") {
    ACCELSCHED_ASSIGN_OR_RETURN(config->url_prefix, ParseUrlPrefix(v, file));
  } else if (key == "maxBodyBytes") {
    ACCELSCHED_ASSIGN_OR_RETURN(config->max_body_bytes,
                                Integer(v, file, key, 1024, int64_t{1} << 31));
  } else if (key == "maxNodeNames") {
    ACCELSCHED_ASSIGN_OR_RETURN(config->max_node_names, Integer(v, file, key, 1, 10000000));
  } else if (key == "podCacheSize") {
    ACCELSCHED_ASSIGN_OR_RETURN(config->pod_cache_size, Integer(v, file, key, 1, 10000000));
  } else if (key == "memoShapes") {
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t m, Integer(v, file, key, 0, 1024));
    config->memo_shapes = static_cast<int>(m);
  } else if (key == "networkLevels") {
    ACCELSCHED_ASSIGN_OR_RETURN(config->network_levels, ParseNetworkLevels(v, file));
  } else if (key == "gangReservationSeconds") {
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t t, Integer(v, file, key, 1, 86400));
    config->gang_reservation_seconds = static_cast<double>(t);
  } else if (key == "leaderElection") {
    ACCELSCHED_ASSIGN_OR_RETURN(config->leader_election, ParseLeaderElection(v, file));
  } else if (key == "watchFailureSeconds") {
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t t, Integer(v, file, key, 0, 86400));
    config->watch_failure_seconds = static_cast<double>(t);
  } else if (key == "tentativeHoldSeconds") {
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t t, Integer(v, file, key, 0, 600));
    config->tentative_hold_seconds = static_cast<double>(t);
  } else if (key == "unresolvableAsFailedNodes") {
    if (!v.is_boolean()) return Bad(file, key, "must be true or false");
    config->unresolvable_as_failed_nodes = v.get<bool>();
  } else if (key == "threads") {
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t t, Integer(v, file, key, 1, 256));
    config->threads = static_cast<int>(t);
  } else if (key == "maxConnections") {
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t m, Integer(v, file, key, 16, 1000000));
    config->max_connections = static_cast<int>(m);
  } else {
    return Bad(
        file, key,
        "unknown key (known: policy, weights, urlPrefix, maxBodyBytes, maxNodeNames, podCacheSize, "
        "memoShapes, threads, maxConnections, networkLevels, gangReservationSeconds, "
        "tentativeHoldSeconds, unresolvableAsFailedNodes, watchFailureSeconds, leaderElection)");
  }
  return absl::OkStatus();
}

// True for a file with nothing but blank lines and comments ("all defaults").
bool Blank(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty() && line[0] != '#') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<ExtenderConfig> ParseExtenderConfig(absl::string_view text, absl::string_view file) {
  ExtenderConfig config;
  if (Blank(text)) return config;
  ACCELSCHED_ASSIGN_OR_RETURN(Json root, codec::ParseJsonOrYaml(text, file));
  if (root.is_null()) return config;
  if (!root.is_object()) return Bad(file, "(top level)", "must be a mapping");
  for (auto it = root.begin(); it != root.end(); ++it) {
    ACCELSCHED_RETURN_IF_ERROR(ParseKey(it.key(), *it, file, &config));
  }
  if (absl::Status s = plugins::ValidatePolicyConfig(config.policy); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", s.message()));
  }
  return config;
}

}  // namespace accelsched::scheduler
