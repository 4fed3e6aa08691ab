#include "scheduler/codec/k8s.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#include "scheduler/codec/annotations.h"
#include "scheduler/codec/json.h"
#include "scheduler/codec/quantity.h"
#include "topology/annotation.h"
#include "topology/mig/mig.h"
#include "topology/profiles.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler::codec {
namespace {

using plugins::Assignment;
using plugins::GpuMask;
using plugins::PodRequest;

constexpr int64_t kMib = int64_t{1} << 20;

// Resource name -> quantity text, for one container's requests (limits where no request).
using ResourceList = std::map<std::string, std::string>;

absl::StatusOr<ResourceList> ContainerResources(const Json& container, const std::string& path) {
  ResourceList out;
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(container, path));
  const Json* resources = Find(container, "resources");
  if (resources == nullptr) return out;
  const std::string rpath = Join(path, "resources");
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*resources, rpath));
  for (const char* kind : {"limits", "requests"}) {  // Requests override limits.
    const Json* list = Find(*resources, kind);
    if (list == nullptr) continue;
    const std::string lpath = Join(rpath, kind);
    ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*list, lpath));
    for (auto it = list->begin(); it != list->end(); ++it) {
      if (it->is_null()) continue;
      ACCELSCHED_ASSIGN_OR_RETURN(out[it.key()], QuantityText(*it, Join(lpath, it.key())));
    }
  }
  return out;
}

// Per resource: the quantity in thousandths (exact enough for every resource we read).
using Amounts = std::map<std::string, int64_t>;

absl::StatusOr<Amounts> ToAmounts(const ResourceList& list, const std::string& path) {
  Amounts out;
  for (const auto& [name, text] : list) {
    absl::StatusOr<int64_t> milli = QuantityMilli(text);
    if (!milli.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".", name, ": ", milli.status().message()));
    }
    out[name] = *milli;
  }
  return out;
}

// The largest amount a sum may reach: a single quantity is at most 2^62 thousandths
// (QuantityMilli), and so is every sum, so that later arithmetic (rounding up to bytes, MiB) has
// room. Larger sums would wrap: three containers of 3.1e18m GPUs once summed to 8 GPUs.
constexpr int64_t kMaxAmount = int64_t{1} << 62;

// total[k] += v for every resource of `a`; InvalidArgument naming `path` and the resource if a
// sum would exceed kMaxAmount.
absl::Status AddAmounts(const Amounts& a, const std::string& path, Amounts& total) {
  for (const auto& [k, v] : a) {
    int64_t sum = 0;
    if (__builtin_add_overflow(total[k], v, &sum) || sum > kMaxAmount) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".", k, ": the pod's total is out of range (above 2^62 thousandths)"));
    }
    total[k] = sum;
  }
  return absl::OkStatus();
}

bool IsDeviceResource(absl::string_view name) {
  return name == kResourceGpu || name == kResourceGpuMilli ||
         absl::StartsWith(name, kResourceMigPrefix);
}

// Appends container `c` to `out` if it asks for accelerator devices (ContainerDevices).
absl::Status AddContainerDevices(const Json& c, const Amounts& a, ContainerDevices::Kind kind,
                                 const std::string& path, std::vector<ContainerDevices>& out) {
  ContainerDevices d;
  d.kind = kind;
  for (const auto& [resource, milli] : a) {
    if (IsDeviceResource(resource) && milli > 0) d.counts[resource] = (milli + 999) / 1000;
    if (resource == kResourceGpuMemoryMib) d.gpu_memory_mib = (milli + 999) / 1000;
  }
  if (d.counts.empty()) return absl::OkStatus();
  ACCELSCHED_ASSIGN_OR_RETURN(d.name, GetString(c, "name", path, false));
  out.push_back(std::move(d));
  return absl::OkStatus();
}

absl::StatusOr<Amounts> PodAmounts(const Json& spec, const std::string& path,
                                   std::vector<ContainerDevices>& devices) {
  Amounts total;
  std::vector<ContainerDevices> app;
  const Json* containers = Find(spec, "containers");
  if (containers == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ".containers: required"));
  }
  if (!containers->is_array()) return WrongType(Join(path, "containers"), "an array", *containers);
  for (size_t i = 0; i < containers->size(); ++i) {
    const std::string cpath = absl::StrCat(path, ".containers[", i, "]");
    ACCELSCHED_ASSIGN_OR_RETURN(ResourceList r, ContainerResources((*containers)[i], cpath));
    ACCELSCHED_ASSIGN_OR_RETURN(Amounts a, ToAmounts(r, cpath + ".resources"));
    ACCELSCHED_RETURN_IF_ERROR(AddAmounts(a, cpath + ".resources", total));
    ACCELSCHED_RETURN_IF_ERROR(
        AddContainerDevices((*containers)[i], a, ContainerDevices::Kind::kApp, cpath, app));
  }
  // Init containers, as Kubernetes computes pod requests (k8s.io/component-helpers PodRequests):
  // a sidecar (restartPolicy: Always) runs beside everything after it, so it adds to the app
  // containers' sum and to every later init container; a plain init container runs alone (with
  // the sidecars started before it), and the pod needs the largest of those moments.
  if (const Json* init = Find(spec, "initContainers"); init != nullptr) {
    if (!init->is_array()) return WrongType(Join(path, "initContainers"), "an array", *init);
    Amounts sidecars, init_max;
    for (size_t i = 0; i < init->size(); ++i) {
      const std::string cpath = absl::StrCat(path, ".initContainers[", i, "]");
      ACCELSCHED_ASSIGN_OR_RETURN(ResourceList r, ContainerResources((*init)[i], cpath));
      ACCELSCHED_ASSIGN_OR_RETURN(Amounts a, ToAmounts(r, cpath + ".resources"));
      ACCELSCHED_ASSIGN_OR_RETURN(std::string restart,
                                  GetString((*init)[i], "restartPolicy", cpath, false));
      ACCELSCHED_RETURN_IF_ERROR(AddContainerDevices(
          (*init)[i], a,
          restart == "Always" ? ContainerDevices::Kind::kSidecar : ContainerDevices::Kind::kInit,
          cpath, devices));
      Amounts moment;
      if (restart == "Always") {
        ACCELSCHED_RETURN_IF_ERROR(AddAmounts(a, cpath + ".resources", total));
        ACCELSCHED_RETURN_IF_ERROR(AddAmounts(a, cpath + ".resources", sidecars));
        moment = sidecars;
      } else {
        moment = a;
        ACCELSCHED_RETURN_IF_ERROR(AddAmounts(sidecars, cpath + ".resources", moment));
      }
      for (const auto& [k, v] : moment) init_max[k] = std::max(init_max[k], v);
    }
    for (const auto& [k, v] : init_max) total[k] = std::max(total[k], v);
  }
  devices.insert(devices.end(), std::make_move_iterator(app.begin()),
                 std::make_move_iterator(app.end()));
  if (const Json* overhead = Find(spec, "overhead"); overhead != nullptr) {
    ResourceList r;
    const std::string opath = Join(path, "overhead");
    ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*overhead, opath));
    for (auto it = overhead->begin(); it != overhead->end(); ++it) {
      if (it->is_null()) continue;
      ACCELSCHED_ASSIGN_OR_RETURN(r[it.key()], QuantityText(*it, Join(opath, it.key())));
    }
    ACCELSCHED_ASSIGN_OR_RETURN(Amounts a, ToAmounts(r, opath));
    ACCELSCHED_RETURN_IF_ERROR(AddAmounts(a, opath, total));
  }
  return total;
}

