#include "topology/smi_parser.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#include "topology/status_macros.h"
#include "topology/utf8.h"

namespace accelsched::topology {
namespace {

// Links per GPU of the largest NVLink generation (Hopper, Blackwell). A GPU pair that shows more
// links than a direct mesh could give (count x (G-1) > this) must go through NVSwitches.
constexpr int kMaxDirectNvlinksPerGpu = 18;

absl::Status LineError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("nvidia-smi topo line ", line, ": ", what));
}

std::vector<absl::string_view> Fields(absl::string_view line) {
  return absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
}

bool IsGpuLabel(absl::string_view s, int* index) {
  if (!absl::ConsumePrefix(&s, "GPU") || s.empty()) {
    return false;
  }
  return absl::SimpleAtoi(s, index) && *index >= 0;
}

// Parses one connection cell; nullopt if it is not one.
std::optional<SmiCell> ParseCell(absl::string_view s) {
  if (s == "X") {
    return SmiCell{PathKind::kSelf, 0};
  }
  if (absl::ConsumePrefix(&s, "NV")) {
    int n = 0;
    if (!absl::SimpleAtoi(s, &n) || n < 1 || n > 64) {
      return std::nullopt;
    }
    return SmiCell{PathKind::kNvlink, n};
  }
  if (std::optional<PathKind> level = PcieLevelFromName(s)) {
    return SmiCell{*level, 0};
  }
  return std::nullopt;
}

// Minimal union-find over endpoint indices.
class Partition {
 public:
  explicit Partition(int n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), 0); }
  int Find(int x) {
    while (parent_[x] != x) {
      x = parent_[x] = parent_[parent_[x]];
    }
    return x;
  }
  void Union(int a, int b) { parent_[Find(a)] = Find(b); }

 private:
  std::vector<int> parent_;
};

// ---- ParseSmiMatrix ---------------------------------------------------------------------------

// The affinity columns a header may end with, in the order it lists them.
enum class AffinityColumn { kCpu, kNuma, kGpuNuma };

// What the header line says: the device labels in column order (GPUs first) and the affinity
// columns after them.
struct SmiHeader {
  int line_no = 0;  // 1-based.
  std::vector<std::string> labels;
  std::vector<AffinityColumn> affinity;
};

// Index of the header line: the first whose first field is "GPU0".
absl::StatusOr<size_t> FindHeaderLine(const std::vector<absl::string_view>& lines) {
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::vector<absl::string_view> f = Fields(lines[i]);
    if (!f.empty() && f[0] == "GPU0") {
      return i;
    }
  }
  return absl::InvalidArgumentError(
      "nvidia-smi topo: no header line found (expected a line starting with \"GPU0\")");
}

// The device columns of the header (GPU0..GPUn-1, then NICs) into `header` and `m`; returns the
// position of the first affinity title.
absl::StatusOr<size_t> ParseDeviceColumns(const std::vector<absl::string_view>& head,
                                          SmiHeader& header, SmiMatrix& m) {
  size_t pos = 0;
  for (; pos < head.size(); ++pos) {
    const absl::string_view f = head[pos];
    if (f == "CPU" || f == "NUMA" ||
        (f == "GPU" && pos + 1 < head.size() && head[pos + 1] == "NUMA")) {
      break;
    }
    int index = 0;
    if (IsGpuLabel(f, &index)) {
      if (!m.nic_labels.empty()) {
        return LineError(header.line_no, absl::StrCat("GPU column ", f, " after NIC columns"));
      }
      if (index != m.num_gpus) {
        return LineError(header.line_no,
                         absl::StrCat("expected column GPU", m.num_gpus, ", found ", f));
      }
      ++m.num_gpus;
    } else {
      if (std::find(m.nic_labels.begin(), m.nic_labels.end(), f) != m.nic_labels.end()) {
        return LineError(header.line_no, absl::StrCat("column ", f, " appears twice"));
      }
      m.nic_labels.emplace_back(f);
    }
    header.labels.emplace_back(f);
  }
  if (m.num_gpus > kMaxGpus) {
    return LineError(header.line_no,
                     absl::StrCat(m.num_gpus, " GPU columns; at most ", kMaxGpus, " supported"));
  }
  if (m.nic_labels.size() > static_cast<size_t>(kMaxDevices)) {
    return LineError(header.line_no, "too many NIC columns");
  }
  return pos;
}

