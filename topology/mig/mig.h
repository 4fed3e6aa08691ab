// MIG (Multi-Instance GPU) profile tables, slot geometry and a fragmentation cost per slot mask.
//
// What lives here:
//   * `MigGeometry` / `MigProfile`: the built-in partition rules of each MIG-capable GPU model
//     (compute slices, memory slots, NVIDIA GPU-instance profile IDs, legal start slots, names).
//   * `EnumerateMaximalLayouts`: every set of (profile, start) placements to which nothing more
//     can be added (DESIGN.md section 11, "MIG geometries").
//   * Slot-mask helpers (`FreeStarts`, `MaxInstances`, `FreeComputeSlices`) and `MigSlotTable`,
//     which precomputes, for one geometry and one profile-demand distribution, the
//     fragmentation cost of all 256 memory-slot masks and the best start slot for every
//     (mask, profile) pair, so that the solver's hot path is a single array lookup.
//
// Conventions. A memory-slot mask is a `uint8_t` where bit i set means memory slot i is in use.
// Profiles are identified by NVIDIA's GPU-instance profile ID (`nvidia-smi mig -lgip`, column
// "ID"); IDs are only meaningful within one geometry (ID 14 is 2g on A100 but 1g on A30). Inside
// a `MigSlotTable` the solver addresses a profile by its index in `MigGeometry::profiles()`.
// Profile names ("3g.40gb") are for the codec and for humans; the solver keys on IDs and shapes.
//
// Thread-safety: everything here is immutable after construction; all functions and const
// methods may be called concurrently.
// Ownership: the built-in `MigGeometry` objects and their profile tables are static constants
// that live for the whole program; pointers and spans to them never dangle. `MigSlotTable` owns
// its arrays and holds a copy of the (trivially copyable) geometry descriptor.
#ifndef ACCELSCHED_TOPOLOGY_MIG_MIG_H_
#define ACCELSCHED_TOPOLOGY_MIG_MIG_H_

#include <cassert>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace accelsched::topology::mig {

// Largest number of memory slots of any supported GPU (the 7-slice family has 8).
inline constexpr int kMaxMemorySlots = 8;
// Largest number of profiles of any built-in geometry; sizes the per-mask tables.
inline constexpr int kMaxProfilesPerGeometry = 8;
// Number of distinct `uint8_t` slot masks.
inline constexpr int kNumSlotMasks = 256;

// One GPU-instance profile of one GPU model.
struct MigProfile {
  // NVIDIA GPU-instance profile ID as printed by `nvidia-smi mig -lgip`.
  int id = 0;
  // Compute slices (the "Ng" in the name).
  int compute_slices = 0;
  // Memory slots occupied (consecutive, starting at the placement's start slot).
  int memory_slots = 0;
  // Bit s set: s is a legal start memory slot (`nvidia-smi mig -lgipp`).
  uint8_t start_mask = 0;
  // "+me" variant: owns the GPU's media extensions (NVJPG/OFA). At most one +me GPU instance can
  // exist per GPU, whatever its size.
  bool media_extensions = false;
  // A 1g profile that occupies two memory slots (e.g. 1g.20gb on H100-80GB, profile ID 15).
  bool double_memory = false;
  // NVIDIA's name on this GPU model, e.g. "1g.10gb+me".
  absl::string_view name;
  // Model-independent short name used by `FormatLayout`: "<compute>g", then ".2m" for the
  // double-memory 1g (two memory slots, so "1g.2m"), then "+me" for media-extension variants.
  // Examples: "1g", "1g+me", "1g.2m", "2g", "3g", "4g", "7g".
  absl::string_view short_name;

  // Memory slots covered when placed at `start` (not checked against `start_mask`).
  constexpr uint8_t SlotMask(int start) const {
    return static_cast<uint8_t>(((1u << memory_slots) - 1u) << start);
  }
  constexpr bool IsLegalStart(int start) const {
    return start >= 0 && start < kMaxMemorySlots && ((start_mask >> start) & 1u) != 0;
  }
};

// The MIG partition rules of one GPU model. Trivially copyable; it borrows its profile table,
// which for the built-in geometries is static.
class MigGeometry {
 public:
  // `profiles` must outlive the geometry and every copy of it; at most
  // `kMaxProfilesPerGeometry` entries, with distinct IDs and distinct shapes.
  constexpr MigGeometry(absl::string_view model, int compute_slices, int memory_slots,
                        absl::Span<const MigProfile> profiles)
      : model_(model),
        compute_slices_(compute_slices),
        memory_slots_(memory_slots),
        profiles_(profiles) {}
  // Canonical model name, e.g. "A100-80GB".
  absl::string_view model() const { return model_; }
  // 7 for A100/H100/H200/B200/GB200, 4 for A30.
  int compute_slices() const { return compute_slices_; }
  // 8 for A100/H100/H200/B200/GB200, 4 for A30.
  int memory_slots() const { return memory_slots_; }
  // Bits of the memory slots that exist (0xFF or 0x0F).
  uint8_t slot_mask() const { return static_cast<uint8_t>((1u << memory_slots_) - 1u); }
  // Bits of the memory slots that carry a compute slice: the first `compute_slices()` slots.
  uint8_t compute_slot_mask() const { return static_cast<uint8_t>((1u << compute_slices_) - 1u); }
  // All profiles, in the table order used for profile indices.
  absl::Span<const MigProfile> profiles() const { return profiles_; }
  int num_profiles() const { return static_cast<int>(profiles_.size()); }