// A whole number of units from thousandths, or InvalidArgument naming the resource.
absl::StatusOr<int64_t> WholeUnits(int64_t milli, absl::string_view what) {
  if (milli % 1000 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": must be a whole number"));
  }
  return milli / 1000;
}

bool IsTrue(const std::map<std::string, std::string>& m, absl::string_view key) {
  auto it = m.find(std::string(key));
  return it != m.end() && absl::AsciiStrToLower(it->second) == "true";
}

std::string Upper(absl::string_view s) { return absl::AsciiStrToUpper(s); }

// The pod's gang from its label or annotations; errors name the annotation.
absl::StatusOr<std::optional<GangMembership>> DecodeGang(const PodObject& pod,
                                                         const std::string& mpath) {
  auto annotation = [&](absl::string_view key) -> const std::string* {
    auto it = pod.annotations.find(std::string(key));
    return it == pod.annotations.end() ? nullptr : &it->second;
  };
  auto bad = [&](absl::string_view key, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(mpath, ".annotations[\"", key, "\"]: ", why));
  };
  std::string group;
  if (const std::string* n = annotation(kAnnotationGangName); n != nullptr) {
    if (n->empty()) return bad(kAnnotationGangName, "must not be empty");
    group = *n;
  } else if (auto it = pod.labels.find(kLabelPodGroup); it != pod.labels.end()) {
    if (it->second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(mpath, ".labels[\"", kLabelPodGroup, "\"]: must not be empty"));
    }
    group = it->second;
  }
  const std::string* size = annotation(kAnnotationGangSize);
  const std::string* required = annotation(kAnnotationNetworkRequired);
  const std::string* preferred = annotation(kAnnotationNetworkPreferred);
  const std::string* rail = annotation(kAnnotationRailAligned);
  if (group.empty()) {
    for (const char* key : {kAnnotationGangSize, kAnnotationNetworkRequired,
                            kAnnotationNetworkPreferred, kAnnotationRailAligned}) {
      if (annotation(key) != nullptr) {
        return bad(key, absl::StrCat("needs a gang (", kAnnotationGangName, " or the label ",
                                     kLabelPodGroup, ")"));
      }
    }
    return std::optional<GangMembership>();
  }
  GangMembership g;
  g.name = absl::StrCat(pod.namespace_name, "/", group);
  if (size != nullptr) {
    if (!absl::SimpleAtoi(*size, &g.size) || g.size < 1 || g.size > 100000) {
      return bad(kAnnotationGangSize, "must be an integer in 1..100000");
    }
  } else if (annotation(kAnnotationGangName) != nullptr) {
    return bad(kAnnotationGangSize, absl::StrCat("required with ", kAnnotationGangName));
  }
  if (required != nullptr && preferred != nullptr) {
    return bad(kAnnotationNetworkRequired,
               absl::StrCat("give it or ", kAnnotationNetworkPreferred, ", not both"));
  }
  if (const std::string* level = required != nullptr ? required : preferred; level != nullptr) {
    if (level->empty()) {
      return bad(required != nullptr ? kAnnotationNetworkRequired : kAnnotationNetworkPreferred,
                 "must name a network level (e.g. rack)");
    }
    g.network_level = *level;
    g.network_required = required != nullptr;
  }
  if (rail != nullptr) {
    const std::string v = absl::AsciiStrToLower(*rail);
    if (v != "true" && v != "false") return bad(kAnnotationRailAligned, "must be true or false");
    g.rail_aligned = v == "true";
  }
  return std::optional<GangMembership>(std::move(g));
}

// "80GB" -> 80 from a token list; 0 if none.
int MemoryGbToken(const std::vector<std::string>& tokens) {
  for (const std::string& t : tokens) {
    absl::string_view v = t;
    int gb = 0;
    if (absl::ConsumeSuffix(&v, "GB") && absl::SimpleAtoi(v, &gb)) return gb;
  }
  return 0;
}

// Indices and ranges: "0-3,6" -> mask.
absl::StatusOr<GpuMask> ParseGpuList(absl::string_view text, int gpu_count,
                                     absl::string_view what) {
  GpuMask mask = 0;
  if (absl::StripAsciiWhitespace(text).empty()) return mask;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    part = absl::StripAsciiWhitespace(part);
    std::vector<absl::string_view> range = absl::StrSplit(part, absl::MaxSplits('-', 1));
    int a = 0, b = 0;
    if (!absl::SimpleAtoi(range[0], &a) || (range.size() == 2 && !absl::SimpleAtoi(range[1], &b))) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": '", std::string(part), "' is not an index or a range A-B"));
    }
    if (range.size() == 1) b = a;
    if (a < 0 || b < a || b >= gpu_count) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": '", std::string(part), "' is outside the node's GPUs 0..", gpu_count - 1));
    }
    for (int i = a; i <= b; ++i) mask |= GpuMask{1} << i;
  }
  return mask;
}

}  // namespace

