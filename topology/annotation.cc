#include "topology/annotation.h"

#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

#include "topology/status_macros.h"

namespace accelsched::topology {
namespace {

using Json = nlohmann::ordered_json;

absl::Status FieldError(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(kTopologyAnnotation, " ", path, ": ", what));
}

absl::Status CheckKeys(const Json& obj, const std::string& path,
                       const std::set<std::string>& allowed) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (allowed.count(it.key()) == 0) {
      return FieldError(
          path.empty() ? it.key() : absl::StrCat(path, ".", it.key()),
          absl::StrCat("unknown field (allowed: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetString(const Json& obj, const std::string& path, const char* key,
                                      bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) {
      return FieldError(absl::StrCat(path, key), "required");
    }
    return std::string();
  }
  if (!it->is_string()) {
    return FieldError(absl::StrCat(path, key), "must be a string");
  }
  return it->get<std::string>();
}

absl::StatusOr<int64_t> GetInt(const Json& obj, const std::string& path, const char* key,
                               int64_t lo, int64_t hi, std::optional<int64_t> fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (fallback) {
      return *fallback;
    }
    return FieldError(absl::StrCat(path, key), "required");
  }
  if (!it->is_number_integer()) {
    return FieldError(absl::StrCat(path, key), "must be an integer");
  }
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    return FieldError(absl::StrCat(path, key), absl::StrCat("must be in [", lo, ", ", hi, "]"));
  }
  return v;
}

// Device `i` of the "devices" array.
absl::StatusOr<Device> DecodeDevice(const Json& d, size_t i) {
  const std::string path = absl::StrCat("devices[", i, "].");
  if (!d.is_object()) {
    return FieldError(absl::StrCat("devices[", i, "]"), "must be an object");
  }
  ACCELSCHED_RETURN_IF_ERROR(
      CheckKeys(d, absl::StrCat("devices[", i, "]"), {"kind", "name", "numa", "cpuAffinity"}));
  ACCELSCHED_ASSIGN_OR_RETURN(const std::string kind_name, GetString(d, path, "kind", true));
  const std::optional<DeviceKind> kind = DeviceKindFromName(kind_name);
  if (!kind) {
    return FieldError(absl::StrCat(path, "kind"),
                      absl::StrCat("unknown device kind \"", kind_name,
                                   "\" (want gpu, nvswitch, pcieSwitch, hostBridge, cpuSocket or "
                                   "nic)"));
  }
  ACCELSCHED_ASSIGN_OR_RETURN(std::string dev_name, GetString(d, path, "name", true));
  ACCELSCHED_ASSIGN_OR_RETURN(const int64_t numa, GetInt(d, path, "numa", -1, kMaxNumaNode, -1));
  ACCELSCHED_ASSIGN_OR_RETURN(std::string affinity, GetString(d, path, "cpuAffinity", false));
  return Device{*kind, 0, std::move(dev_name), static_cast<int>(numa), std::move(affinity)};
}

// The kind-specific fields of a link at `path` ("links[3]."): an NVLink's count, a PCIe link's
// level; the other kinds must have neither.
absl::Status DecodeLinkDetails(const Json& l, const std::string& path, Link& link) {
  if (link.kind == LinkKind::kNvlink) {
    ACCELSCHED_ASSIGN_OR_RETURN(const int64_t count, GetInt(l, path, "count", 1, 64, std::nullopt));
    link.nvlink_count = static_cast<int>(count);
  } else if (l.contains("count")) {
    return FieldError(absl::StrCat(path, "count"), "only NVLink links have a count");
  }
  ACCELSCHED_ASSIGN_OR_RETURN(const std::string level_name, GetString(l, path, "level", false));
  if (link.kind == LinkKind::kPcie) {
    const std::optional<PathKind> level = PcieLevelFromName(level_name);
    if (!level || *level == PathKind::kSys) {
      return FieldError(absl::StrCat(path, "level"), "required for pcie: PIX, PXB, PHB or NODE");
    }
    link.pcie_level = *level;
  } else if (!level_name.empty()) {
    return FieldError(absl::StrCat(path, "level"), "only PCIe links have a level");
  } else if (link.kind == LinkKind::kInterSocket) {
    link.pcie_level = PathKind::kSys;
  }
  return absl::OkStatus();
}

// Link `i` of the "links" array; `last` is the highest device index.
absl::StatusOr<LinkRecord> DecodeLink(const Json& l, size_t i, int64_t last) {
  const std::string path = absl::StrCat("links[", i, "].");
  if (!l.is_object()) {
    return FieldError(absl::StrCat("links[", i, "]"), "must be an object");
  }
  ACCELSCHED_RETURN_IF_ERROR(
      CheckKeys(l, absl::StrCat("links[", i, "]"), {"a", "b", "kind", "count", "level", "gbps"}));
  ACCELSCHED_ASSIGN_OR_RETURN(const int64_t a, GetInt(l, path, "a", 0, last, std::nullopt));
  ACCELSCHED_ASSIGN_OR_RETURN(const int64_t b, GetInt(l, path, "b", 0, last, std::nullopt));
  ACCELSCHED_ASSIGN_OR_RETURN(const std::string kind_name, GetString(l, path, "kind", true));
  const std::optional<LinkKind> kind = LinkKindFromName(kind_name);
  if (!kind) {
    return FieldError(absl::StrCat(path, "kind"),
                      absl::StrCat("unknown link kind \"", kind_name,
                                   "\" (want nvlink, pcie, interSocket or c2c)"));
  }
  Link link;
  link.kind = *kind;
  auto gbps = l.find("gbps");
  if (gbps == l.end() || !gbps->is_number()) {
    return FieldError(absl::StrCat(path, "gbps"), "required, a number");
  }
  link.bandwidth_gbps = gbps->get<double>();
  ACCELSCHED_RETURN_IF_ERROR(DecodeLinkDetails(l, path, link));
  return LinkRecord{static_cast<DeviceId>(a), static_cast<DeviceId>(b), link};
}

