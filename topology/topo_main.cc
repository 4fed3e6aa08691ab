// accelsched-topo: inspect and convert node topologies. Every subcommand prints JSON on stdout
// (so scripts can use it) and errors on stderr; exit 0 = success, 1 = no answer (best-set found
// no set), 2 = bad usage or input.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

#include "topology/annotation.h"
#include "topology/device_set.h"
#include "topology/mig/mig.h"
#include "topology/profiles.h"
#include "topology/smi_parser.h"
#include "topology/status_macros.h"

namespace accelsched::topology {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kUsage[] = R"(usage: accelsched-topo <command> [options]

Inspect GPU node topologies for accelsched. Output is JSON on stdout.

commands:
  parse FILE            nvidia-smi topo -m text -> accelsched.io/topology annotation JSON
  profiles              list the built-in hardware profiles
  profile NAME          built-in profile -> annotation JSON
  describe SOURCE       GPU pairs, NVLink, NICs and NUMA of a topology, as JSON
  best-set SOURCE --gpus K [--free 0,1,5] [--nic] [--numa]
                        the best K-GPU set among the free GPUs
  mig-layouts --model MODEL [--double-memory]
                        every maximal MIG layout of a GPU model

SOURCE is a FILE (nvidia-smi topo -m text, or annotation JSON if it starts with '{'; '-' reads
stdin) or --profile NAME. Run 'accelsched-topo <command> --help' for details.
)";

struct Command {
  const char* name;
  const char* help;
};

constexpr Command kCommands[] = {
    {"parse", R"(usage: accelsched-topo parse FILE [--name NAME] [--product PRODUCT] [--pretty]

Parses the output of `nvidia-smi topo -m` (FILE, or '-' for stdin) and prints the
accelsched.io/topology annotation JSON for the node. --product is the GPU product label
(nvidia.com/gpu.product); it selects the NVLink generation (Blackwell links are 50 GB/s).
Errors name the line and the problem.
)"},
    {"profiles", R"(usage: accelsched-topo profiles

Lists the built-in hardware profiles: [{"name", "gpus", "description"}].
)"},
    {"profile", R"(usage: accelsched-topo profile NAME [--pretty]

Prints the annotation JSON of a built-in profile (see `accelsched-topo profiles`).
)"},
    {"describe", R"(usage: accelsched-topo describe (FILE | --profile NAME)

Prints what accelsched derives from a topology: GPU count, the GPU x GPU path kind and
bandwidth matrices, NVLink counts, each GPU's NUMA node and nearest NICs.
)"},
    {"best-set",
     R"(usage: accelsched-topo best-set (FILE | --profile NAME) --gpus K [--free LIST] [--nic] [--numa]

Chooses the best K GPUs among the free ones (default: all GPUs free). LIST is comma-separated
GPU indices, e.g. --free 0,1,5. --nic requires every chosen GPU to have a NIC at PIX/PXB
distance (GPUDirect RDMA); --numa requires all chosen GPUs on one NUMA node.
Objective (see topology/device_set.h): ring bottleneck bandwidth, then worst path, NUMA span,
total bandwidth, then the free structure left behind.
Prints {"gpus":[...],"bottleneck_gbps":...,"total_gbps":...,"worst_path":...,"numa_span":...};
if no set qualifies prints {"gpus":null,"reason":...} and exits 1.
)"},
    {"mig-layouts", R"(usage: accelsched-topo mig-layouts --model MODEL [--double-memory]

Lists every maximal MIG layout (nothing more fits) of a GPU model with the classic profiles
(1g, 2g, 3g, 4g, 7g; on A30 1g, 2g, 4g), adding the double-memory 1g with --double-memory.
MODEL: A100-40GB, A100-80GB, H100-80GB, H100-94GB, H100-96GB, H200-141GB, B200, GB200, A30.
)"},
};

// Options of one subcommand: positional arguments and --flags (with or without a value).
struct Args {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> flags;
  std::set<std::string> switches;

  std::optional<std::string> Flag(const std::string& name) const {
    for (const auto& [k, v] : flags) {
      if (k == name) {
        return v;
      }
    }
    return std::nullopt;
  }
  bool Has(const std::string& name) const { return switches.count(name) > 0; }
};

absl::StatusOr<Args> ParseArgs(int argc, char** argv, const std::set<std::string>& with_value,
                               const std::set<std::string>& without_value) {
  Args args;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.size() > 2 && absl::StartsWith(a, "--")) {
      std::string name = a.substr(2);
      std::string value;
      const size_t eq = name.find('=');
      const bool inline_value = eq != std::string::npos;
      if (inline_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (with_value.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argc) {
            return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
          }
          value = argv[++i];
        }
        args.flags.emplace_back(name, value);
      } else if (without_value.count(name) && !inline_value) {
        args.switches.insert(name);
      } else {
        return absl::InvalidArgumentError(absl::StrCat("unknown option --", name));
      }
    } else {
      args.positional.push_back(a);
    }
  }
  return args;
}

absl::StatusOr<std::string> ReadInput(const std::string& path) {
  std::ostringstream out;
  if (path == "-") {
    out << std::cin.rdbuf();
    return out.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  }
  out << in.rdbuf();
  return out.str();
}