std::string CanonicalGpuModel(absl::string_view product, int64_t memory_mib) {
  std::string p = Upper(product);
  for (const char* prefix : {"NVIDIA-", "NVIDIA ", "TESLA-", "TESLA ", "GEFORCE-", "QUADRO-"}) {
    if (absl::StartsWith(p, prefix)) p = p.substr(absl::string_view(prefix).size());
  }
  std::vector<std::string> tokens = absl::StrSplit(p, absl::ByAnyChar("- _"), absl::SkipEmpty());
  auto has = [&](absl::string_view t) {
    return std::find(tokens.begin(), tokens.end(), t) != tokens.end();
  };
  int gb = MemoryGbToken(tokens);
  if (gb == 0 && memory_mib > 0) gb = static_cast<int>((memory_mib + 512) / 1024);
  if (has("GB200")) return "GB200";
  if (has("B200")) return "B200";
  if (has("GH200")) return "H100-96GB";
  if (has("H200")) return "H200-141GB";
  if (has("H100")) {
    if (has("NVL") || gb == 94 || gb == 95) return "H100-94GB";
    if (gb == 96) return "H100-96GB";
    return "H100-80GB";
  }
  if (has("A100")) return gb != 0 && gb <= 40 ? "A100-40GB" : "A100-80GB";
  if (has("A30")) return "A30";
  for (const char* family : {"L40S", "L40", "L4", "A10", "A40", "T4", "A800", "H800", "H20"}) {
    if (has(family)) return family;
  }
  for (const char* family : {"V100", "P100"}) {
    if (has(family)) return gb > 0 ? absl::StrCat(family, "-", gb, "GB") : family;
  }
  return p.empty() ? std::string("GPU") : p;
}

absl::StatusOr<MigResource> ParseMigResource(absl::string_view profile_name) {
  MigResource out;
  std::string name(profile_name);
  bool me = false;
  for (const char* suffix : {"+me", ".me", "-me"}) {
    if (absl::EndsWith(name, suffix)) {
      name.resize(name.size() - 3);
      me = true;
    }
  }
  const std::string canonical = me ? name + "+me" : name;
  // Every geometry with a profile of exactly this name; single-memory shapes first.
  std::vector<std::pair<bool, std::string>> found;  // (double_memory, model)
  int compute = 0;
  for (const topology::mig::MigGeometry& g : topology::mig::BuiltinGeometries()) {
    absl::StatusOr<const topology::mig::MigProfile*> p = g.ProfileByName(canonical);
    if (!p.ok()) continue;
    compute = (*p)->compute_slices;
    found.emplace_back((*p)->double_memory, std::string(g.model()));
  }
  if (found.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("MIG profile '", std::string(profile_name),
                                                   "' is not a profile of any known GPU model"));
  }
  // A name can be a double-memory 1g on one model and a single one on another (1g.10gb on
  // A100-40GB vs A100-80GB); serve the single-memory models then.
  const bool any_single =
      std::any_of(found.begin(), found.end(), [](const auto& f) { return !f.first; });
  out.request.compute_slices = compute;
  out.request.double_memory = !any_single;
  out.request.media_extensions = me;
  for (const auto& [double_memory, model] : found) {
    if (double_memory == out.request.double_memory) out.models.push_back(model);
  }
  return out;
}

namespace {

// metadata.{name, namespace, uid, labels, annotations} of pod `pod` at `path`.
absl::Status DecodePodMetadata(const Json& pod, const std::string& path, PodObject* out) {
  const Json* metadata = Find(pod, "metadata");
  if (metadata == nullptr) return absl::InvalidArgumentError(path + ".metadata: required");
  const std::string mpath = path + ".metadata";
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*metadata, mpath));
  ACCELSCHED_ASSIGN_OR_RETURN(out->name, GetString(*metadata, "name", mpath, true));
  if (out->name.empty()) return absl::InvalidArgumentError(mpath + ".name: must not be empty");
  ACCELSCHED_ASSIGN_OR_RETURN(out->namespace_name, GetString(*metadata, "namespace", mpath, false));
  if (out->namespace_name.empty()) out->namespace_name = "default";
  ACCELSCHED_ASSIGN_OR_RETURN(out->uid, GetString(*metadata, "uid", mpath, false));
  ACCELSCHED_ASSIGN_OR_RETURN(out->labels, GetStringMap(*metadata, "labels", mpath));
  ACCELSCHED_ASSIGN_OR_RETURN(out->annotations, GetStringMap(*metadata, "annotations", mpath));
  // Kubernetes' own limit (apimachinery TotalAnnotationSizeLimitB): a larger pod cannot exist,
  // and 60 pods of 5 MB annotations once held 314 MB in the pod cache.
  constexpr size_t kMaxAnnotationBytes = size_t{256} * 1024;
  size_t bytes = 0;
  for (const auto& [k, v] : out->annotations) bytes += k.size() + v.size();
  if (bytes > kMaxAnnotationBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        mpath, ".annotations: ", bytes, " bytes; Kubernetes allows ", kMaxAnnotationBytes));
  }
  return absl::OkStatus();
}

// The MIG resource `resource` (nvidia.com/mig-<profile>) asked `n` times.
absl::Status ApplyMigResource(const std::string& resource, int64_t n, const std::string& what,
                              PodObject* out) {
  PodRequest& r = out->request;
  if (n == 0) return absl::OkStatus();
  if (n != 1 || r.mig.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": a pod may ask for one MIG instance (one nvidia.com/mig-* "
                     "resource with quantity 1)"));
  }
  const std::string profile = resource.substr(sizeof(kResourceMigPrefix) - 1);
  absl::StatusOr<MigResource> mig = ParseMigResource(profile);
  if (!mig.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", mig.status().message()));
  }
  r.mig = mig->request;
  out->mig_profile_name = profile;
  r.allowed_models = mig->models;
  return absl::OkStatus();
}

// One summed resource of the pod (`milli` thousandths of `resource`) into its request.
absl::Status ApplyResource(const std::string& resource, int64_t milli, const std::string& rpath,
                           PodObject* out) {
  PodRequest& r = out->request;
  const std::string what = absl::StrCat(rpath, ".", resource);
  if (resource == "cpu") {
    r.cpu_milli = milli;
  } else if (resource == "memory") {
    r.memory_mib = ((milli + 999) / 1000 + kMib - 1) / kMib;  // Bytes rounded up, then MiB.
  } else if (resource == kResourceGpu) {
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t n, WholeUnits(milli, what));
    if (n > plugins::kMaxGpus) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", n, " GPUs; a node has at most ", plugins::kMaxGpus));
    }
    r.gpu_count = static_cast<int32_t>(n);
  } else if (resource == kResourceGpuMilli) {
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t n, WholeUnits(milli, what));
    if (n < 1 || n > 999) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": must be 1..999, got ", n));
    }
    r.gpu_milli = static_cast<int32_t>(n);
  } else if (resource == kResourceGpuMemoryMib) {
    ACCELSCHED_ASSIGN_OR_RETURN(r.gpu_memory_mib, WholeUnits(milli, what));
  } else if (absl::StartsWith(resource, kResourceMigPrefix)) {
    ACCELSCHED_ASSIGN_OR_RETURN(int64_t n, WholeUnits(milli, what));
    ACCELSCHED_RETURN_IF_ERROR(ApplyMigResource(resource, n, what, out));
  }
  return absl::OkStatus();
}

