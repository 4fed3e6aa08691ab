#include "topology/mig/mig.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

#include "topology/status_macros.h"

namespace accelsched::topology::mig {
namespace {

// ---- Profile tables ----------------------------------------------------------------------------
//
// Sources (checked 2025):
//  * IDs and placements of the 7-slice family: `nvidia-smi mig -lgipp` on A100/H100/H100 NVL,
//    quoted in NVIDIA's MIG user guide ("Getting Started with MIG"):
//      ID 19 {0,1,2,3,4,5,6}:1   ID 20 {0,1,2,3,4,5,6}:1   ID 15 {0,2,4,6}:2   ID 14 {0,2,4}:2
//      ID  9 {0,4}:4             ID  5 {0}:4               ID  0 {0}:8
//    H200 `-lgip` output shows the same IDs (19, 20, 14, ...). For B200 and GB200 we found the
//    profile names but no `-lgip` listing: the IDs are assumed to be the same as on Hopper.
//  * Names: NVIDIA MIG user guide, "Supported MIG Profiles" (A100-40GB, A100-80GB via the note
//    under the A100 table, H100 80GB, H100 94GB, H100 96GB (GH200), H200 141GB, B200 180GB,
//    A30 24GB), cross-checked against NVIDIA/mig-parted's default config.
//  * GB200: not in the user guide version we could read. Names follow NVIDIA/mig-parted's
//    default config for "GB200 HGX" (device 0x2941): 1g.24gb (x7), 2g.47gb, 3g.95gb, plus the
//    generic entries 1g.47gb, 4g.95gb, 7g.189gb. "1g.24gb+me" is NOT verified (inferred from the
//    pattern). Other public sources use 1g.23gb / 3g.93gb / 4g.93gb or 7g.186gb for GB200
//    variants; treat the GB200 names as provisional. The solver keys on IDs and shapes only.
//  * A30 `nvidia-smi mig -lgipp`: ID 14 {0,1,2,3}:1, ID 21 {0,1,2,3}:1, ID 5 {0,2}:2,
//    ID 6 {0,2}:2, ID 0 {0}:4.
//
// Not modelled: compute instances inside a GI, Blackwell's "+gfx", "+me.all" and "-me"
// variants (RTX PRO boards), and MIG-capable boards other than those listed.

struct SevenSliceNames {
  absl::string_view one;         // ID 19
  absl::string_view one_me;      // ID 20
  absl::string_view one_double;  // ID 15
  absl::string_view two;         // ID 14
  absl::string_view three;       // ID 9
  absl::string_view four;        // ID 5
  absl::string_view seven;       // ID 0
};

constexpr std::array<MigProfile, 7> SevenSliceProfiles(const SevenSliceNames& n) {
  return {{
      {.id = 19,
       .compute_slices = 1,
       .memory_slots = 1,
       .start_mask = 0x7F,
       .name = n.one,
       .short_name = "1g"},
      {.id = 20,
       .compute_slices = 1,
       .memory_slots = 1,
       .start_mask = 0x7F,
       .media_extensions = true,
       .name = n.one_me,
       .short_name = "1g+me"},
      {.id = 15,
       .compute_slices = 1,
       .memory_slots = 2,
       .start_mask = 0x55,
       .double_memory = true,
       .name = n.one_double,
       .short_name = "1g.2m"},
      {.id = 14,
       .compute_slices = 2,
       .memory_slots = 2,
       .start_mask = 0x15,
       .name = n.two,
       .short_name = "2g"},
      {.id = 9,
       .compute_slices = 3,
       .memory_slots = 4,
       .start_mask = 0x11,
       .name = n.three,
       .short_name = "3g"},
      {.id = 5,
       .compute_slices = 4,
       .memory_slots = 4,
       .start_mask = 0x01,
       .name = n.four,
       .short_name = "4g"},
      {.id = 0,
       .compute_slices = 7,
       .memory_slots = 8,
       .start_mask = 0x01,
       .name = n.seven,
       .short_name = "7g"},
  }};
}

constexpr auto kA100Gb40Profiles = SevenSliceProfiles(
    {"1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"});
// A100-80GB and H100-80GB share names.
constexpr auto k80gbProfiles = SevenSliceProfiles(
    {"1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"});
constexpr auto kH100Gb94Profiles = SevenSliceProfiles(
    {"1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb"});
constexpr auto kH100Gb96Profiles = SevenSliceProfiles(
    {"1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb"});
constexpr auto kH200Gb141Profiles = SevenSliceProfiles(
    {"1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"});
constexpr auto kB200Profiles = SevenSliceProfiles(
    {"1g.23gb", "1g.23gb+me", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"});
// Provisional, see above ("1g.24gb+me" unverified).
constexpr auto kGb200Profiles = SevenSliceProfiles(
    {"1g.24gb", "1g.24gb+me", "1g.47gb", "2g.47gb", "3g.95gb", "4g.95gb", "7g.189gb"});

constexpr std::array<MigProfile, 5> kA30Profiles = {{
    {.id = 14,
     .compute_slices = 1,
     .memory_slots = 1,
     .start_mask = 0x0F,
     .name = "1g.6gb",
     .short_name = "1g"},
    {.id = 21,
     .compute_slices = 1,
     .memory_slots = 1,
     .start_mask = 0x0F,
     .media_extensions = true,
     .name = "1g.6gb+me",
     .short_name = "1g+me"},
    {.id = 5,
     .compute_slices = 2,
     .memory_slots = 2,
     .start_mask = 0x05,
     .name = "2g.12gb",
     .short_name = "2g"},
    {.id = 6,
     .compute_slices = 2,
     .memory_slots = 2,
     .start_mask = 0x05,
     .media_extensions = true,
     .name = "2g.12gb+me",
     .short_name = "2g+me"},
    {.id = 0,
     .compute_slices = 4,
     .memory_slots = 4,
     .start_mask = 0x01,
     .name = "4g.24gb",
     .short_name = "4g"},
}};

template <size_t N>
constexpr absl::Span<const MigProfile> AsSpan(const std::array<MigProfile, N>& profiles) {
  static_assert(N <= kMaxProfilesPerGeometry);
  return absl::Span<const MigProfile>(profiles.data(), profiles.size());
}

constexpr MigGeometry kGeometries[] = {
    MigGeometry("A100-40GB", 7, 8, AsSpan(kA100Gb40Profiles)),
    MigGeometry("A100-80GB", 7, 8, AsSpan(k80gbProfiles)),
    MigGeometry("H100-80GB", 7, 8, AsSpan(k80gbProfiles)),
    MigGeometry("H100-94GB", 7, 8, AsSpan(kH100Gb94Profiles)),
    MigGeometry("H100-96GB", 7, 8, AsSpan(kH100Gb96Profiles)),
    MigGeometry("H200-141GB", 7, 8, AsSpan(kH200Gb141Profiles)),
    MigGeometry("B200", 7, 8, AsSpan(kB200Profiles)),
    MigGeometry("GB200", 7, 8, AsSpan(kGb200Profiles)),
    MigGeometry("A30", 4, 4, AsSpan(kA30Profiles)),
};

std::string KnownIds(const MigGeometry& geometry) {
  return absl::StrJoin(geometry.profiles(), ", ", [](std::string* out, const MigProfile& p) {
    absl::StrAppend(out, p.id, " (", p.name, ")");
  });
}

// Ties within this tolerance count as equal costs (costs are sums of p_k times small integers,
// so genuine differences are far larger; this only absorbs rounding).
constexpr double kCostTieTolerance = 1e-9;

// F(mask) under `probability` (indexed like geometry.profiles()).
double FragmentationCost(const MigGeometry& geometry, absl::Span<const double> probability,
                         uint8_t mask) {
  const int free_compute = FreeComputeSlices(geometry, mask);
  double cost = 0.0;
  for (int k = 0; k < geometry.num_profiles(); ++k) {
    if (probability[k] == 0.0) {
      continue;
    }
    const MigProfile& profile = geometry.profiles()[k];
    const int usable = profile.compute_slices * MaxInstances(mask, profile);
    cost += probability[k] * static_cast<double>(free_compute - usable);
  }
  return cost;
}

struct SearchState {
  const MigGeometry* geometry = nullptr;
  std::vector<const MigProfile*> allowed;
  MigLayout current;
  uint8_t mask = 0;
  int compute = 0;
  bool has_me = false;
  std::vector<MigLayout> out;
};

bool CanAdd(const MigGeometry& geometry, const MigProfile& profile, uint8_t mask, int compute,
            bool has_me, int start) {
  if (!profile.IsLegalStart(start)) {
    return false;
  }
  if (start + profile.memory_slots > geometry.memory_slots()) {
    return false;
  }
  if ((profile.SlotMask(start) & mask) != 0) {
    return false;
  }
  if (compute + profile.compute_slices > geometry.compute_slices()) {
    return false;
  }
  if (profile.media_extensions && has_me) {
    return false;
  }
  return true;
}

bool IsMaximal(const SearchState& s) {
  for (const MigProfile* profile : s.allowed) {
    for (int start = 0; start < s.geometry->memory_slots(); ++start) {
      if (CanAdd(*s.geometry, *profile, s.mask, s.compute, s.has_me, start)) {
        return false;
      }
    }
  }
  return true;
}

// Decides slot `slot` and everything after it. Slots < `slot` are already decided.
void Search(SearchState& s, int slot) {
  while (slot < s.geometry->memory_slots() && ((s.mask >> slot) & 1u) != 0) {
    ++slot;
  }
  if (slot >= s.geometry->memory_slots()) {
    if (IsMaximal(s)) {
      s.out.push_back(s.current);
    }
    return;
  }
  // Leave `slot` empty.
  Search(s, slot + 1);
  // Or start one allowed profile at `slot`. All slots >= `slot` are still free, so CanAdd only
  // has to look at the start rule, the bounds, compute and +me.
  for (const MigProfile* profile : s.allowed) {
    if (!CanAdd(*s.geometry, *profile, s.mask, s.compute, s.has_me, slot)) {
      continue;
    }
    const uint8_t saved_mask = s.mask;
    const bool saved_me = s.has_me;
    s.mask |= profile->SlotMask(slot);
    s.compute += profile->compute_slices;
    s.has_me = s.has_me || profile->media_extensions;
    s.current.push_back({profile->id, slot});
    Search(s, slot + profile->memory_slots);
    s.current.pop_back();
    s.has_me = saved_me;
    s.compute -= profile->compute_slices;
    s.mask = saved_mask;
  }
}

bool LayoutLess(const MigLayout& a, const MigLayout& b) {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(), [](const MigPlacement& x, const MigPlacement& y) {
        return x.start != y.start ? x.start < y.start : x.profile_id < y.profile_id;
      });
}

}  // namespace

// ---- MigGeometry -------------------------------------------------------------------------------

absl::StatusOr<int> MigGeometry::IndexOfId(int id) const {
  for (int i = 0; i < num_profiles(); ++i) {
    if (profiles_[i].id == id) {
      return i;
    }
  }
  return absl::NotFoundError(absl::StrCat("MIG profile ID ", id, " is not defined for ", model_,
                                          "; known IDs: ", KnownIds(*this)));
}

absl::StatusOr<const MigProfile*> MigGeometry::ProfileById(int id) const {
  absl::StatusOr<int> index = IndexOfId(id);
  if (!index.ok()) {
    return index.status();
  }
  return &profiles_[*index];
}

absl::StatusOr<const MigProfile*> MigGeometry::ProfileByName(absl::string_view name) const {
  for (const MigProfile& p : profiles_) {
    if (p.name == name) {
      return &p;
    }
  }
  return absl::NotFoundError(absl::StrCat(
      "MIG profile \"", name, "\" is not defined for ", model_, "; known profiles: ",
      absl::StrJoin(profiles_, ", ",
                    [](std::string* out, const MigProfile& p) { absl::StrAppend(out, p.name); })));
}

absl::StatusOr<const MigProfile*> MigGeometry::ProfileByShape(int compute_slices, int memory_slots,
                                                              bool media_extensions) const {
  for (const MigProfile& p : profiles_) {
    if (p.compute_slices == compute_slices && p.memory_slots == memory_slots &&
        p.media_extensions == media_extensions) {
      return &p;
    }
  }
  return absl::NotFoundError(absl::StrFormat(
      "%s has no MIG profile with %d compute slice(s), %d memory slot(s)%s", model_, compute_slices,
      memory_slots, media_extensions ? " and media extensions" : ""));
}

absl::Span<const MigGeometry> BuiltinGeometries() { return kGeometries; }

absl::StatusOr<const MigGeometry*> GeometryForModel(absl::string_view model) {
  for (const MigGeometry& g : kGeometries) {
    if (absl::EqualsIgnoreCase(g.model(), model)) {
      return &g;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("unknown MIG GPU model \"", model, "\"; known models: ",
                   absl::StrJoin(kGeometries, ", ", [](std::string* out, const MigGeometry& g) {
                     absl::StrAppend(out, g.model());
                   })));
}

// ---- Layouts -----------------------------------------------------------------------------------

absl::StatusOr<uint8_t> LayoutMask(const MigGeometry& geometry,
                                   absl::Span<const MigPlacement> layout) {
  uint8_t mask = 0;
  int compute = 0;
  bool has_me = false;
  for (const MigPlacement& placement : layout) {
    absl::StatusOr<const MigProfile*> profile = geometry.ProfileById(placement.profile_id);
    if (!profile.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("placement with profile ID ",
                                                     placement.profile_id, "@", placement.start,
                                                     ": ", profile.status().message()));
    }
    const MigProfile& p = **profile;
    const std::string where = absl::StrCat(p.name, "@", placement.start);
    if (!p.IsLegalStart(placement.start)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": ", placement.start, " is not a legal start slot on ", geometry.model()));
    }
    const uint8_t slots = p.SlotMask(placement.start);
    if ((slots & mask) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": memory slots overlap another placement"));
    }
    if (p.media_extensions && has_me) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": only one +me instance is allowed per GPU"));
    }
    compute += p.compute_slices;
    if (compute > geometry.compute_slices()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": total compute ", compute, " exceeds ", geometry.compute_slices(), " slices"));
    }
    mask |= slots;
    has_me = has_me || p.media_extensions;
  }
  return mask;
}