// A topology from FILE (nvidia-smi text or annotation JSON) or --profile NAME.
absl::StatusOr<Topology> LoadSource(const Args& args) {
  if (std::optional<std::string> profile = args.Flag("profile")) {
    if (!args.positional.empty()) {
      return absl::InvalidArgumentError("give either FILE or --profile, not both");
    }
    return BuiltinProfile(*profile);
  }
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError("expected one FILE (or --profile NAME)");
  }
  const std::string& path = args.positional[0];
  ACCELSCHED_ASSIGN_OR_RETURN(const std::string text, ReadInput(path));
  const size_t first = text.find_first_not_of(" \t\r\n");
  absl::StatusOr<Topology> t =
      first != std::string::npos && text[first] == '{'
          ? DecodeTopologyAnnotation(text)
          : ParseNvidiaSmiTopo(text, path, args.Flag("product").value_or(""));
  if (!t.ok()) {
    return absl::Status(t.status().code(), absl::StrCat(path, ": ", t.status().message()));
  }
  return t;
}

// "dir/dgx1.txt" -> "dgx1": the default topology name of a parsed file.
std::string Basename(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  return base.substr(0, base.find('.'));
}

// Never throws: a string that is not UTF-8 (all inputs are checked, see topology/utf8.h) would
// print with U+FFFD instead of ending the process.
void Print(const Json& j, bool pretty) {
  std::cout << j.dump(pretty ? 2 : -1, ' ', false, Json::error_handler_t::replace) << "\n";
}

void PrintAnnotation(const Topology& t, bool pretty) {
  Print(Json::parse(EncodeTopologyAnnotation(t)), pretty);
}

absl::StatusOr<int> RunParse(const Args& args) {
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError("expected one FILE");
  }
  ACCELSCHED_ASSIGN_OR_RETURN(const std::string text, ReadInput(args.positional[0]));
  absl::StatusOr<Topology> t =
      ParseNvidiaSmiTopo(text, args.Flag("name").value_or(Basename(args.positional[0])),
                         args.Flag("product").value_or(""));
  if (!t.ok()) {
    return absl::Status(t.status().code(),
                        absl::StrCat(args.positional[0], ": ", t.status().message()));
  }
  PrintAnnotation(*t, args.Has("pretty"));
  return 0;
}

absl::StatusOr<int> RunProfiles(const Args& args) {
  if (!args.positional.empty()) {
    return absl::InvalidArgumentError("profiles takes no arguments");
  }
  Json out = Json::array();
  for (const ProfileInfo& p : BuiltinProfiles()) {
    out.push_back({{"name", p.name}, {"gpus", p.gpus}, {"description", p.description}});
  }
  Print(out, true);
  return 0;
}

absl::StatusOr<int> RunProfile(const Args& args) {
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError("expected one profile NAME");
  }
  ACCELSCHED_ASSIGN_OR_RETURN(const Topology t, BuiltinProfile(args.positional[0]));
  PrintAnnotation(t, args.Has("pretty"));
  return 0;
}

absl::StatusOr<int> RunDescribe(const Args& args) {
  ACCELSCHED_ASSIGN_OR_RETURN(const Topology t, LoadSource(args));
  Json paths = Json::array();
  Json bandwidth = Json::array();
  Json gpus = Json::array();
  for (int a = 0; a < t.num_gpus(); ++a) {
    Json prow = Json::array();
    Json brow = Json::array();
    for (int b = 0; b < t.num_gpus(); ++b) {
      std::string kind(PathKindName(t.GpuPath(a, b)));
      if (t.GpuPath(a, b) == PathKind::kNvlink) {
        kind = absl::StrCat("NV", t.NvlinkCount(a, b));
      }
      prow.push_back(kind);
      brow.push_back(t.Bandwidth(a, b));
    }
    paths.push_back(std::move(prow));
    bandwidth.push_back(std::move(brow));
    Json nics = Json::array();
    for (const NicDistance& d : t.NearestNics(a)) {
      nics.push_back({{"nic", t.nic(d.nic).name}, {"path", std::string{PathKindName(d.path)}}});
    }
    gpus.push_back({{"gpu", a},
                    {"numa", t.GpuNuma(a)},
                    {"cpu_affinity", t.gpu(a).cpu_affinity},
                    {"nearest_nics", std::move(nics)}});
  }
  Print({{"name", t.name()},
         {"gpu_product", t.gpu_product()},
         {"gpus", t.num_gpus()},
         {"nics", t.num_nics()},
         {"devices", t.devices().size()},
         {"links", t.links().size()},
         {"paths", std::move(paths)},
         {"bandwidth_gbps", std::move(bandwidth)},
         {"per_gpu", std::move(gpus)}},
        true);
  return 0;
}

absl::StatusOr<GpuMask> ParseGpuList(const std::string& list, int num_gpus) {
  GpuMask mask = 0;
  if (list.empty()) {
    return mask;
  }
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    int i = 0;
    if (!absl::SimpleAtoi(item, &i) || i < 0 || i >= num_gpus) {
      return absl::InvalidArgumentError(
          absl::StrCat("--free: \"", item, "\" is not a GPU index 0..", num_gpus - 1));
    }
    mask |= 1u << i;
  }
  return mask;
}