// accelsched.io/gpu-milli as an annotation: a share without a device plugin to admit the pod.
absl::Status ApplyShareAnnotation(const std::string& mpath, PodObject* out) {
  PodRequest& r = out->request;
  if (r.gpu_milli != 0) return absl::OkStatus();
  auto it = out->annotations.find(std::string(kResourceGpuMilli));
  if (it == out->annotations.end()) return absl::OkStatus();
  int n = 0;
  if (!absl::SimpleAtoi(it->second, &n) || n < 1 || n > 999) {
    return absl::InvalidArgumentError(absl::StrCat(mpath, ".annotations[\"", kResourceGpuMilli,
                                                   "\"]: must be an integer 1..999"));
  }
  r.gpu_milli = n;
  return absl::OkStatus();
}

// accelsched.io/gpu-models: the models allowed (intersected with a MIG profile's models).
absl::Status ApplyModelsAnnotation(const std::string& mpath, PodObject* out) {
  PodRequest& r = out->request;
  auto it = out->annotations.find(std::string(kAnnotationGpuModels));
  if (it == out->annotations.end()) return absl::OkStatus();
  std::vector<std::string> models;
  for (absl::string_view m : absl::StrSplit(it->second, ',', absl::SkipWhitespace())) {
    models.push_back(std::string(absl::StripAsciiWhitespace(m)));
  }
  r.models_from_pod = true;
  if (r.allowed_models.empty()) {
    r.allowed_models = models;
    return absl::OkStatus();
  }
  std::vector<std::string> both;  // Both a MIG profile and a model list: the intersection.
  for (const std::string& m : r.allowed_models) {
    for (const std::string& w : models) {
      if (absl::EqualsIgnoreCase(m, w)) both.push_back(m);
    }
  }
  if (both.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(mpath, ".annotations[\"", kAnnotationGpuModels,
                                                   "\"]: no listed model has MIG profile ",
                                                   out->mig_profile_name));
  }
  r.allowed_models = both;
  return absl::OkStatus();
}

// accelsched.io/nvlink, close-nic and same-numa.
absl::Status ApplyTopologyAnnotations(const std::string& mpath, PodObject* out) {
  PodRequest& r = out->request;
  if (auto it = out->annotations.find(std::string(kAnnotationNvlink));
      it != out->annotations.end()) {
    const std::string v = absl::AsciiStrToLower(it->second);
    if (v == "required") {
      r.nvlink = plugins::TopologyPreference::kRequired;
    } else if (v == "preferred") {
      r.nvlink = plugins::TopologyPreference::kPreferred;
    } else if (!v.empty() && v != "none") {
      return absl::InvalidArgumentError(absl::StrCat(mpath, ".annotations[\"", kAnnotationNvlink,
                                                     "\"]: must be required, preferred or none"));
    }
  }
  r.require_close_nic = IsTrue(out->annotations, kAnnotationCloseNic);
  r.require_same_numa = IsTrue(out->annotations, kAnnotationSameNuma);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PodObject> DecodePod(const Json& pod, absl::string_view path_view) {
  const std::string path(path_view);
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(pod, path));
  PodObject out;
  ACCELSCHED_RETURN_IF_ERROR(DecodePodMetadata(pod, path, &out));
  const std::string mpath = path + ".metadata";
  const Json* spec = Find(pod, "spec");
  if (spec == nullptr) return absl::InvalidArgumentError(path + ".spec: required");
  const std::string spath = path + ".spec";
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*spec, spath));
  ACCELSCHED_ASSIGN_OR_RETURN(out.node_name, GetString(*spec, "nodeName", spath, false));
  ACCELSCHED_ASSIGN_OR_RETURN(out.scheduler_name, GetString(*spec, "schedulerName", spath, false));
  if (const Json* status = Find(pod, "status"); status != nullptr) {
    ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*status, path + ".status"));
    ACCELSCHED_ASSIGN_OR_RETURN(out.phase, GetString(*status, "phase", path + ".status", false));
  }
  ACCELSCHED_ASSIGN_OR_RETURN(Amounts amounts, PodAmounts(*spec, spath, out.containers));
  PodRequest& r = out.request;
  r.name = out.Key();
  r.tenant = out.namespace_name;
  const std::string rpath = spath + ".containers[*].resources";
  for (const auto& [resource, milli] : amounts) {
    ACCELSCHED_RETURN_IF_ERROR(ApplyResource(resource, milli, rpath, &out));
  }
  ACCELSCHED_RETURN_IF_ERROR(ApplyShareAnnotation(mpath, &out));
  ACCELSCHED_RETURN_IF_ERROR(ApplyModelsAnnotation(mpath, &out));
  ACCELSCHED_RETURN_IF_ERROR(ApplyTopologyAnnotations(mpath, &out));
  ACCELSCHED_ASSIGN_OR_RETURN(out.gang, DecodeGang(out, mpath));
  if (r.WantsShare() && r.WantsWholeGpus()) {
    return absl::InvalidArgumentError(absl::StrCat(rpath, ": asks for both whole GPUs (",
                                                   kResourceGpu, ") and a share (",
                                                   kResourceGpuMilli, ")"));
  }
  if (absl::Status s = r.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const plugins::NodeTopology>> TopologyCache::Get(
    const std::string& key, const std::function<absl::StatusOr<topology::Topology>()>& make) {
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  ACCELSCHED_ASSIGN_OR_RETURN(topology::Topology t, make());
  ACCELSCHED_ASSIGN_OR_RETURN(std::shared_ptr<const plugins::NodeTopology> nt,
                              plugins::NodeTopology::Create(std::move(t)));
  cache_[key] = nt;
  return nt;
}

namespace {

// The node's resources in thousandths: status.allocatable, else status.capacity.
absl::StatusOr<Amounts> NodeAmounts(const Json& node, const std::string& path) {
  ResourceList resources;
  std::string rpath;
  if (const Json* status = Find(node, "status"); status != nullptr) {
    ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*status, path + ".status"));
    for (const char* kind : {"capacity", "allocatable"}) {  // Allocatable overrides.
      const Json* list = Find(*status, kind);
      if (list == nullptr) continue;
      rpath = absl::StrCat(path, ".status.", kind);
      ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*list, rpath));
      for (auto it = list->begin(); it != list->end(); ++it) {
        if (it->is_null()) continue;
        ACCELSCHED_ASSIGN_OR_RETURN(resources[it.key()], QuantityText(*it, Join(rpath, it.key())));
      }
    }
  }
  if (rpath.empty()) rpath = path + ".status.allocatable";
  return ToAmounts(resources, rpath);
}

