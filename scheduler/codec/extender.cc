#include "scheduler/codec/extender.h"

#include "absl/strings/str_cat.h"

#include "topology/status_macros.h"

namespace accelsched::scheduler::codec {
namespace {

absl::StatusOr<PodObject> RequiredPod(const Json& body) {
  const Json* pod = Find(body, "Pod");
  if (pod == nullptr) return absl::InvalidArgumentError("Pod: required");
  return DecodePod(*pod, "Pod");
}

absl::StatusOr<std::string> NodeItemName(const Json& item, const std::string& path) {
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(item, path));
  const Json* metadata = Find(item, "metadata");
  if (metadata == nullptr) return absl::InvalidArgumentError(path + ".metadata: required");
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*metadata, path + ".metadata"));
  ACCELSCHED_ASSIGN_OR_RETURN(std::string name,
                              GetString(*metadata, "name", path + ".metadata", true));
  if (name.empty()) return absl::InvalidArgumentError(path + ".metadata.name: must not be empty");
  return name;
}

}  // namespace

absl::StatusOr<ExtenderArgs> DecodeExtenderArgs(const Json& body) {
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(body, "body"));
  ExtenderArgs out;
  ACCELSCHED_ASSIGN_OR_RETURN(out.pod, RequiredPod(body));
  const Json* names = Find(body, "NodeNames");
  const Json* nodes = Find(body, "Nodes");
  if (names != nullptr && nodes != nullptr) {
    return absl::InvalidArgumentError("Nodes and NodeNames: give one, not both");
  }
  if (names != nullptr) {
    if (!names->is_array()) return WrongType("NodeNames", "an array of strings", *names);
    out.node_names.reserve(names->size());
    for (size_t i = 0; i < names->size(); ++i) {
      const Json& n = (*names)[i];
      if (!n.is_string()) return WrongType(absl::StrCat("NodeNames[", i, "]"), "a string", n);
      out.node_names.push_back(n.get<std::string>());
    }
  } else if (nodes != nullptr) {
    out.full_nodes = true;
    ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*nodes, "Nodes"));
    const Json* items = Find(*nodes, "items");
    if (items != nullptr) {
      if (!items->is_array()) return WrongType("Nodes.items", "an array", *items);
      out.node_items.reserve(items->size());
      for (size_t i = 0; i < items->size(); ++i) {
        ACCELSCHED_ASSIGN_OR_RETURN(
            std::string name, NodeItemName((*items)[i], absl::StrCat("Nodes.items[", i, "]")));
        out.node_names.push_back(std::move(name));
        out.node_items.push_back((*items)[i]);
      }
    }
  }
  return out;
}

Json EncodeFilterResult(const ExtenderArgs& args, const FilterResult& result) {
  Json out = Json::object();
  if (args.full_nodes) {
    Json items = Json::array();
    for (int i : result.survivors) items.push_back(args.node_items[static_cast<size_t>(i)]);
    out["Nodes"] = Json{{"apiVersion", "v1"},
                        {"kind", "NodeList"},
                        {"metadata", Json::object()},
                        {"items", std::move(items)}};
    out["NodeNames"] = nullptr;
  } else {
    Json names = Json::array();
    for (int i : result.survivors) names.push_back(args.node_names[static_cast<size_t>(i)]);
    out["Nodes"] = nullptr;
    out["NodeNames"] = std::move(names);
  }
  out["FailedNodes"] = result.failed;
  out["FailedAndUnresolvableNodes"] = result.failed_unresolvable;
  out["Error"] = result.error;
  return out;
}

Json EncodeHostPriorityList(const std::vector<HostPriority>& list) {
  Json out = Json::array();
  for (const HostPriority& h : list) out.push_back(Json{{"Host", h.host}, {"Score", h.score}});
  return out;
}

absl::StatusOr<BindingArgs> DecodeBindingArgs(const Json& body) {
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(body, "body"));
  BindingArgs out;
  ACCELSCHED_ASSIGN_OR_RETURN(out.pod_name, GetString(body, "PodName", "", true));
  ACCELSCHED_ASSIGN_OR_RETURN(out.pod_namespace, GetString(body, "PodNamespace", "", true));
  ACCELSCHED_ASSIGN_OR_RETURN(out.pod_uid, GetString(body, "PodUID", "", true));
  ACCELSCHED_ASSIGN_OR_RETURN(out.node, GetString(body, "Node", "", true));
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"PodName", &out.pod_name},
        {"PodNamespace", &out.pod_namespace},
        {"PodUID", &out.pod_uid},
        {"Node", &out.node}}) {
    if (value->empty())
      return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  }
  return out;
}

Json EncodeErrorResult(const std::string& error) { return Json{{"Error", error}}; }

absl::StatusOr<PreemptionArgs> DecodePreemptionArgs(const Json& body) {
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(body, "body"));
  PreemptionArgs out;
  ACCELSCHED_ASSIGN_OR_RETURN(out.pod, RequiredPod(body));
  const Json* meta = Find(body, "NodeNameToMetaVictims");
  const Json* full = Find(body, "NodeNameToVictims");
  const Json* map = meta != nullptr ? meta : full;
  const std::string key = meta != nullptr ? "NodeNameToMetaVictims" : "NodeNameToVictims";
  if (map == nullptr) return out;
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*map, key));
  for (auto it = map->begin(); it != map->end(); ++it) {
    const std::string path = absl::StrCat(key, "[\"", it.key(), "\"]");
    std::vector<std::string>& uids = out.victims[it.key()];
    if (it->is_null()) continue;
    ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*it, path));
    if (const Json* n = Find(*it, "NumPDBViolations"); n != nullptr) {
      if (!n->is_number_integer()) return WrongType(path + ".NumPDBViolations", "an integer", *n);
      out.pdb_violations[it.key()] = n->get<int64_t>();
    }
    const Json* pods = Find(*it, "Pods");
    if (pods == nullptr) continue;
    if (!pods->is_array()) return WrongType(path + ".Pods", "an array", *pods);
    for (size_t i = 0; i < pods->size(); ++i) {
      const std::string ppath = absl::StrCat(path, ".Pods[", i, "]");
      const Json& p = (*pods)[i];
      ACCELSCHED_RETURN_IF_ERROR(ExpectObject(p, ppath));
      std::string uid;
      if (meta != nullptr) {
        ACCELSCHED_ASSIGN_OR_RETURN(uid, GetString(p, "UID", ppath, true));
      } else {
        const Json* metadata = Find(p, "metadata");
        if (metadata == nullptr) return absl::InvalidArgumentError(ppath + ".metadata: required");
        ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*metadata, ppath + ".metadata"));
        ACCELSCHED_ASSIGN_OR_RETURN(uid, GetString(*metadata, "uid", ppath + ".metadata", true));
      }
      if (uid.empty()) return absl::InvalidArgumentError(ppath + ": empty UID");
      uids.push_back(std::move(uid));
    }
  }
  return out;
}

Json EncodePreemptionResult(const std::map<std::string, std::vector<std::string>>& victims,
                            const std::map<std::string, int64_t>& pdb_violations) {
  Json map = Json::object();
  for (const auto& [node, uids] : victims) {
    Json pods = Json::array();
    for (const std::string& uid : uids) pods.push_back(Json{{"UID", uid}});
    auto v = pdb_violations.find(node);
    map[node] = Json{{"Pods", std::move(pods)},
                     {"NumPDBViolations", v == pdb_violations.end() ? 0 : v->second}};
  }
  return Json{{"NodeNameToMetaVictims", std::move(map)}};
}

}  // namespace accelsched::scheduler::codec