absl::StatusOr<int> RunBestSet(const Args& args) {
  ACCELSCHED_ASSIGN_OR_RETURN(const Topology t, LoadSource(args));
  const std::optional<std::string> k_text = args.Flag("gpus");
  int k = 0;
  if (!k_text || !absl::SimpleAtoi(*k_text, &k)) {
    return absl::InvalidArgumentError("--gpus K is required (an integer)");
  }
  DeviceSetRequest request;
  request.k = k;
  request.free = t.all_gpus();
  if (std::optional<std::string> free = args.Flag("free")) {
    ACCELSCHED_ASSIGN_OR_RETURN(request.free, ParseGpuList(*free, t.num_gpus()));
  }
  request.require_close_nic = args.Has("nic");
  request.require_same_numa = args.Has("numa");
  ACCELSCHED_ASSIGN_OR_RETURN(const DeviceSetSearch search, DeviceSetSearch::Create(t));
  ACCELSCHED_ASSIGN_OR_RETURN(const std::optional<DeviceSetResult> result, search.Best(request));
  if (!result) {
    Print(
        {{"gpus", nullptr},
         {"reason", absl::StrCat("no ", k, "-GPU set among ", std::popcount(request.free),
                                 " free GPUs", request.require_close_nic ? " with a close NIC" : "",
                                 request.require_same_numa ? " on one NUMA node" : "")}},
        false);
    return 1;
  }
  Print({{"gpus", result->gpu_indices},
         {"bottleneck_gbps", result->bottleneck_gbps},
         {"total_gbps", result->total_gbps},
         {"worst_path", std::string{PathKindName(result->worst_path)}},
         {"numa_span", result->numa_span}},
        false);
  return 0;
}

absl::StatusOr<int> RunMigLayouts(const Args& args) {
  const std::optional<std::string> model = args.Flag("model");
  if (!model) {
    return absl::InvalidArgumentError("--model MODEL is required");
  }
  ACCELSCHED_ASSIGN_OR_RETURN(const mig::MigGeometry* geometry, mig::GeometryForModel(*model));
  const bool double_memory = args.Has("double-memory");
  std::vector<int> allowed;
  for (const mig::MigProfile& p : geometry->profiles()) {
    if (!p.media_extensions && (!p.double_memory || double_memory)) {
      allowed.push_back(p.id);
    }
  }
  ACCELSCHED_ASSIGN_OR_RETURN(const std::vector<mig::MigLayout> layouts,
                              mig::EnumerateMaximalLayouts(*geometry, allowed));
  std::set<std::vector<int>> multisets;
  Json list = Json::array();
  for (const mig::MigLayout& layout : layouts) {
    std::vector<int> ids;
    Json placements = Json::array();
    for (const mig::MigPlacement& p : layout) {
      ids.push_back(p.profile_id);
      const mig::MigProfile* profile = *geometry->ProfileById(p.profile_id);
      placements.push_back(
          {{"profile", std::string{profile->name}}, {"id", p.profile_id}, {"start", p.start}});
    }
    std::sort(ids.begin(), ids.end());
    multisets.insert(ids);
    list.push_back(
        {{"layout", mig::FormatLayout(*geometry, layout)}, {"placements", std::move(placements)}});
  }
  Print({{"model", std::string{geometry->model()}},
         {"double_memory", double_memory},
         {"count", layouts.size()},
         {"distinct_multisets", multisets.size()},
         {"layouts", std::move(list)}},
        true);
  return 0;
}

int Main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const Command* found = nullptr;
  for (const Command& c : kCommands) {
    if (command == c.name) {
      found = &c;
    }
  }
  if (found == nullptr) {
    std::cerr << "accelsched-topo: unknown command \"" << command << "\"\n\n" << kUsage;
    return 2;
  }
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::cout << found->help;
      return 0;
    }
  }
  absl::StatusOr<Args> args =
      ParseArgs(argc - 2, argv + 2, {"profile", "gpus", "free", "model", "name", "product"},
                {"nic", "numa", "double-memory", "pretty"});
  absl::StatusOr<int> rc = 2;
  if (!args.ok()) {
    rc = args.status();
  } else {
    if (command == "parse") {
      rc = RunParse(*args);
    }
    if (command == "profiles") {
      rc = RunProfiles(*args);
    }
    if (command == "profile") {
      rc = RunProfile(*args);
    }
    if (command == "describe") {
      rc = RunDescribe(*args);
    }
    if (command == "best-set") {
      rc = RunBestSet(*args);
    }
    if (command == "mig-layouts") {
      rc = RunMigLayouts(*args);
    }
  }
  if (!rc.ok()) {
    std::cerr << "accelsched-topo " << command << ": error: " << rc.status().message() << "\n"
              << "(run 'accelsched-topo " << command << " --help')\n";
    return 2;
  }
  return *rc;
}

}  // namespace
}  // namespace accelsched::topology

int main(int argc, char** argv) { return accelsched::topology::Main(argc, argv); }
