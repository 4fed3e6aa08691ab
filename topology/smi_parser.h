// Parser for the text that `nvidia-smi topo -m` prints, and the conversion of that matrix into a
// Topology graph.
//
// Accepted input (every real matrix in ../shared/data/nvidia-smi-topo/ is a test case):
//   * anything before the header line (a shell prompt, "nvidia-smi topo -m") is ignored; the header
//     is the first line whose first field is "GPU0";
//   * fields separated by tabs or runs of spaces; empty cells are skipped;
//   * device columns: GPU0..GPUn-1 in order, then NICs under any label ("NIC3", "mlx5_0"), in any
//     order relative to the GPUs they serve;
//   * affinity columns "CPU Affinity", "NUMA Affinity", "GPU NUMA ID", each optional, "N/A"
//   allowed;
//   * cells "X", "NV<n>", "PIX", "PXB", "PHB", "NODE", "SYS" and the old spelling "SOC";
//   * a "NIC Legend:" block ("NIC0: mlx5_2") that names the NIC columns;
//   * a matrix cut short after all GPU rows (NIC rows missing): NIC-to-NIC facts are then unknown
//     and SmiMatrix::nic_rows_missing says how many rows were absent. A missing GPU row is an
//     error.
// Every error is InvalidArgument and names the line number (1-based) and the problem.
//
// Thread-safety: free functions without shared state.
#ifndef ACCELSCHED_TOPOLOGY_SMI_PARSER_H_
#define ACCELSCHED_TOPOLOGY_SMI_PARSER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "topology/topology.h"

namespace accelsched::topology {

// One cell of the matrix: a PCIe level, or NVLink with its link count, or self.
struct SmiCell {
  PathKind kind = PathKind::kSys;
  int nvlinks = 0;  // kNvlink only.
  friend bool operator==(const SmiCell&, const SmiCell&) = default;
};

// The facts of one `nvidia-smi topo -m` print, before any interpretation.
struct SmiMatrix {
  int num_gpus = 0;
  std::vector<std::string> nic_labels;  // Column labels of the NICs, in column order.
  std::vector<std::string> nic_names;   // Legend names ("mlx5_2") or the label if no legend.
  // cells[r][c] over devices in column order (GPUs first, then NICs); nullopt when the row was
  // missing (matrix cut short).
  std::vector<std::vector<std::optional<SmiCell>>> cells;
  std::vector<std::string> cpu_affinity;  // Per GPU; "" when absent or N/A.
  std::vector<int> numa;                  // Per GPU; -1 when absent, N/A or not a single node.
  int nic_rows_missing = 0;
};

absl::StatusOr<SmiMatrix> ParseSmiMatrix(absl::string_view text);

// Builds the graph that reproduces the matrix (see the comment in smi_parser.cc for how PCIe
// switches, host bridges and locality domains are inferred). `gpu_product` selects the NVLink
// generation where the link count cannot (NV18 is Hopper unless the product is Blackwell).
absl::StatusOr<Topology> TopologyFromSmiMatrix(const SmiMatrix& matrix, std::string name,
                                               std::string gpu_product = "");

// ParseSmiMatrix + TopologyFromSmiMatrix.
absl::StatusOr<Topology> ParseNvidiaSmiTopo(absl::string_view text, std::string name,
                                            std::string gpu_product = "");

}  // namespace accelsched::topology

#endif  // ACCELSCHED_TOPOLOGY_SMI_PARSER_H_