  // Index in `profiles()` of the profile with NVIDIA profile ID `id`; NotFound otherwise
  // (the message lists the IDs this model has).
  absl::StatusOr<int> IndexOfId(int id) const;
  // The profile with NVIDIA profile ID `id`; NotFound otherwise.
  absl::StatusOr<const MigProfile*> ProfileById(int id) const;
  // The profile with exactly this NVIDIA name on this model (e.g. "3g.40gb", "1g.10gb+me");
  // NotFound otherwise (the message lists the names this model has).
  absl::StatusOr<const MigProfile*> ProfileByName(absl::string_view name) const;
  // The profile with this compute/memory shape (e.g. (1, 2) is the double-memory 1g); NotFound
  // if the model has none.
  absl::StatusOr<const MigProfile*> ProfileByShape(int compute_slices, int memory_slots,
                                                   bool media_extensions = false) const;

 private:
  absl::string_view model_;
  int compute_slices_;
  int memory_slots_;
  absl::Span<const MigProfile> profiles_;
};

// All built-in geometries: A100-40GB, A100-80GB, H100-80GB, H100-94GB (H100 NVL), H100-96GB
// (H100 on GH200), H200-141GB, B200, GB200 and A30.
absl::Span<const MigGeometry> BuiltinGeometries();

// The built-in geometry of `model` (canonical name from `BuiltinGeometries()`, compared
// case-insensitively, e.g. "A100-80GB", "h100-80gb", "A30"). NotFound for unknown models, with
// the known names in the message. The pointee is static.
absl::StatusOr<const MigGeometry*> GeometryForModel(absl::string_view model);

// One GPU instance: a profile (by NVIDIA profile ID) at a start memory slot.
struct MigPlacement {
  int profile_id = 0;
  int start = 0;

  friend bool operator==(const MigPlacement&, const MigPlacement&) = default;
};

// A set of placements on one GPU, kept sorted by start slot.
using MigLayout = std::vector<MigPlacement>;

// Memory-slot mask of `layout` after checking that it is a valid layout for `geometry`: known
// profile IDs, legal starts, disjoint memory slots, total compute <= compute slices, and at most
// one +me instance. InvalidArgument (naming the offending placement) otherwise.
absl::StatusOr<uint8_t> LayoutMask(const MigGeometry& geometry,
                                   absl::Span<const MigPlacement> layout);

// Every maximal layout of `geometry` using only the profiles in `allowed_profile_ids`
// (duplicates ignored). A layout is a set of placements with disjoint memory slots, total
// compute <= compute slices and at most one +me instance; it is maximal if no allowed profile
// can be added at any legal start. Each layout is sorted by start; the list has no duplicates
// and is sorted lexicographically by the sequence of (start, profile_id). With no allowed
// profiles the only maximal layout is the empty one. InvalidArgument if an ID is not a profile
// of `geometry`.
//
// Algorithm: depth-first search over memory slots in increasing order; at each free slot either
// leave it empty or start one allowed profile there. Every set is generated exactly once, then
// the non-maximal ones are dropped. Exponential in the number of slots, but the 8-slot state
// space is tiny (a few hundred layouts; well under a millisecond). Not for the hot path.
absl::StatusOr<std::vector<MigLayout>> EnumerateMaximalLayouts(
    const MigGeometry& geometry, absl::Span<const int> allowed_profile_ids);

// "profile@start" joined by '+', in the given order, using `MigProfile::short_name`, e.g.
// "4g@0+2g@4+1g@6" or "1g.2m@6". An ID unknown to `geometry` is printed as "id<N>@start". An
// empty layout formats as "".
std::string FormatLayout(const MigGeometry& geometry, absl::Span<const MigPlacement> layout);

// ---- Slot masks --------------------------------------------------------------------------------

// Bitmask of the legal start slots of `profile` whose memory slots are all free in `mask`.
// Does not know about the one-+me-instance-per-GPU rule (a slot mask cannot express it): the
// caller checks that separately for +me profiles. Mask bits beyond the model's memory slots are
// ignored, since no placement ever covers them.
uint8_t FreeStarts(uint8_t mask, const MigProfile& profile);