// The affinity titles of the header from field `pos` on (titles contain spaces, so the fields
// are joined again).
absl::Status ParseAffinityTitles(const std::vector<absl::string_view>& head, size_t pos,
                                 SmiHeader& header) {
  const std::string rest =
      absl::StrJoin(head.begin() + static_cast<std::ptrdiff_t>(pos), head.end(), " ");
  for (absl::string_view r = rest; !r.empty();) {
    if (absl::ConsumePrefix(&r, "CPU Affinity")) {
      header.affinity.push_back(AffinityColumn::kCpu);
    } else if (absl::ConsumePrefix(&r, "NUMA Affinity")) {
      header.affinity.push_back(AffinityColumn::kNuma);
    } else if (absl::ConsumePrefix(&r, "GPU NUMA ID")) {
      header.affinity.push_back(AffinityColumn::kGpuNuma);
    } else {
      return LineError(header.line_no, absl::StrCat("unknown column title near \"", r, "\""));
    }
    absl::ConsumePrefix(&r, " ");
  }
  return absl::OkStatus();
}

absl::StatusOr<SmiHeader> ParseHeader(absl::string_view line, int line_no, SmiMatrix& m) {
  SmiHeader header;
  header.line_no = line_no;
  const std::vector<absl::string_view> head = Fields(line);
  ACCELSCHED_ASSIGN_OR_RETURN(const size_t pos, ParseDeviceColumns(head, header, m));
  ACCELSCHED_RETURN_IF_ERROR(ParseAffinityTitles(head, pos, header));
  return header;
}

// The connection cells of row `row` (fields f[1..n]) into m.cells[row].
absl::Status ParseConnectionCells(const std::vector<absl::string_view>& f, int line_no, int row,
                                  const SmiHeader& header, SmiMatrix& m) {
  const int n = static_cast<int>(header.labels.size());
  const bool is_gpu = row < m.num_gpus;
  for (int c = 0; c < n; ++c) {
    std::optional<SmiCell> cell = ParseCell(f[1 + c]);
    if (!cell) {
      return LineError(line_no, absl::StrCat(f[0], ", column ", header.labels[c],
                                             ": unknown connection \"", f[1 + c], "\""));
    }
    if ((cell->kind == PathKind::kSelf) != (c == row)) {
      return LineError(line_no, absl::StrCat(f[0], ", column ", header.labels[c],
                                             ": \"X\" belongs on the diagonal and only there"));
    }
    if (cell->kind == PathKind::kNvlink && (!is_gpu || c >= m.num_gpus)) {
      return LineError(line_no, absl::StrCat(f[0], ", column ", header.labels[c],
                                             ": NVLink is only valid between two GPUs"));
    }
    m.cells[row][c] = cell;
  }
  return absl::OkStatus();
}

// The affinity cells of GPU row `row`: present ones in header order; a row may stop early (older
// drivers). A NUMA cell is N/A or a node 0..kMaxNumaNode (the annotation's rule, so that what
// parses also encodes).
absl::Status ParseAffinityCells(const std::vector<absl::string_view>& f, int line_no, int row,
                                const SmiHeader& header, SmiMatrix& m) {
  const size_t n = header.labels.size();
  for (size_t e = 0; e < header.affinity.size() && 1 + n + e < f.size(); ++e) {
    const absl::string_view v = f[1 + n + e];
    if (header.affinity[e] == AffinityColumn::kCpu && v != "N/A") {
      m.cpu_affinity[row] = std::string{v};
    }
    if (header.affinity[e] != AffinityColumn::kNuma || v == "N/A") {
      continue;
    }
    int numa = 0;
    if (!absl::SimpleAtoi(v, &numa) || numa < 0 || numa > kMaxNumaNode) {
      return LineError(line_no, absl::StrCat(f[0], ": NUMA affinity '", v,
                                             "' is neither N/A nor a node 0..", kMaxNumaNode));
    }
    m.numa[row] = numa;
  }
  return absl::OkStatus();
}