// The value of label `key` of `spec`, or "".
std::string LabelOf(const plugins::NodeSpec& spec, absl::string_view key) {
  for (const auto& [k, v] : spec.labels) {
    if (k == key) return v;
  }
  return "";
}

// GPU count and memory from the GFD labels (the count defaults to allocatable nvidia.com/gpu).
absl::Status DecodeGpuLabels(const std::string& mpath, const std::string& path,
                             int64_t allocatable_gpus, plugins::NodeSpec* spec) {
  int64_t gpu_count = allocatable_gpus;
  if (const std::string c = LabelOf(*spec, kLabelGpuCount); !c.empty()) {
    if (!absl::SimpleAtoi(c, &gpu_count) || gpu_count < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(mpath, ".labels[\"", kLabelGpuCount, "\"]: must be a non-negative integer"));
    }
  }
  if (gpu_count > plugins::kMaxGpus) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", gpu_count, " GPUs; at most ",
                                                   plugins::kMaxGpus, " per node are supported"));
  }
  int64_t gpu_memory_mib = 0;
  if (const std::string m = LabelOf(*spec, kLabelGpuMemory); !m.empty()) {
    if (!absl::SimpleAtoi(m, &gpu_memory_mib) || gpu_memory_mib < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(mpath, ".labels[\"", kLabelGpuMemory, "\"]: must be MiB as an integer"));
    }
  }
  spec->gpu_count = static_cast<int>(gpu_count);
  spec->gpu_memory_mib = gpu_memory_mib;
  return absl::OkStatus();
}

// Which GPUs are in MIG mode: accelsched.io/mig-gpus, else the first (count - allocatable) GPUs
// of a node with nvidia.com/mig.strategy=mixed; none on a model without a MIG geometry.
struct MigPlacementText {
  int gpu = -1;
  std::string profile;
  int start = -1;
};

// "<gpu>:<profile>@<start>" (accelsched.io/mig-placement); `what` names it in errors.
absl::StatusOr<MigPlacementText> ParseMigPlacement(absl::string_view text,
                                                   const std::string& what) {
  std::vector<std::string> gpu_rest = absl::StrSplit(text, absl::MaxSplits(':', 1));
  if (gpu_rest.size() != 2) return absl::InvalidArgumentError(what + ": not gpu:profile@start");
  std::vector<std::string> profile_start = absl::StrSplit(gpu_rest[1], absl::MaxSplits('@', 1));
  MigPlacementText out;
  if (profile_start.size() != 2 || profile_start[0].empty() ||
      !absl::SimpleAtoi(gpu_rest[0], &out.gpu) || !absl::SimpleAtoi(profile_start[1], &out.start)) {
    return absl::InvalidArgumentError(what + ": not gpu:profile@start");
  }
  out.profile = profile_start[0];
  return out;
}