// The "devices" array into `builder`; returns how many there were.
absl::StatusOr<size_t> DecodeDevices(const Json& doc, TopologyBuilder& builder) {
  auto devices = doc.find("devices");
  if (devices == doc.end() || !devices->is_array()) {
    return FieldError("devices", "must be an array");
  }
  if (devices->size() > static_cast<size_t>(kMaxDevices)) {
    return FieldError("devices", absl::StrCat("more than ", kMaxDevices, " devices"));
  }
  for (size_t i = 0; i < devices->size(); ++i) {
    ACCELSCHED_ASSIGN_OR_RETURN(Device device, DecodeDevice((*devices)[i], i));
    builder.AddDevice(std::move(device));
  }
  return devices->size();
}

// The "links" array into `builder`, over `num_devices` devices.
absl::Status DecodeLinks(const Json& doc, size_t num_devices, TopologyBuilder& builder) {
  auto links = doc.find("links");
  if (links == doc.end() || !links->is_array()) {
    return FieldError("links", "must be an array");
  }
  if (links->size() > static_cast<size_t>(kMaxLinks)) {
    return FieldError("links", absl::StrCat("more than ", kMaxLinks, " links"));
  }
  const int64_t last = static_cast<int64_t>(num_devices) - 1;
  for (size_t i = 0; i < links->size(); ++i) {
    ACCELSCHED_ASSIGN_OR_RETURN(const LinkRecord record, DecodeLink((*links)[i], i, last));
    builder.AddLink(record.a, record.b, record.link);
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeTopologyAnnotation(const Topology& topology) {
  Json devices = Json::array();
  for (const Device& d : topology.devices()) {
    Json dev = {{"kind", std::string{DeviceKindName(d.kind)}}, {"name", d.name}};
    if (d.numa >= 0) {
      dev["numa"] = d.numa;
    }
    if (!d.cpu_affinity.empty()) {
      dev["cpuAffinity"] = d.cpu_affinity;
    }
    devices.push_back(std::move(dev));
  }
  Json links = Json::array();
  for (const LinkRecord& r : topology.links()) {
    const Link& l = r.link;
    Json link = {{"a", r.a}, {"b", r.b}, {"kind", std::string{LinkKindName(l.kind)}}};
    if (l.kind == LinkKind::kNvlink) {
      link["count"] = l.nvlink_count;
    }
    if (l.kind == LinkKind::kPcie) {
      link["level"] = std::string{PathKindName(l.pcie_level)};
    }
    link["gbps"] = l.bandwidth_gbps;
    links.push_back(std::move(link));
  }
  Json out = {{"version", kAnnotationVersion},
              {"name", topology.name()},
              {"gpuProduct", topology.gpu_product()},
              {"devices", std::move(devices)},
              {"links", std::move(links)}};
  // Inputs are checked for UTF-8 where they enter (utf8.h); replacing, not throwing, keeps a
  // missed one from ending the process.
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

absl::StatusOr<Topology> DecodeTopologyAnnotation(absl::string_view text) {
  if (text.size() > kMaxAnnotationBytes) {
    return FieldError("(document)",
                      absl::StrCat(text.size(), " bytes exceed the cap of ", kMaxAnnotationBytes));
  }
  const Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return FieldError("(document)", "not valid JSON");
  }
  if (!doc.is_object()) {
    return FieldError("(document)", "must be a JSON object");
  }
  ACCELSCHED_RETURN_IF_ERROR(
      CheckKeys(doc, "", {"version", "name", "gpuProduct", "devices", "links"}));
  ACCELSCHED_ASSIGN_OR_RETURN(const int64_t version,
                              GetInt(doc, "", "version", 0, 1 << 30, std::nullopt));
  if (version != kAnnotationVersion) {
    return FieldError("version", absl::StrCat("unsupported version ", version,
                                              " (this build reads ", kAnnotationVersion, ")"));
  }
  ACCELSCHED_ASSIGN_OR_RETURN(std::string name, GetString(doc, "", "name", false));
  ACCELSCHED_ASSIGN_OR_RETURN(std::string product, GetString(doc, "", "gpuProduct", false));
  TopologyBuilder builder(std::move(name), std::move(product));

  ACCELSCHED_ASSIGN_OR_RETURN(const size_t num_devices, DecodeDevices(doc, builder));
  ACCELSCHED_RETURN_IF_ERROR(DecodeLinks(doc, num_devices, builder));
  return std::move(builder).Build();
}

}  // namespace accelsched::topology