// The matrix rows after the header, until the first line that is not one (blank line,
// "Legend:", a cut marker). Marks the rows seen in `seen`; returns the index of the line that
// ended the rows.
absl::StatusOr<size_t> ParseRows(const std::vector<absl::string_view>& lines, size_t first,
                                 const SmiHeader& header, SmiMatrix& m, std::vector<bool>& seen) {
  const std::vector<std::string>& labels = header.labels;
  const int n = static_cast<int>(labels.size());
  size_t i = first;
  for (; i < lines.size(); ++i) {
    const int line_no = static_cast<int>(i) + 1;
    const std::vector<absl::string_view> f = Fields(lines[i]);
    if (f.empty()) {
      break;
    }
    auto it = std::find(labels.begin(), labels.end(), f[0]);
    if (it == labels.end()) {
      break;
    }
    const int row = static_cast<int>(it - labels.begin());
    if (seen[row]) {
      return LineError(line_no, absl::StrCat("second row for ", f[0]));
    }
    seen[row] = true;
    const bool is_gpu = row < m.num_gpus;
    const size_t want = 1 + n + (is_gpu ? header.affinity.size() : 0);
    if (f.size() < 1 + static_cast<size_t>(n)) {
      return LineError(
          line_no, absl::StrCat(f[0], ": expected ", n, " connection cells, found ", f.size() - 1));
    }
    if (f.size() > want) {
      return LineError(line_no,
                       absl::StrCat(f[0], ": expected ", want - 1, " cells, found ", f.size() - 1));
    }
    ACCELSCHED_RETURN_IF_ERROR(ParseConnectionCells(f, line_no, row, header, m));
    if (is_gpu) {
      ACCELSCHED_RETURN_IF_ERROR(ParseAffinityCells(f, line_no, row, header, m));
    }
  }
  return i;
}

// Every GPU row must be present; NIC rows may be missing (counted in m.nic_rows_missing).
absl::Status CountMissingRows(const std::vector<bool>& seen, int stop_line, SmiMatrix& m) {
  for (int r = 0; r < m.num_gpus; ++r) {
    if (!seen[r]) {
      return LineError(stop_line, absl::StrCat("matrix cut short: no row for GPU", r));
    }
  }
  const int n = static_cast<int>(seen.size());
  for (int r = m.num_gpus; r < n; ++r) {
    m.nic_rows_missing += seen[r] ? 0 : 1;
  }
  return absl::OkStatus();
}

// What both rows of a pair state must agree.
absl::Status CheckSymmetry(const SmiMatrix& m, const std::vector<std::string>& labels) {
  const int n = static_cast<int>(labels.size());
  for (int a = 0; a < n; ++a) {
    for (int b = a + 1; b < n; ++b) {
      if (m.cells[a][b] && m.cells[b][a] && !(*m.cells[a][b] == *m.cells[b][a])) {
        return absl::InvalidArgumentError(
            absl::StrCat("nvidia-smi topo: ", labels[a], "-", labels[b], " is not symmetric (row ",
                         labels[a], " says ", PathKindName(m.cells[a][b]->kind), ", row ",
                         labels[b], " says ", PathKindName(m.cells[b][a]->kind), ")"));
      }
    }
  }
  return absl::OkStatus();
}

// The NIC legend ("NIC0: mlx5_2"), anywhere from line index `first` on, into m.nic_names.
absl::Status ParseNicLegend(const std::vector<absl::string_view>& lines, size_t first,
                            SmiMatrix& m) {
  m.nic_names = m.nic_labels;
  bool in_legend = false;
  for (size_t i = first; i < lines.size(); ++i) {
    const absl::string_view line = absl::StripAsciiWhitespace(lines[i]);
    if (line == "NIC Legend:") {
      in_legend = true;
      continue;
    }
    if (!in_legend || line.empty()) {
      continue;
    }
    const std::vector<absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(':', 1));
    if (kv.size() != 2) {
      break;
    }
    const absl::string_view label = absl::StripAsciiWhitespace(kv[0]);
    const absl::string_view name = absl::StripAsciiWhitespace(kv[1]);
    auto it = std::find(m.nic_labels.begin(), m.nic_labels.end(), label);
    if (it == m.nic_labels.end() || name.empty()) {
      return LineError(static_cast<int>(i) + 1,
                       absl::StrCat("NIC legend entry \"", line, "\" names no NIC column"));
    }
    m.nic_names[it - m.nic_labels.begin()] = std::string{name};
  }
  return absl::OkStatus();
}