// Maximum number of instances of `profile` that can be placed simultaneously in the free slots
// of `mask` at legal starts. For a +me profile the answer is capped at 1 (one +me GI per GPU),
// assuming the GPU has no +me instance yet.
// O(memory slots): all placements of one profile have the same length, so taking the leftmost
// free legal start repeatedly is optimal (interval scheduling by earliest finish time).
int MaxInstances(uint8_t mask, const MigProfile& profile);

// Free compute slices of `mask`: compute_slices - popcount(mask & compute_slot_mask()), i.e.
// only the first `compute_slices` memory slots count.
// Why this is exact: on the 7-slice family slot 7 carries memory only (3g@4 and 7g@0 use it
// without an 8th compute slice). Every placement covers at least as many compute-bearing slots
// as it has compute slices; 3g@0 (slots 0-3) and a double-memory 1g at 0/2/4 cover one more.
// That extra slice is stranded, since nothing can use a compute slice without its memory slot,
// so counting it as used loses nothing. Conversely 1g can start on every compute-bearing slot,
// so this number is exactly the most compute that new instances can still get, and the
// total-compute rule never binds beyond the memory-slot rule.
int FreeComputeSlices(const MigGeometry& geometry, uint8_t mask);

// Demand weight of one profile in a profile-demand distribution (e.g. observed request counts).
struct ProfileDemand {
  int profile_id = 0;
  double weight = 0.0;
};

// Precomputed fragmentation costs and best starts for one geometry and one profile-demand
// distribution p (normalised to sum to 1).
//
// Fragmentation cost of a mask S (FGD-style, DESIGN.md section 11):
//   F(S) = sum_k p_k * (FreeComputeSlices(S) - k.compute_slices * MaxInstances(S, k)),
// i.e. the expected number of free compute slices that the next request cannot use.
// F(full) = 0; F is computed for all 256 masks, with bits beyond the model's memory slots
// ignored (on the 4-slot A30, masks m and m & 0x0F have the same entries), so lookups need no
// range check.
// BestStart(S, k): among the free legal starts s of k, the one minimising F(S | slots(k, s)),
// i.e. the smallest cost growth; ties (within 1e-9) go to the lowest start. -1 if k does not fit.
//
// Thread-safety: immutable after Create(); all methods are const and safe to call concurrently.
// Queries are O(1) array lookups (no allocation, no branching on the profile).
class MigSlotTable {
 public:
  // Builds the table. InvalidArgument if `demand` is empty, has a negative or non-finite weight,
  // sums to zero, lists a profile ID twice, or names an ID that is not a profile of `geometry`.
  // Profiles absent from `demand` get probability 0. Cost: 256 masks x profiles x starts, i.e.
  // well under a millisecond; build once per (geometry, demand) and share.
  static absl::StatusOr<MigSlotTable> Create(const MigGeometry& geometry,
                                             absl::Span<const ProfileDemand> demand);
  const MigGeometry& geometry() const { return geometry_; }

  // Normalised demand probability of profile `profile_index` (index in geometry().profiles()).
  double Probability(int profile_index) const {
    assert(profile_index >= 0 && profile_index < geometry_.num_profiles());
    return probability_[profile_index];
  }

  // F(mask).
  double Cost(uint8_t mask) const { return cost_[mask]; }

  // Start slot for a new instance of profile `profile_index` that leaves the lowest cost, or -1
  // if it does not fit. +me profiles: see FreeStarts (the per-GPU +me limit is the caller's).
  int BestStart(uint8_t mask, int profile_index) const {
    return Entry(mask, profile_index).best_start;
  }

  // F(mask | slots of the best placement), or +infinity if the profile does not fit.
  double BestCost(uint8_t mask, int profile_index) const {
    return Entry(mask, profile_index).best_cost;
  }

  // Same as the free functions FreeStarts / MaxInstances, precomputed.
  uint8_t FreeStarts(uint8_t mask, int profile_index) const {
    return Entry(mask, profile_index).free_starts;
  }
  int MaxInstances(uint8_t mask, int profile_index) const {
    return Entry(mask, profile_index).max_instances;
  }

 private:
  struct MaskProfileEntry {
    double best_cost = 0.0;
    int8_t best_start = -1;
    uint8_t free_starts = 0;
    uint8_t max_instances = 0;
  };

  explicit MigSlotTable(const MigGeometry& geometry) : geometry_(geometry) {}

  const MaskProfileEntry& Entry(uint8_t mask, int profile_index) const {
    assert(profile_index >= 0 && profile_index < geometry_.num_profiles());
    return entries_[static_cast<size_t>(mask) * kMaxProfilesPerGeometry +
                    static_cast<size_t>(profile_index)];
  }

  MigGeometry geometry_;
  std::vector<double> probability_;  // [profile index]
  std::vector<double> cost_;         // [mask]
  // [mask * kMaxProfilesPerGeometry + profile index]
  std::vector<MaskProfileEntry> entries_;
};

}  // namespace accelsched::topology::mig

#endif  // ACCELSCHED_TOPOLOGY_MIG_MIG_H_