absl::StatusOr<std::vector<MigLayout>> EnumerateMaximalLayouts(
    const MigGeometry& geometry, absl::Span<const int> allowed_profile_ids) {
  SearchState state;
  state.geometry = &geometry;
  for (int id : allowed_profile_ids) {
    absl::StatusOr<const MigProfile*> profile = geometry.ProfileById(id);
    if (!profile.ok()) {
      return absl::InvalidArgumentError(profile.status().message());
    }
    if (std::find(state.allowed.begin(), state.allowed.end(), *profile) == state.allowed.end()) {
      state.allowed.push_back(*profile);
    }
  }
  Search(state, 0);
  std::sort(state.out.begin(), state.out.end(), LayoutLess);
  return std::move(state.out);
}

std::string FormatLayout(const MigGeometry& geometry, absl::Span<const MigPlacement> layout) {
  return absl::StrJoin(layout, "+", [&geometry](std::string* out, const MigPlacement& placement) {
    absl::StatusOr<const MigProfile*> profile = geometry.ProfileById(placement.profile_id);
    if (profile.ok()) {
      absl::StrAppend(out, (*profile)->short_name, "@", placement.start);
    } else {
      absl::StrAppend(out, "id", placement.profile_id, "@", placement.start);
    }
  });
}

// ---- Slot masks --------------------------------------------------------------------------------