// accelsched.io/unhealthy-gpus ("5:XID 79,2:XID 48"). An entry that does not parse or names a
// GPU the node does not have is a warning, not an error: the node stays schedulable.
void DecodeUnhealthyGpus(NodeObject* out) {
  auto it = out->annotations.find(std::string(kAnnotationUnhealthyGpus));
  if (it == out->annotations.end()) return;
  for (absl::string_view entry : absl::StrSplit(it->second, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    std::pair<absl::string_view, absl::string_view> gpu_reason =
        absl::StrSplit(entry, absl::MaxSplits(':', 1));
    int gpu = -1;
    if (!absl::SimpleAtoi(gpu_reason.first, &gpu) || gpu < 0 || gpu >= out->spec.gpu_count) {
      out->warnings.push_back(absl::StrCat(kAnnotationUnhealthyGpus, ": '", entry,
                                           "' is not <GPU index of this node>:<reason>; ignored"));
      continue;
    }
    out->spec.unhealthy_gpus[gpu] = std::string(absl::StripAsciiWhitespace(gpu_reason.second));
  }
}

// accelsched.io/mig-instances ("0:3g.40gb@0,0:3g.40gb@4"): the node's MIG instances, made ahead
// (static MIG); MIG pods then go only onto them. An entry that does not parse, names a profile
// the model does not have or a GPU not in MIG mode is a warning and left out.
void DecodeMigInstances(NodeObject* out) {
  auto it = out->annotations.find(std::string(kAnnotationMigInstances));
  if (it == out->annotations.end()) return;
  plugins::NodeSpec& spec = out->spec;
  spec.static_mig = true;
  absl::StatusOr<const topology::mig::MigGeometry*> g =
      topology::mig::GeometryForModel(spec.gpu_model);
  for (absl::string_view entry : absl::StrSplit(it->second, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const std::string what = absl::StrCat(kAnnotationMigInstances, ": '", entry, "'");
    absl::StatusOr<MigPlacementText> m = ParseMigPlacement(entry, what);
    absl::StatusOr<const topology::mig::MigProfile*> p =
        m.ok() && g.ok() ? (*g)->ProfileByName(m->profile)
                         : absl::StatusOr<const topology::mig::MigProfile*>(
                               absl::InvalidArgumentError("no MIG geometry"));
    if (!m.ok() || !p.ok() || m->gpu < 0 || m->gpu >= spec.gpu_count ||
        ((spec.mig_enabled >> m->gpu) & 1u) == 0 || m->start < 0 || m->start > 7 ||
        (((*p)->start_mask >> m->start) & 1u) == 0) {
      out->warnings.push_back(absl::StrCat(what, " is not <GPU in MIG mode>:<profile of ",
                                           spec.gpu_model, ">@<legal start>; ignored"));
      continue;
    }
    spec.mig_instances.push_back({m->gpu, (*p)->id, m->start});
  }
}

// What the node's allocatable advertises (nvidia.com/gpu, accelsched.io/gpu-milli,
// nvidia.com/mig-*; a resource at 0 is not advertised). MIG names are kept as NVIDIA's profile
// names: the device plugin's "mig-1g.10gb.me" is "1g.10gb+me".
std::shared_ptr<const plugins::AdvertisedResources> AdvertisedOf(const Amounts& amounts) {
  auto out = std::make_shared<plugins::AdvertisedResources>();
  for (const auto& [name, thousandths] : amounts) {
    if (thousandths <= 0) continue;
    if (name == kResourceGpu) {
      out->whole_gpus = true;
    } else if (name == kResourceGpuMilli) {
      out->gpu_milli = true;
    } else if (absl::StartsWith(name, kResourceMigPrefix)) {
      std::string profile = name.substr(std::string_view(kResourceMigPrefix).size());
      for (const char* suffix : {".me", "-me"}) {
        if (absl::EndsWith(profile, suffix)) profile.replace(profile.size() - 3, 1, "+");
      }
      out->mig_profiles.push_back(std::move(profile));
    }
  }
  return out;
}

// The ledger never uses more GPUs outside MIG mode than allocatable nvidia.com/gpu advertises:
// when the device plugin withholds some (unhealthy, or not yet registered) and the node's
// annotations do not say which, the highest-index healthy ones are taken out of service.
void LimitToAdvertisedGpus(std::optional<int64_t> allocatable_gpus, NodeObject* out) {
  plugins::NodeSpec& spec = out->spec;
  if (!allocatable_gpus.has_value()) return;
  std::vector<int> healthy;
  for (int g = 0; g < spec.gpu_count; ++g) {
    if (((spec.mig_enabled >> g) & 1u) == 0 && spec.unhealthy_gpus.count(g) == 0) {
      healthy.push_back(g);
    }
  }
  const int64_t excess = static_cast<int64_t>(healthy.size()) - *allocatable_gpus;
  if (excess <= 0 || !out->spec.advertised->whole_gpus) return;
  for (int64_t k = 0; k < excess; ++k) {
    spec.unhealthy_gpus[healthy[healthy.size() - 1 - static_cast<size_t>(k)]] =
        absl::StrCat("not advertised: allocatable ", kResourceGpu, " is ", *allocatable_gpus,
                     " of the ", healthy.size(), " healthy GPUs outside MIG mode");
  }
  out->warnings.push_back(
      absl::StrCat("allocatable ", kResourceGpu, " is ", *allocatable_gpus, " but ", healthy.size(),
                   " healthy GPUs are outside MIG mode; the last ", excess, " are not used"));
}

absl::Status DecodeMigMode(const std::string& mpath, int64_t allocatable_gpus, NodeObject* out) {
  plugins::NodeSpec& spec = out->spec;
  const bool has_geometry = topology::mig::GeometryForModel(spec.gpu_model).ok();
  if (auto it = out->annotations.find(std::string(kAnnotationMigGpus));
      it != out->annotations.end()) {
    ACCELSCHED_ASSIGN_OR_RETURN(
        spec.mig_enabled,
        ParseGpuList(it->second, spec.gpu_count,
                     absl::StrCat(mpath, ".annotations[\"", kAnnotationMigGpus, "\"]")));
  } else if (absl::AsciiStrToLower(LabelOf(spec, kLabelMigStrategy)) == "mixed" &&
             allocatable_gpus < spec.gpu_count) {
    const int n = static_cast<int>(spec.gpu_count - allocatable_gpus);
    spec.mig_enabled = static_cast<GpuMask>((1u << n) - 1u);
  }
  if (spec.mig_enabled != 0 && !has_geometry) {
    out->warnings.push_back(absl::StrCat("MIG mode on GPU model ", spec.gpu_model,
                                         ", which has no known MIG geometry; MIG ignored"));
    spec.mig_enabled = 0;
  }
  return absl::OkStatus();
}

// The node's topology: the annotation, else a built-in profile for the product, else generic
// PCIe (with a warning).
absl::Status DecodeNodeTopology(const std::string& product, TopologyCache& topologies,
                                NodeObject* out) {
  plugins::NodeSpec& spec = out->spec;
  if (auto it = out->annotations.find(std::string(kAnnotationTopology));
      it != out->annotations.end()) {
    absl::StatusOr<std::shared_ptr<const plugins::NodeTopology>> t =
        topologies.Get("annotation:" + it->second,
                       [&]() { return topology::DecodeTopologyAnnotation(it->second); });
    if (t.ok() && (*t)->topology.num_gpus() == spec.gpu_count) {
      spec.topology = *t;
      return absl::OkStatus();
    }
    out->warnings.push_back(
        t.ok()
            ? absl::StrCat(kAnnotationTopology, " describes ", (*t)->topology.num_gpus(),
                           " GPUs, the node has ", spec.gpu_count, "; using the built-in profile")
            : absl::StrCat(kAnnotationTopology, " is invalid (", t.status().message(),
                           "); using the built-in profile"));
  }
  topology::ProfileSelection selection = topology::ProfileForNode(product, spec.gpu_count);
  if (selection.fallback) out->warnings.push_back(selection.warning);
  ACCELSCHED_ASSIGN_OR_RETURN(
      spec.topology,
      topologies.Get(absl::StrCat("profile:", selection.topology.name(), ":", spec.gpu_count),
                     [&]() -> absl::StatusOr<topology::Topology> { return selection.topology; }));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NodeObject> DecodeNode(const Json& node, absl::string_view path_view,
                                      TopologyCache& topologies) {
  const std::string path(path_view);
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(node, path));
  NodeObject out;
  plugins::NodeSpec& spec = out.spec;
  const Json* metadata = Find(node, "metadata");
  if (metadata == nullptr) return absl::InvalidArgumentError(path + ".metadata: required");
  const std::string mpath = path + ".metadata";
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*metadata, mpath));
  ACCELSCHED_ASSIGN_OR_RETURN(spec.name, GetString(*metadata, "name", mpath, true));
  if (spec.name.empty()) return absl::InvalidArgumentError(mpath + ".name: must not be empty");
  ACCELSCHED_ASSIGN_OR_RETURN(auto labels, GetStringMap(*metadata, "labels", mpath));
  ACCELSCHED_ASSIGN_OR_RETURN(out.annotations, GetStringMap(*metadata, "annotations", mpath));
  for (const auto& [k, v] : labels) spec.labels.emplace_back(k, v);

  ACCELSCHED_ASSIGN_OR_RETURN(Amounts amounts, NodeAmounts(node, path));
  spec.cpu_milli = amounts.count("cpu") ? amounts["cpu"] : 0;
  spec.memory_mib = amounts.count("memory") ? amounts["memory"] / 1000 / kMib : 0;
  const int64_t allocatable_gpus =
      amounts.count(std::string(kResourceGpu)) ? amounts[std::string(kResourceGpu)] / 1000 : 0;
  ACCELSCHED_RETURN_IF_ERROR(DecodeGpuLabels(mpath, path, allocatable_gpus, &spec));
  if (spec.gpu_count == 0) return out;

  const std::string product = LabelOf(spec, kLabelGpuProduct);
  spec.gpu_model = CanonicalGpuModel(product, spec.gpu_memory_mib);
  if (product.empty()) {
    out.warnings.push_back(
        absl::StrCat("no ", kLabelGpuProduct, " label; GPU model taken as '", spec.gpu_model, "'"));
  }
  ACCELSCHED_RETURN_IF_ERROR(DecodeMigMode(mpath, allocatable_gpus, &out));
  DecodeUnhealthyGpus(&out);
  spec.advertised = AdvertisedOf(amounts);
  LimitToAdvertisedGpus(amounts.count(std::string(kResourceGpu))
                            ? std::optional<int64_t>(allocatable_gpus)
                            : std::nullopt,
                        &out);
  DecodeMigInstances(&out);
  ACCELSCHED_RETURN_IF_ERROR(DecodeNodeTopology(product, topologies, &out));
  return out;
}