// ---- TopologyFromSmiMatrix --------------------------------------------------------------------

// Bandwidth of one NVLink: NV18 is Hopper unless the product is a Blackwell.
double NvlinkGbpsPerLink(const std::string& gpu_product) {
  const bool blackwell = absl::StrContains(gpu_product, "B200") ||
                         absl::StrContains(gpu_product, "B100") ||
                         absl::StrContains(gpu_product, "B300");
  return blackwell ? kNvlink5LinkGbps : kNvlink4LinkGbps;
}

// The NVLink edges: one NVSwitch vertex if every GPU pair shows the same NV<n> and a direct mesh
// could not carry it, else one edge per NV<n> pair.
void AddNvlinks(const SmiMatrix& m, const std::vector<DeviceId>& gpu, double per_link,
                TopologyBuilder& b) {
  const int g = m.num_gpus;
  std::set<int> nv_counts;
  bool all_nvlink = g >= 2;
  for (int a = 0; a < g; ++a) {
    for (int c = a + 1; c < g; ++c) {
      const SmiCell& cell = *m.cells[a][c];
      if (cell.kind == PathKind::kNvlink) {
        nv_counts.insert(cell.nvlinks);
      } else {
        all_nvlink = false;
      }
    }
  }
  if (all_nvlink && nv_counts.size() == 1 &&
      *nv_counts.begin() * (g - 1) > kMaxDirectNvlinksPerGpu) {
    const DeviceId sw = b.AddNvSwitch("nvswitch0");
    for (int i = 0; i < g; ++i) {
      b.AddNvlink(gpu[i], sw, *nv_counts.begin(), per_link);
    }
    return;
  }
  for (int a = 0; a < g; ++a) {
    for (int c = a + 1; c < g; ++c) {
      const SmiCell& cell = *m.cells[a][c];
      if (cell.kind == PathKind::kNvlink) {
        b.AddNvlink(gpu[a], gpu[c], cell.nvlinks, per_link);
      }
    }
  }
}

// The PCIe level of endpoints a and c if the matrix states one (from either row).
std::optional<PathKind> KnownPcieLevel(const SmiMatrix& m, int a, int c) {
  std::optional<SmiCell> cell = m.cells[a][c] ? m.cells[a][c] : m.cells[c][a];
  if (!cell || cell->kind == PathKind::kNvlink || cell->kind == PathKind::kSelf) {
    return std::nullopt;
  }
  return cell->kind;
}

// GPU i's locality key ("numa:1", "cpu:0-11"), "" for NICs and GPUs without one.
std::string LocalityOf(const SmiMatrix& m, int i) {
  if (i >= m.num_gpus) {
    return "";
  }
  if (m.numa[i] >= 0) {
    return absl::StrCat("numa:", m.numa[i]);
  }
  return m.cpu_affinity[i].empty() ? "" : absl::StrCat("cpu:", m.cpu_affinity[i]);
}

// Joins GPU clusters that only NVLink relates (their PCIe level is hidden) when they share a
// NUMA node or CPU affinity.
void MergeByLocality(const SmiMatrix& m, int n, Partition& part) {
  const int g = m.num_gpus;
  for (int a = 0; a < g; ++a) {
    for (int c = a + 1; c < g; ++c) {
      if (part.Find(a) == part.Find(c) || LocalityOf(m, a).empty() ||
          LocalityOf(m, a) != LocalityOf(m, c)) {
        continue;
      }
      bool related = false;
      for (int x = 0; x < n && !related; ++x) {
        for (int y = 0; y < n && !related; ++y) {
          related = part.Find(x) == part.Find(a) && part.Find(y) == part.Find(c) &&
                    KnownPcieLevel(m, x, y).has_value();
        }
      }
      if (!related) {
        part.Union(a, c);
      }
    }
  }
}