uint8_t FreeStarts(uint8_t mask, const MigProfile& profile) {
  uint8_t free_starts = 0;
  for (int start = 0; start < kMaxMemorySlots; ++start) {
    if (profile.IsLegalStart(start) && (profile.SlotMask(start) & mask) == 0) {
      free_starts = static_cast<uint8_t>(free_starts | (1u << start));
    }
  }
  return free_starts;
}

int MaxInstances(uint8_t mask, const MigProfile& profile) {
  int count = 0;
  uint8_t occupied = mask;
  for (int start = 0; start < kMaxMemorySlots; ++start) {
    if (profile.IsLegalStart(start) && (profile.SlotMask(start) & occupied) == 0) {
      occupied = static_cast<uint8_t>(occupied | profile.SlotMask(start));
      ++count;
    }
  }
  return profile.media_extensions ? std::min(count, 1) : count;
}

int FreeComputeSlices(const MigGeometry& geometry, uint8_t mask) {
  return geometry.compute_slices() -
         std::popcount(static_cast<uint8_t>(mask & geometry.compute_slot_mask()));
}

// ---- MigSlotTable ------------------------------------------------------------------------------

namespace {

// The demand weights of `demand` by profile index, normalised to sum to 1 (profiles absent from
// `demand` get 0). InvalidArgument as documented on MigSlotTable::Create.
absl::StatusOr<std::vector<double>> NormalisedDemand(const MigGeometry& geometry,
                                                     absl::Span<const ProfileDemand> demand) {
  if (demand.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("MIG demand distribution for ", geometry.model(), " is empty"));
  }
  std::vector<double> probability(geometry.num_profiles(), 0.0);
  std::vector<bool> seen(geometry.num_profiles(), false);
  double total = 0.0;
  for (const ProfileDemand& d : demand) {
    absl::StatusOr<int> index = geometry.IndexOfId(d.profile_id);
    if (!index.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("MIG demand distribution: ", index.status().message()));
    }
    if (!std::isfinite(d.weight) || d.weight < 0.0) {
      return absl::InvalidArgumentError(absl::StrCat("MIG demand distribution: weight ", d.weight,
                                                     " of profile ID ", d.profile_id,
                                                     " must be finite and non-negative"));
    }
    if (seen[*index]) {
      return absl::InvalidArgumentError(absl::StrCat("MIG demand distribution: profile ID ",
                                                     d.profile_id, " is listed more than once"));
    }
    seen[*index] = true;
    probability[*index] = d.weight;
    total += d.weight;
  }
  if (!(total > 0.0) || !std::isfinite(total)) {
    return absl::InvalidArgumentError(
        absl::StrCat("MIG demand distribution for ", geometry.model(),
                     ": weights must have a positive, finite sum (got ", total, ")"));
  }
  for (double& p : probability) {
    p /= total;
  }
  return probability;
}