absl::StatusOr<PodGroupObject> DecodePodGroup(const Json& group, absl::string_view path) {
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(group, path));
  const std::string meta_path = Join(path, "metadata");
  const Json* metadata = Find(group, "metadata");
  if (metadata == nullptr) return absl::InvalidArgumentError(meta_path + ": required");
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*metadata, meta_path));
  ACCELSCHED_ASSIGN_OR_RETURN(std::string name, GetString(*metadata, "name", meta_path, true));
  ACCELSCHED_ASSIGN_OR_RETURN(std::string ns, GetString(*metadata, "namespace", meta_path, false));
  PodGroupObject out;
  out.gang = absl::StrCat(ns.empty() ? "default" : ns, "/", name);
  const std::string spec_path = Join(path, "spec");
  const Json* spec = Find(group, "spec");
  if (spec == nullptr) return absl::InvalidArgumentError(spec_path + ": required");
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*spec, spec_path));
  const std::string min_path = Join(spec_path, "minMember");
  const Json* min = Find(*spec, "minMember");
  if (min == nullptr) return absl::InvalidArgumentError(min_path + ": required");
  if (!min->is_number_integer() || min->get<int64_t>() < 1 || min->get<int64_t>() > 100000) {
    return WrongType(min_path, "an integer in 1..100000", *min);
  }
  out.min_member = static_cast<int>(min->get<int64_t>());
  return out;
}

absl::StatusOr<NamespaceObject> DecodeNamespace(const Json& ns, absl::string_view path) {
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(ns, path));
  const std::string meta_path = Join(path, "metadata");
  const Json* metadata = Find(ns, "metadata");
  if (metadata == nullptr) return absl::InvalidArgumentError(meta_path + ": required");
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*metadata, meta_path));
  NamespaceObject out;
  ACCELSCHED_ASSIGN_OR_RETURN(out.name, GetString(*metadata, "name", meta_path, true));
  ACCELSCHED_ASSIGN_OR_RETURN(auto labels, GetStringMap(*metadata, "labels", meta_path));
  if (auto it = labels.find(kLabelIsolation); it != labels.end()) out.isolation = it->second;
  return out;
}

// InvalidArgument naming both items if `pod` (at `path`) has the UID or the name of a pod
// already in `objects`: the second would be dropped silently, its devices shown free.
absl::Status CheckPodIsNew(const PodObject& pod, const std::string& path,
                           const ClusterObjects& objects) {
  for (size_t k = 0; k < objects.pods.size(); ++k) {
    const PodObject& other = objects.pods[k];
    const bool same_uid = !pod.uid.empty() && pod.uid == other.uid;
    if (same_uid || pod.Key() == other.Key()) {
      return absl::InvalidArgumentError(
          same_uid
              ? absl::StrCat(path, ": pod ", pod.Key(), " has uid \"", pod.uid,
                             "\", as has the pod at ", objects.pod_paths[k], " (", other.Key(), ")")
              : absl::StrCat(path, ": pod ", pod.Key(), " appears twice (also at ",
                             objects.pod_paths[k], ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ClusterObjects> DecodeClusterList(const Json& list) {
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(list, "list"));
  ACCELSCHED_ASSIGN_OR_RETURN(std::string list_kind, GetString(list, "kind", "", false));
  const Json* items = Find(list, "items");
  if (items == nullptr) {
    return absl::InvalidArgumentError(
        list_kind.empty() || absl::EndsWith(list_kind, "List")
            ? std::string("items: required (a v1 List)")
            : absl::StrCat("kind ", list_kind,
                           ": expected a List of Node, Pod, Namespace and PodGroup objects"));
  }
  if (!items->is_array()) return WrongType("items", "an array", *items);
  std::string default_kind;
  if (list_kind == "NodeList") default_kind = "Node";
  if (list_kind == "PodList") default_kind = "Pod";
  ClusterObjects out;
  TopologyCache topologies;
  for (size_t i = 0; i < items->size(); ++i) {
    const std::string path = absl::StrCat("items[", i, "]");
    const Json& item = (*items)[i];
    ACCELSCHED_RETURN_IF_ERROR(ExpectObject(item, path));
    ACCELSCHED_ASSIGN_OR_RETURN(std::string kind, GetString(item, "kind", path, false));
    if (kind.empty()) kind = default_kind;
    if (kind == "Node") {
      ACCELSCHED_ASSIGN_OR_RETURN(NodeObject n, DecodeNode(item, path, topologies));
      out.nodes.push_back(std::move(n));
    } else if (kind == "Pod") {
      ACCELSCHED_ASSIGN_OR_RETURN(PodObject p, DecodePod(item, path));
      ACCELSCHED_RETURN_IF_ERROR(CheckPodIsNew(p, path, out));
      out.pods.push_back(std::move(p));
      out.pod_paths.push_back(path);
    } else if (kind == "Namespace") {
      ACCELSCHED_ASSIGN_OR_RETURN(NamespaceObject n, DecodeNamespace(item, path));
      out.namespaces.push_back(std::move(n));
      out.namespace_paths.push_back(path);
    } else if (kind == "PodGroup") {
      ACCELSCHED_ASSIGN_OR_RETURN(PodGroupObject g, DecodePodGroup(item, path));
      out.pod_groups.push_back(std::move(g));
    } else if (kind.empty()) {
      return absl::InvalidArgumentError(path + ".kind: required (Node or Pod)");
    }
  }
  return out;
}

absl::StatusOr<ClusterObjects> DecodeClusterListText(absl::string_view text,
                                                     absl::string_view file) {
  ACCELSCHED_ASSIGN_OR_RETURN(Json json, ParseJsonOrYaml(text, file));
  absl::StatusOr<ClusterObjects> objects = DecodeClusterList(json);
  if (!objects.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", objects.status().message()));
  }
  return objects;
}

absl::StatusOr<PodObject> DecodePodText(absl::string_view text, absl::string_view path) {
  ACCELSCHED_ASSIGN_OR_RETURN(Json json, ParseJson(text, absl::StrCat(path, ": not JSON")));
  return DecodePod(json, path);
}

std::map<std::string, std::string> AssignmentAnnotations(const Assignment& a,
                                                         const plugins::NodeInfo& node) {
  std::map<std::string, std::string> out;
  if (a.gpus == 0) return out;
  std::vector<int> ids;
  for (int i = 0; i < node.gpu_count; ++i) {
    if ((a.gpus >> i) & 1u) ids.push_back(i);
  }
  out[std::string(kAnnotationGpuIds)] = absl::StrJoin(ids, ",");
  if (a.gpu_milli > 0) {
    out[std::string(kAnnotationGpuShare)] = absl::StrCat(ids[0], "@", a.gpu_milli);
  }
  if (a.mig_profile_id >= 0 && node.mig_geometry != nullptr) {
    absl::StatusOr<const topology::mig::MigProfile*> p =
        node.mig_geometry->ProfileById(a.mig_profile_id);
    if (p.ok()) {
      out[std::string(kAnnotationMigPlacement)] =
          absl::StrCat(ids[0], ":", std::string((*p)->name), "@", a.mig_start);
    }
  }
  return out;
}

absl::StatusOr<std::optional<Assignment>> AssignmentFromAnnotations(
    const std::map<std::string, std::string>& annotations, const PodRequest& pod,
    const plugins::ClusterSnapshot& snapshot, plugins::NodeIndex index) {
  const plugins::NodeInfo& node = snapshot.node(index);
  Assignment a;
  a.node = index;
  a.cpu_milli = pod.cpu_milli;
  a.memory_mib = pod.memory_mib;
  if (!pod.WantsGpu()) return a;
  auto ids = annotations.find(std::string(kAnnotationGpuIds));
  if (ids == annotations.end()) return std::nullopt;
  const std::string what = absl::StrCat("annotation ", kAnnotationGpuIds);
  ACCELSCHED_ASSIGN_OR_RETURN(a.gpus, ParseGpuList(ids->second, node.gpu_count, what));
  const int n = std::popcount(a.gpus);
  if (pod.WantsWholeGpus() && n != pod.gpu_count) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": lists ", n, " GPUs, the pod asks for ", pod.gpu_count));
  }
  if ((pod.WantsShare() || pod.WantsMig()) && n != 1) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": a share or MIG pod has one GPU"));
  }
  if (pod.WantsShare()) {
    a.gpu_milli = pod.gpu_milli;
    a.gpu_memory_mib = pod.gpu_memory_mib;
  }
  if (pod.WantsMig()) {
    auto mig = annotations.find(std::string(kAnnotationMigPlacement));
    if (mig == annotations.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("a MIG pod needs the ", kAnnotationMigPlacement, " annotation"));
    }
    const std::string mwhat =
        absl::StrCat("annotation ", kAnnotationMigPlacement, " '", mig->second, "'");
    ACCELSCHED_ASSIGN_OR_RETURN(MigPlacementText placement, ParseMigPlacement(mig->second, mwhat));
    const int gpu = placement.gpu;
    const int start = placement.start;
    if (gpu < 0 || gpu >= node.gpu_count || (a.gpus >> gpu & 1u) == 0) {
      return absl::InvalidArgumentError(mwhat + ": GPU differs from " +
                                        std::string(kAnnotationGpuIds));
    }
    if (node.mig_geometry == nullptr) {
      return absl::InvalidArgumentError(mwhat + ": the node's GPUs have no MIG");
    }
    absl::StatusOr<const topology::mig::MigProfile*> p =
        node.mig_geometry->ProfileByName(placement.profile);
    if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat(mwhat, ": ", p.status().message()));
    if (start < 0 || start > 7 || (((*p)->start_mask >> start) & 1u) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(mwhat, ": ", start, " is not a legal start slot of ", (*p)->name));
    }
    const topology::mig::MigProfile* profile = *p;
    a.mig_profile_id = profile->id;
    a.mig_start = start;
  }
  return a;
}

