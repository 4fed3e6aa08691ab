// Every plugin's name, in one place (STYLE "Naming"). Config files and logs use these strings.
#ifndef ACCELSCHED_PLUGINS_NAMES_H_
#define ACCELSCHED_PLUGINS_NAMES_H_

#include <string_view>

namespace accelsched::plugins::names {

inline constexpr std::string_view kResourceFit = "ResourceFit";
inline constexpr std::string_view kGpuAllocator = "GpuAllocator";
// Baselines of the FGD artifact (Weng et al., ATC'23) plus first-fit.
inline constexpr std::string_view kRandomScore = "RandomScore";
inline constexpr std::string_view kFirstFit = "FirstFit";
inline constexpr std::string_view kBestFit = "BestFit";
inline constexpr std::string_view kDotProduct = "DotProduct";
inline constexpr std::string_view kGpuPacking = "GpuPacking";
inline constexpr std::string_view kGpuClustering = "GpuClustering";
inline constexpr std::string_view kFgd = "FGD";
inline constexpr std::string_view kTopologyScore = "TopologyScore";
inline constexpr std::string_view kMigFragmentation = "MigFragmentation";
inline constexpr std::string_view kPackingHint = "PackingHint";
inline constexpr std::string_view kTenancy = "Tenancy";
inline constexpr std::string_view kGpuHealth = "GpuHealth";

}  // namespace accelsched::plugins::names

#endif  // ACCELSCHED_PLUGINS_NAMES_H_