struct BestPlacement {
  int8_t start = -1;  // -1: the profile does not fit.
  double cost = 0.0;  // +infinity when it does not fit.
};

// The start among `free_starts` of `profile` on `mask` that leaves the lowest cost (`cost` is F
// by mask). Two passes: find the minimum, then the lowest start within tolerance of it. This
// makes the tie rule independent of the order in which near-equal costs are met.
BestPlacement FindBestStart(absl::Span<const double> cost, uint8_t mask, uint8_t free_starts,
                            const MigProfile& profile) {
  double best = std::numeric_limits<double>::infinity();
  for (int start = 0; start < kMaxMemorySlots; ++start) {
    if (((free_starts >> start) & 1u) == 0) {
      continue;
    }
    best = std::min(best, cost[mask | profile.SlotMask(start)]);
  }
  BestPlacement placement{-1, best};
  for (int start = 0; start < kMaxMemorySlots; ++start) {
    if (((free_starts >> start) & 1u) == 0) {
      continue;
    }
    const double c = cost[mask | profile.SlotMask(start)];
    if (c <= best + kCostTieTolerance) {
      placement.start = static_cast<int8_t>(start);
      placement.cost = c;
      break;
    }
  }
  return placement;
}

}  // namespace

absl::StatusOr<MigSlotTable> MigSlotTable::Create(const MigGeometry& geometry,
                                                  absl::Span<const ProfileDemand> demand) {
  if (geometry.num_profiles() > kMaxProfilesPerGeometry) {
    return absl::InvalidArgumentError(absl::StrCat(geometry.model(), " has ",
                                                   geometry.num_profiles(), " profiles; at most ",
                                                   kMaxProfilesPerGeometry, " are supported"));
  }
  MigSlotTable table(geometry);
  ACCELSCHED_ASSIGN_OR_RETURN(table.probability_, NormalisedDemand(geometry, demand));

  table.cost_.resize(kNumSlotMasks);
  for (int mask = 0; mask < kNumSlotMasks; ++mask) {
    table.cost_[mask] = FragmentationCost(geometry, table.probability_, static_cast<uint8_t>(mask));
  }

  table.entries_.assign(static_cast<size_t>(kNumSlotMasks) * kMaxProfilesPerGeometry,
                        MaskProfileEntry{});
  for (int m = 0; m < kNumSlotMasks; ++m) {
    const uint8_t mask = static_cast<uint8_t>(m);
    for (int k = 0; k < geometry.num_profiles(); ++k) {
      const MigProfile& profile = geometry.profiles()[k];
      MaskProfileEntry& entry =
          table.entries_[static_cast<size_t>(m) * kMaxProfilesPerGeometry + k];
      entry.free_starts = mig::FreeStarts(mask, profile);
      entry.max_instances = static_cast<uint8_t>(mig::MaxInstances(mask, profile));
      const BestPlacement best = FindBestStart(table.cost_, mask, entry.free_starts, profile);
      entry.best_start = best.start;
      entry.best_cost = best.cost;
    }
  }
  return table;
}

}  // namespace accelsched::topology::mig