absl::StatusOr<std::optional<DeviceAssignment>> DecodeDeviceAssignment(
    const std::map<std::string, std::string>& annotations, int gpu_count) {
  auto ids = annotations.find(std::string(kAnnotationGpuIds));
  if (ids == annotations.end()) return std::nullopt;
  const std::string what = absl::StrCat("annotation ", kAnnotationGpuIds, " '", ids->second, "'");
  ACCELSCHED_ASSIGN_OR_RETURN(GpuMask mask, ParseGpuList(ids->second, gpu_count, what));
  DeviceAssignment a;
  for (int i = 0; i < gpu_count; ++i) {
    if ((mask >> i) & 1u) a.gpus.push_back(i);
  }
  if (a.gpus.empty()) return absl::InvalidArgumentError(what + ": names no GPU");
  if (auto share = annotations.find(std::string(kAnnotationGpuShare)); share != annotations.end()) {
    const std::string swhat =
        absl::StrCat("annotation ", kAnnotationGpuShare, " '", share->second, "'");
    std::vector<std::string> parts = absl::StrSplit(share->second, absl::MaxSplits('@', 1));
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &a.share_gpu) ||
        !absl::SimpleAtoi(parts[1], &a.share_milli) || a.share_milli < 1 || a.share_milli > 999) {
      return absl::InvalidArgumentError(swhat + ": not gpu@milli (milli 1..999)");
    }
    if (a.gpus.size() != 1 || a.gpus[0] != a.share_gpu) {
      return absl::InvalidArgumentError(swhat + ": its GPU differs from " + what);
    }
  }
  if (auto mig = annotations.find(std::string(kAnnotationMigPlacement)); mig != annotations.end()) {
    const std::string mwhat =
        absl::StrCat("annotation ", kAnnotationMigPlacement, " '", mig->second, "'");
    ACCELSCHED_ASSIGN_OR_RETURN(MigPlacementText p, ParseMigPlacement(mig->second, mwhat));
    if (a.gpus.size() != 1 || a.gpus[0] != p.gpu) {
      return absl::InvalidArgumentError(mwhat + ": its GPU differs from " + what);
    }
    if (p.start < 0 || p.start > 7) {
      return absl::InvalidArgumentError(mwhat + ": the start slot is not 0..7");
    }
    a.mig_gpu = p.gpu;
    a.mig_profile = p.profile;
    a.mig_start = p.start;
  }
  return a;
}

std::set<std::string> DecodeAllocatedContainers(const std::map<std::string, std::string>& a) {
  std::set<std::string> out;
  auto it = a.find(std::string(kAnnotationAllocated));
  if (it == a.end()) return out;
  for (absl::string_view name : absl::StrSplit(it->second, ',', absl::SkipWhitespace())) {
    out.emplace(absl::StripAsciiWhitespace(name));
  }
  return out;
}

}  // namespace accelsched::scheduler::codec