// The vertex above a cluster of endpoints `list` at `level`: a PCIe switch, an upper bridge, a
// host bridge, or (NODE) a CPU socket with the members' NUMA node when they agree on one.
DeviceId AddClusterParent(PathKind level, const std::vector<int>& list, const SmiMatrix& m,
                          int& sockets_made, TopologyBuilder& b) {
  switch (level) {
    case PathKind::kPix:
      return b.AddPcieSwitch(absl::StrCat("pcie-switch", b.num_devices()), PathKind::kPix);
    case PathKind::kPxb:
      return b.AddPcieSwitch(absl::StrCat("pcie-bridge", b.num_devices()), PathKind::kPxb);
    case PathKind::kPhb:
      return b.AddHostBridge(absl::StrCat("host-bridge", b.num_devices()));
    default: {
      std::set<int> numas;
      for (int i : list) {
        if (i < m.num_gpus && m.numa[i] >= 0) {
          numas.insert(m.numa[i]);
        }
      }
      return b.AddCpuSocket(absl::StrCat("cpu", sockets_made++),
                            numas.size() == 1 ? *numas.begin() : -1);
    }
  }
}

// The PCIe tree by single linkage on the known pair levels, PIX up to NODE. `top[i]` starts as
// endpoint i's vertex and ends as its socket.
void AddPcieTree(const SmiMatrix& m, std::vector<DeviceId>& top, TopologyBuilder& b) {
  const int n = static_cast<int>(top.size());
  Partition part(n);
  int sockets_made = 0;
  const PathKind levels[] = {PathKind::kPix, PathKind::kPxb, PathKind::kPhb, PathKind::kNode};
  for (const PathKind level : levels) {
    for (int a = 0; a < n; ++a) {
      for (int c = a + 1; c < n; ++c) {
        const std::optional<PathKind> k = KnownPcieLevel(m, a, c);
        if (k && *k <= level) {
          part.Union(a, c);
        }
      }
    }
    if (level == PathKind::kNode) {
      MergeByLocality(m, n, part);
    }
    // One parent vertex per cluster that joins two or more clusters of the level below (and,
    // at NODE, for every cluster, so each endpoint has a socket).
    std::map<int, std::vector<int>> members;
    for (int i = 0; i < n; ++i) {
      members[part.Find(i)].push_back(i);
    }
    for (auto& [root, list] : members) {
      std::set<DeviceId> children;
      for (int i : list) {
        children.insert(top[i]);
      }
      if (children.size() < 2 && level != PathKind::kNode) {
        continue;
      }
      const DeviceId parent = AddClusterParent(level, list, m, sockets_made, b);
      for (DeviceId child : children) {
        b.AddPcie(child, parent, kPcieGen4Gbps);
      }
      for (int i : list) {
        top[i] = parent;
      }
    }
  }
}

// Sockets: a star of SYS links from the first one.
void JoinSockets(const std::vector<DeviceId>& socket_of, TopologyBuilder& b) {
  std::vector<DeviceId> sockets;
  for (const DeviceId s : socket_of) {
    if (std::find(sockets.begin(), sockets.end(), s) == sockets.end()) {
      sockets.push_back(s);
    }
  }
  for (size_t s = 1; s < sockets.size(); ++s) {
    b.AddInterSocket(sockets[0], sockets[s]);
  }
}

// The graph must reproduce every fact the matrix states; else the first pair that disagrees.
absl::Status CheckReproducesMatrix(const SmiMatrix& m, const Topology& topo) {
  const int g = m.num_gpus;
  const int n = g + static_cast<int>(m.nic_labels.size());
  auto label = [&](int i) { return i < g ? absl::StrCat("GPU", i) : m.nic_labels[i - g]; };
  for (int a = 0; a < g; ++a) {
    for (int c = 0; c < n; ++c) {
      if (a == c || !m.cells[a][c]) {
        continue;
      }
      const SmiCell& cell = *m.cells[a][c];
      const PathKind got = c < g ? topo.GpuPath(a, c) : topo.GpuNicPath(a, c - g);
      const bool ok = cell.kind == PathKind::kNvlink
                          ? got == PathKind::kNvlink && topo.NvlinkCount(a, c) == cell.nvlinks
                          : got == cell.kind;
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat(
            "nvidia-smi topo: the matrix is not consistent with any PCIe tree: ", label(a), "-",
            label(c), " is ", PathKindName(cell.kind), " but the inferred tree gives ",
            PathKindName(got)));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SmiMatrix> ParseSmiMatrix(absl::string_view text) {
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (std::optional<size_t> at = FirstInvalidUtf8(lines[i]); at.has_value()) {
      return LineError(static_cast<int>(i) + 1,
                       absl::StrFormat("not UTF-8 text (byte 0x%02X at column %d)",
                                       static_cast<unsigned char>(lines[i][*at]), *at + 1));
    }
  }
  ACCELSCHED_ASSIGN_OR_RETURN(const size_t header_index, FindHeaderLine(lines));
  SmiMatrix m;
  ACCELSCHED_ASSIGN_OR_RETURN(
      const SmiHeader header,
      ParseHeader(lines[header_index], static_cast<int>(header_index) + 1, m));
  const int n = static_cast<int>(header.labels.size());
  m.cells.assign(n, std::vector<std::optional<SmiCell>>(n));
  m.cpu_affinity.assign(m.num_gpus, "");
  m.numa.assign(m.num_gpus, -1);
  std::vector<bool> seen(n, false);
  ACCELSCHED_ASSIGN_OR_RETURN(const size_t stop,
                              ParseRows(lines, header_index + 1, header, m, seen));
  ACCELSCHED_RETURN_IF_ERROR(CountMissingRows(seen, static_cast<int>(stop) + 1, m));
  ACCELSCHED_RETURN_IF_ERROR(CheckSymmetry(m, header.labels));
  ACCELSCHED_RETURN_IF_ERROR(ParseNicLegend(lines, stop, m));
  return m;
}

// How the graph is inferred. nvidia-smi gives pairwise facts, not the tree, so:
//  * NVLink: if every GPU pair shows the same NV<n> and a direct mesh could not carry it
//    (n x (G-1) > 18 links per GPU), the GPUs hang off one NVSwitch vertex with n links each
//    (A100/H100/B200, DGX-2); otherwise each NV<n> pair is a direct edge (DGX-1 hybrid cube-mesh).
//  * PCIe: endpoints (GPUs, NICs) are clustered by single linkage on the known pair levels
//    (GPU-GPU cells that are not NVLink, GPU-NIC cells, NIC-NIC cells of the rows present):
//    clusters at PIX get a PCIe switch, at PXB an upper bridge, at PHB a host bridge, at NODE a CPU
//    socket (locality domain). Clusters still apart after NODE whose members have no known
//    relation to each other (NVLink hides the PCIe level) and share a NUMA node or CPU affinity
//    join one socket. Each remaining cluster is its own socket; sockets are joined by SYS links.
//    A non-tree matrix (no tree reproduces it) is rejected, naming the first pair that disagrees.
absl::StatusOr<Topology> TopologyFromSmiMatrix(const SmiMatrix& m, std::string name,
                                               std::string gpu_product) {
  const int g = m.num_gpus;
  const int n = g + static_cast<int>(m.nic_labels.size());
  const double per_link = NvlinkGbpsPerLink(gpu_product);
  TopologyBuilder b(std::move(name), std::move(gpu_product));
  std::vector<DeviceId> top(n);
  for (int i = 0; i < g; ++i) {
    top[i] = b.AddGpu(absl::StrCat("GPU", i), m.numa[i], m.cpu_affinity[i]);
  }
  for (int j = 0; g + j < n; ++j) {
    top[g + j] = b.AddNic(m.nic_names[j]);
  }
  AddNvlinks(m, top, per_link, b);
  AddPcieTree(m, top, b);
  JoinSockets(top, b);
  ACCELSCHED_ASSIGN_OR_RETURN(Topology topo, std::move(b).Build());
  ACCELSCHED_RETURN_IF_ERROR(CheckReproducesMatrix(m, topo));
  return topo;
}

absl::StatusOr<Topology> ParseNvidiaSmiTopo(absl::string_view text, std::string name,
                                            std::string gpu_product) {
  for (const auto& [what, value] :
       {std::pair<const char*, const std::string*>{"name", &name}, {"GPU product", &gpu_product}}) {
    if (std::optional<size_t> at = FirstInvalidUtf8(*value); at.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: not UTF-8 text (byte 0x%02X at offset %d)", what,
                          static_cast<unsigned char>((*value)[*at]), *at));
    }
  }
  ACCELSCHED_ASSIGN_OR_RETURN(SmiMatrix m, ParseSmiMatrix(text));
  return TopologyFromSmiMatrix(m, std::move(name), std::move(gpu_product));
}

}  // namespace accelsched::topology
