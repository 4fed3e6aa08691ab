#include "topology/mig/mig.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace accelsched::topology::mig {
namespace {

// Profile IDs of the 7-slice family (A100/H100/H200/B200/GB200).
constexpr int k1g = 19;
constexpr int k1gMe = 20;
constexpr int k1gDouble = 15;
constexpr int k2g = 14;
constexpr int k3g = 9;
constexpr int k4g = 5;
constexpr int k7g = 0;
// Profile IDs of the A30.
constexpr int kA30Id1g = 14;
constexpr int kA30Id1gMe = 21;
constexpr int kA30Id2g = 5;
constexpr int kA30Id2gMe = 6;
constexpr int kA30Id4g = 0;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Checks `status` has `code` and that its message mentions every string in `needles`.
void ExpectError(const absl::Status& status, absl::StatusCode code,
                 const std::vector<std::string>& needles) {
  EXPECT_EQ(status.code(), code) << status;
  for (const std::string& needle : needles) {
    EXPECT_TRUE(absl::StrContains(status.message(), needle))
        << "message \"" << status.message() << "\" does not mention \"" << needle << "\"";
  }
}

const MigGeometry& Geometry(absl::string_view model) {
  absl::StatusOr<const MigGeometry*> geometry = GeometryForModel(model);
  EXPECT_TRUE(geometry.ok()) << geometry.status();
  return **geometry;
}

int Index(const MigGeometry& geometry, int id) {
  absl::StatusOr<int> index = geometry.IndexOfId(id);
  EXPECT_TRUE(index.ok()) << index.status();
  return *index;
}

const MigProfile& Profile(const MigGeometry& geometry, int id) {
  return geometry.profiles()[Index(geometry, id)];
}

MigSlotTable Table(const MigGeometry& geometry, const std::vector<ProfileDemand>& demand) {
  absl::StatusOr<MigSlotTable> table = MigSlotTable::Create(geometry, demand);
  EXPECT_TRUE(table.ok()) << table.status();
  return *std::move(table);
}

std::vector<std::string> Formatted(const MigGeometry& geometry,
                                   const std::vector<MigLayout>& layouts) {
  std::vector<std::string> out;
  out.reserve(layouts.size());
  for (const MigLayout& layout : layouts) {
    out.push_back(FormatLayout(geometry, layout));
  }
  return out;
}

// A layout as a multiset of profiles, e.g. "1g,1g,2g,3g".
std::string MultisetKey(const MigGeometry& geometry, const MigLayout& layout) {
  std::vector<std::string> names;
  for (const MigPlacement& p : layout) {
    names.emplace_back(Profile(geometry, p.profile_id).short_name);
  }
  std::sort(names.begin(), names.end());
  return absl::StrJoin(names, ",");
}

// ---- Geometry and profile lookups --------------------------------------------------------------

TEST(MigGeometryTest, BuiltinModelsHaveTheirShapeAndNames) {
  const struct {
    std::string name;
    std::string model;
    int compute_slices;
    int memory_slots;
    // Names in table order: 7-slice family IDs 19, 20, 15, 14, 9, 5, 0; A30 IDs 14, 21, 5, 6, 0.
    std::vector<std::string> names;
  } cases[] = {
      {"A100 40GB",
       "A100-40GB",
       7,
       8,
       {"1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"}},
      {"A100 80GB",
       "A100-80GB",
       7,
       8,
       {"1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"}},
      {"H100 80GB",
       "H100-80GB",
       7,
       8,
       {"1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"}},
      {"H100 NVL",
       "H100-94GB",
       7,
       8,
       {"1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb"}},
      {"H100 on GH200",
       "H100-96GB",
       7,
       8,
       {"1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb"}},
      {"H200",
       "H200-141GB",
       7,
       8,
       {"1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"}},
      {"B200",
       "B200",
       7,
       8,
       {"1g.23gb", "1g.23gb+me", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"}},
      {"GB200 (provisional names)",
       "GB200",
       7,
       8,
       {"1g.24gb", "1g.24gb+me", "1g.47gb", "2g.47gb", "3g.95gb", "4g.95gb", "7g.189gb"}},
      {"A30", "A30", 4, 4, {"1g.6gb", "1g.6gb+me", "2g.12gb", "2g.12gb+me", "4g.24gb"}},
      {"lookup is case-insensitive",
       "h100-80gb",
       7,
       8,
       {"1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<const MigGeometry*> geometry = GeometryForModel(tc.model);
    ASSERT_TRUE(geometry.ok()) << geometry.status();
    EXPECT_EQ((*geometry)->compute_slices(), tc.compute_slices);
    EXPECT_EQ((*geometry)->memory_slots(), tc.memory_slots);
    std::vector<std::string> names;
    for (const MigProfile& p : (*geometry)->profiles()) {
      names.emplace_back(p.name);
    }
    EXPECT_EQ(names, tc.names);
  }
  EXPECT_EQ(BuiltinGeometries().size(), 9u);
}

TEST(MigGeometryTest, SevenSliceFamilyShapesAndStarts) {
  // nvidia-smi mig -lgipp on A100/H100: {starts}:memory slots.
  const struct {
    std::string name;
    int id;
    int compute;
    int memory;
    uint8_t starts;
    bool me;
    bool double_memory;
    std::string short_name;
  } cases[] = {
      {"1g {0..6}:1", k1g, 1, 1, 0x7F, false, false, "1g"},
      {"1g+me {0..6}:1", k1gMe, 1, 1, 0x7F, true, false, "1g+me"},
      {"1g double memory {0,2,4,6}:2", k1gDouble, 1, 2, 0x55, false, true, "1g.2m"},
      {"2g {0,2,4}:2", k2g, 2, 2, 0x15, false, false, "2g"},
      {"3g {0,4}:4", k3g, 3, 4, 0x11, false, false, "3g"},
      {"4g {0}:4", k4g, 4, 4, 0x01, false, false, "4g"},
      {"7g {0}:8", k7g, 7, 8, 0x01, false, false, "7g"},
  };
  for (const MigGeometry& geometry : BuiltinGeometries()) {
    if (geometry.compute_slices() != 7) {
      continue;
    }
    for (const auto& tc : cases) {
      SCOPED_TRACE(std::string(geometry.model()) + " " + tc.name);
      absl::StatusOr<const MigProfile*> p = geometry.ProfileById(tc.id);
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_EQ((*p)->compute_slices, tc.compute);
      EXPECT_EQ((*p)->memory_slots, tc.memory);
      EXPECT_EQ((*p)->start_mask, tc.starts);
      EXPECT_EQ((*p)->media_extensions, tc.me);
      EXPECT_EQ((*p)->double_memory, tc.double_memory);
      EXPECT_EQ((*p)->short_name, tc.short_name);
    }
  }
}

TEST(MigGeometryTest, A30ShapesAndStarts) {
  // nvidia-smi mig -lgipp on A30: 14 {0,1,2,3}:1, 21 {0,1,2,3}:1, 5 {0,2}:2, 6 {0,2}:2, 0 {0}:4.
  const struct {
    std::string name;
    int id;
    int compute;
    int memory;
    uint8_t starts;
    bool me;
  } cases[] = {
      {"1g.6gb", kA30Id1g, 1, 1, 0x0F, false},  {"1g.6gb+me", kA30Id1gMe, 1, 1, 0x0F, true},
      {"2g.12gb", kA30Id2g, 2, 2, 0x05, false}, {"2g.12gb+me", kA30Id2gMe, 2, 2, 0x05, true},
      {"4g.24gb", kA30Id4g, 4, 4, 0x01, false},
  };
  const MigGeometry& a30 = Geometry("A30");
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<const MigProfile*> p = a30.ProfileByName(tc.name);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ((*p)->id, tc.id);
    EXPECT_EQ((*p)->compute_slices, tc.compute);
    EXPECT_EQ((*p)->memory_slots, tc.memory);
    EXPECT_EQ((*p)->start_mask, tc.starts);
    EXPECT_EQ((*p)->media_extensions, tc.me);
  }
}

TEST(MigGeometryTest, ProfileLookups) {
  const MigGeometry& h100 = Geometry("H100-80GB");
  const MigGeometry& a30 = Geometry("A30");
  const struct {
    std::string name;
    absl::StatusOr<const MigProfile*> got;
    std::string want_name;
  } cases[] = {
      {"by id 9", h100.ProfileById(9), "3g.40gb"},
      {"by id 15", h100.ProfileById(15), "1g.20gb"},
      {"by name", h100.ProfileByName("3g.40gb"), "3g.40gb"},
      {"by name +me", h100.ProfileByName("1g.10gb+me"), "1g.10gb+me"},
      {"by shape 1g", h100.ProfileByShape(1, 1), "1g.10gb"},
      {"by shape 1g+me", h100.ProfileByShape(1, 1, true), "1g.10gb+me"},
      {"by shape double memory", h100.ProfileByShape(1, 2), "1g.20gb"},
      {"by shape 3g", h100.ProfileByShape(3, 4), "3g.40gb"},
      {"by shape 7g", h100.ProfileByShape(7, 8), "7g.80gb"},
      // The same ID means different profiles on different models.
      {"A30 id 14 is 1g", a30.ProfileById(14), "1g.6gb"},
      {"A30 shape 2g+me", a30.ProfileByShape(2, 2, true), "2g.12gb+me"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ASSERT_TRUE(tc.got.ok()) << tc.got.status();
    EXPECT_EQ((*tc.got)->name, tc.want_name);
  }
  absl::StatusOr<int> index = h100.IndexOfId(k7g);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(*index, 6);
}

TEST(MigGeometryTest, LookupFailuresAreNotFoundAndNameTheProblem) {
  const MigGeometry& h100 = Geometry("H100-80GB");
  const struct {
    std::string name;
    absl::Status status;
    std::vector<std::string> needles;
  } cases[] = {
      {"unknown model",
       GeometryForModel("V100-32GB").status(),
       {"V100-32GB", "A100-80GB", "H100-80GB", "A30", "GB200"}},
      {"empty model", GeometryForModel("").status(), {"unknown MIG GPU model", "A30"}},
      {"unknown id", h100.ProfileById(21).status(), {"21", "H100-80GB", "19 (1g.10gb)"}},
      {"unknown id via index", h100.IndexOfId(-1).status(), {"-1", "H100-80GB"}},
      {"name of another model",
       h100.ProfileByName("3g.20gb").status(),
       {"3g.20gb", "H100-80GB", "3g.40gb"}},
      {"shape that does not exist", h100.ProfileByShape(5, 5).status(), {"H100-80GB", "5 compute"}},
      {"A30 has no double memory 1g", Geometry("A30").ProfileByShape(1, 2).status(), {"A30"}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(tc.status, absl::StatusCode::kNotFound, tc.needles);
  }
}

// ---- Layouts -----------------------------------------------------------------------------------

TEST(MigLayoutTest, ClassicFiveProfilesHaveExactlyTheNineteenMaximalPlacements) {
  const MigGeometry& a100 = Geometry("A100-80GB");
  absl::StatusOr<std::vector<MigLayout>> layouts =
      EnumerateMaximalLayouts(a100, {k1g, k2g, k3g, k4g, k7g});
  ASSERT_TRUE(layouts.ok()) << layouts.status();
  // DESIGN.md section 11, "MIG geometries": the 19 placements.
  const std::set<std::string> want = {
      "7g@0",
      "4g@0+3g@4",
      "3g@0+3g@4",
      "4g@0+1g@4+1g@5+1g@6",
      "4g@0+2g@4+1g@6",
      "3g@0+1g@4+1g@5+1g@6",
      "3g@0+2g@4+1g@6",
      "1g@0+1g@1+1g@2+1g@3+3g@4",
      "1g@0+1g@1+2g@2+3g@4",
      "2g@0+1g@2+1g@3+3g@4",
      "2g@0+2g@2+3g@4",
      "1g@0+1g@1+1g@2+1g@3+1g@4+1g@5+1g@6",
      "1g@0+1g@1+1g@2+1g@3+2g@4+1g@6",
      "1g@0+1g@1+2g@2+1g@4+1g@5+1g@6",
      "1g@0+1g@1+2g@2+2g@4+1g@6",
      "2g@0+1g@2+1g@3+1g@4+1g@5+1g@6",
      "2g@0+1g@2+1g@3+2g@4+1g@6",
      "2g@0+2g@2+1g@4+1g@5+1g@6",
      "2g@0+2g@2+2g@4+1g@6",
  };
  ASSERT_EQ(want.size(), 19u);
  const std::vector<std::string> got = Formatted(a100, *layouts);
  EXPECT_EQ(got.size(), 19u);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);

  // 14 multisets: 7x1g, 5x1g+2g, 4x1g+3g, 3x1g+2x2g, 3x1g+3g, 3x1g+4g, 2x1g+2g+3g, 1g+3x2g,
  // 1g+2g+3g, 1g+2g+4g, 2x2g+3g, 2x3g, 3g+4g, 7g.
  std::set<std::string> multisets;
  for (const MigLayout& layout : *layouts) {
    multisets.insert(MultisetKey(a100, layout));
  }
  EXPECT_EQ(multisets.size(), 14u);
  EXPECT_TRUE(multisets.count("1g,1g,1g,3g"));  // 3g@0 leaves slot 7 unusable.
  EXPECT_TRUE(multisets.count("3g,3g"));        // 6 of 7 compute slices.
}

TEST(MigLayoutTest, AddingDoubleMemoryOneGGivesSeventyEightPlacements) {
  const MigGeometry& a100 = Geometry("A100-80GB");
  absl::StatusOr<std::vector<MigLayout>> layouts =
      EnumerateMaximalLayouts(a100, {k1g, k2g, k3g, k4g, k7g, k1gDouble});
  ASSERT_TRUE(layouts.ok()) << layouts.status();
  EXPECT_EQ(layouts->size(), 78u);
  std::set<std::string> multisets;
  for (const MigLayout& layout : *layouts) {
    multisets.insert(MultisetKey(a100, layout));
  }
  EXPECT_EQ(multisets.size(), 38u);
  const std::vector<std::string> got = Formatted(a100, *layouts);
  // The double-memory 1g at slot 6 is the only small profile that reaches slot 7, and a new
  // profile never makes an old maximal layout non-maximal here: every classic layout keeps
  // slot 6 busy or uses slot 7, so no aligned pair of free slots is left for 1g.2m. Hence the
  // 19 classic placements are among the 78, next to their 1g.2m@6 variants.
  const std::set<std::string> all(got.begin(), got.end());
  absl::StatusOr<std::vector<MigLayout>> classic =
      EnumerateMaximalLayouts(a100, {k1g, k2g, k3g, k4g, k7g});
  ASSERT_TRUE(classic.ok()) << classic.status();
  for (const std::string& layout : Formatted(a100, *classic)) {
    EXPECT_TRUE(all.count(layout)) << layout;
  }
  EXPECT_TRUE(all.count("4g@0+2g@4+1g.2m@6"));
  EXPECT_TRUE(all.count("1g.2m@0+1g.2m@2+1g.2m@4+1g.2m@6"));  // 4 x 1g.2m: 4 of 7 slices.
}

TEST(MigLayoutTest, A30MaximalLayouts) {
  const MigGeometry& a30 = Geometry("A30");
  absl::StatusOr<std::vector<MigLayout>> layouts =
      EnumerateMaximalLayouts(a30, {kA30Id1g, kA30Id2g, kA30Id4g});
  ASSERT_TRUE(layouts.ok()) << layouts.status();
  // 4 slots: {4g}, or slots 0-1 and 2-3 each as 2g or 1g+1g. Sorted by (start, id) sequence:
  // at slot 0, 4g (id 0) < 2g (id 5) < 1g (id 14).
  const std::vector<std::string> want = {
      "4g@0", "2g@0+2g@2", "2g@0+1g@2+1g@3", "1g@0+1g@1+2g@2", "1g@0+1g@1+1g@2+1g@3",
  };
  EXPECT_EQ(Formatted(a30, *layouts), want);
}

TEST(MigLayoutTest, MediaExtensionsAtMostOncePerGpu) {
  const MigGeometry& a30 = Geometry("A30");
  absl::StatusOr<std::vector<MigLayout>> layouts =
      EnumerateMaximalLayouts(a30, {kA30Id1gMe, kA30Id2gMe});
  ASSERT_TRUE(layouts.ok()) << layouts.status();
  // Only one +me instance fits, whatever the size: 1g+me at 0..3, or 2g+me at 0 or 2.
  // Sorted by (start, id): at a start, 2g+me (ID 6) comes before 1g+me (ID 21).
  const std::vector<std::string> want = {"2g+me@0", "1g+me@0", "1g+me@1",
                                         "2g+me@2", "1g+me@2", "1g+me@3"};
  EXPECT_EQ(Formatted(a30, *layouts), want);
}

TEST(MigLayoutTest, EnumeratedLayoutsAreValidMaximalSortedAndUnique) {
  for (const MigGeometry& geometry : BuiltinGeometries()) {
    SCOPED_TRACE(geometry.model());
    std::vector<int> all_ids;
    for (const MigProfile& p : geometry.profiles()) {
      all_ids.push_back(p.id);
    }
    absl::StatusOr<std::vector<MigLayout>> layouts = EnumerateMaximalLayouts(geometry, all_ids);
    ASSERT_TRUE(layouts.ok()) << layouts.status();
    ASSERT_FALSE(layouts->empty());
    std::set<std::string> seen;
    for (const MigLayout& layout : *layouts) {
      const std::string text = FormatLayout(geometry, layout);
      SCOPED_TRACE(text);
      EXPECT_TRUE(seen.insert(text).second) << "duplicate";
      EXPECT_TRUE(std::is_sorted(
          layout.begin(), layout.end(),
          [](const MigPlacement& a, const MigPlacement& b) { return a.start < b.start; }));
      absl::StatusOr<uint8_t> mask = LayoutMask(geometry, layout);
      ASSERT_TRUE(mask.ok()) << mask.status();
      bool has_me = false;
      for (const MigPlacement& p : layout) {
        has_me |= Profile(geometry, p.profile_id).media_extensions;
      }
      // Maximal: no profile has a free legal start (compute never binds beyond memory, see
      // FreeComputeSlices), except +me profiles when a +me instance exists.
      for (const MigProfile& p : geometry.profiles()) {
        if (p.media_extensions && has_me) {
          continue;
        }
        EXPECT_EQ(FreeStarts(*mask, p), 0) << p.name;
      }
    }
  }
}

TEST(MigLayoutTest, EnumerateEdgeCases) {
  const MigGeometry& a100 = Geometry("A100-40GB");
  absl::StatusOr<std::vector<MigLayout>> none = EnumerateMaximalLayouts(a100, {});
  ASSERT_TRUE(none.ok()) << none.status();
  ASSERT_EQ(none->size(), 1u);  // Nothing can be added to the empty layout.
  EXPECT_TRUE(none->front().empty());

  absl::StatusOr<std::vector<MigLayout>> only7g = EnumerateMaximalLayouts(a100, {k7g, k7g});
  ASSERT_TRUE(only7g.ok()) << only7g.status();
  EXPECT_EQ(Formatted(a100, *only7g), std::vector<std::string>{"7g@0"});

  ExpectError(EnumerateMaximalLayouts(a100, {k1g, 21}).status(), absl::StatusCode::kInvalidArgument,
              {"21", "A100-40GB"});
}

TEST(MigLayoutTest, FormatLayout) {
  const MigGeometry& h100 = Geometry("H100-80GB");
  const MigGeometry& a30 = Geometry("A30");
  const struct {
    std::string name;
    const MigGeometry* geometry;
    MigLayout layout;
    std::string want;
  } cases[] = {
      {"design example", &h100, {{k4g, 0}, {k2g, 4}, {k1g, 6}}, "4g@0+2g@4+1g@6"},
      {"double memory and +me", &h100, {{k1gMe, 0}, {k1gDouble, 6}}, "1g+me@0+1g.2m@6"},
      {"empty", &h100, {}, ""},
      {"unknown id", &h100, {{99, 3}}, "id99@3"},
      {"A30 ids", &a30, {{kA30Id2gMe, 0}, {kA30Id1g, 2}}, "2g+me@0+1g@2"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(FormatLayout(*tc.geometry, tc.layout), tc.want);
  }
}

TEST(MigLayoutTest, LayoutMask) {
  const MigGeometry& h100 = Geometry("H100-80GB");
  const struct {
    std::string name;
    MigLayout layout;
    uint8_t want_mask;                 // If the layout is valid.
    std::vector<std::string> needles;  // Empty if valid.
  } cases[] = {
      {"empty", {}, 0x00, {}},
      {"3g@4 uses slots 4-7", {{k3g, 4}}, 0xF0, {}},
      {"4g@0+2g@4+1g@6", {{k4g, 0}, {k2g, 4}, {k1g, 6}}, 0x7F, {}},
      {"7g", {{k7g, 0}}, 0xFF, {}},
      {"1g.2m@6 uses slot 7", {{k1gDouble, 6}}, 0xC0, {}},
      {"overlap", {{k3g, 0}, {k2g, 2}}, 0, {"2g.20gb@2", "overlap"}},
      {"illegal start", {{k2g, 1}}, 0, {"2g.20gb@1", "legal start"}},
      {"1g cannot start at 7", {{k1g, 7}}, 0, {"1g.10gb@7"}},
      {"two +me", {{k1gMe, 0}, {k1gMe, 1}}, 0, {"1g.10gb+me@1", "+me"}},
      {"unknown id", {{21, 0}}, 0, {"21", "H100-80GB"}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<uint8_t> mask = LayoutMask(h100, tc.layout);
    if (tc.needles.empty()) {
      ASSERT_TRUE(mask.ok()) << mask.status();
      EXPECT_EQ(*mask, tc.want_mask);
    } else {
      ExpectError(mask.status(), absl::StatusCode::kInvalidArgument, tc.needles);
    }
  }
}

// ---- Slot masks --------------------------------------------------------------------------------

TEST(MigSlotMaskTest, FreeStartsAndMaxInstances) {
  const MigGeometry& a100 = Geometry("A100-80GB");
  const MigGeometry& a30 = Geometry("A30");
  const struct {
    std::string name;
    const MigGeometry* geometry;
    uint8_t mask;
    int id;
    uint8_t want_starts;
    int want_max;
  } cases[] = {
      // Empty GPU: every legal start is free.
      {"empty 1g", &a100, 0x00, k1g, 0x7F, 7},
      {"empty 1g+me capped at one", &a100, 0x00, k1gMe, 0x7F, 1},
      {"empty 1g.2m", &a100, 0x00, k1gDouble, 0x55, 4},
      {"empty 2g", &a100, 0x00, k2g, 0x15, 3},
      {"empty 3g", &a100, 0x00, k3g, 0x11, 2},
      {"empty 4g", &a100, 0x00, k4g, 0x01, 1},
      {"empty 7g", &a100, 0x00, k7g, 0x01, 1},
      // After 1g@0 no 4g or 7g fits; 2g only at 2, 4; 3g only at 4.
      {"1g@0 then 4g", &a100, 0x01, k4g, 0x00, 0},
      {"1g@0 then 7g", &a100, 0x01, k7g, 0x00, 0},
      {"1g@0 then 2g", &a100, 0x01, k2g, 0x14, 2},
      {"1g@0 then 3g", &a100, 0x01, k3g, 0x10, 1},
      {"1g@0 then 1g", &a100, 0x01, k1g, 0x7E, 6},
      {"1g@0 then 1g.2m", &a100, 0x01, k1gDouble, 0x54, 3},
      // 3g@4 uses slots 4-7: the left half is intact (4g still fits, 7g does not).
      {"3g@4 then 1g", &a100, 0xF0, k1g, 0x0F, 4},
      {"3g@4 then 2g", &a100, 0xF0, k2g, 0x05, 2},
      {"3g@4 then 3g", &a100, 0xF0, k3g, 0x01, 1},
      {"3g@4 then 4g", &a100, 0xF0, k4g, 0x01, 1},
      {"3g@4 then 7g", &a100, 0xF0, k7g, 0x00, 0},
      // 7g needs mask 0: even slot 7 alone blocks it, and blocks 3g@4.
      {"slot 7 then 7g", &a100, 0x80, k7g, 0x00, 0},
      {"slot 7 then 3g", &a100, 0x80, k3g, 0x01, 1},
      {"slot 7 then 1g.2m", &a100, 0x80, k1gDouble, 0x15, 3},
      {"slot 7 then 1g", &a100, 0x80, k1g, 0x7F, 7},
      // 1g@4: 2g at 0, 2 but not 4 (and 2g cannot start at 5 or 6).
      {"1g@4 then 2g", &a100, 0x10, k2g, 0x05, 2},
      // 4g@0+2g@4+1g@6: slot 7's memory is dead for everything but 1g.2m@6 (blocked).
      {"4g@0+2g@4+1g@6 then 1g.2m", &a100, 0x7F, k1gDouble, 0x00, 0},
      {"full", &a100, 0xFF, k1g, 0x00, 0},
      // A30.
      {"A30 empty 2g", &a30, 0x00, kA30Id2g, 0x05, 2},
      {"A30 empty 4g", &a30, 0x00, kA30Id4g, 0x01, 1},
      {"A30 1g@0 then 2g", &a30, 0x01, kA30Id2g, 0x04, 1},
      {"A30 1g@0 then 4g", &a30, 0x01, kA30Id4g, 0x00, 0},
      {"A30 1g@0 then 1g", &a30, 0x01, kA30Id1g, 0x0E, 3},
      {"A30 1g@0 then 2g+me", &a30, 0x01, kA30Id2gMe, 0x04, 1},
      {"A30 bits 4-7 are ignored", &a30, 0xF0, kA30Id4g, 0x01, 1},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const MigProfile& profile = Profile(*tc.geometry, tc.id);
    EXPECT_EQ(FreeStarts(tc.mask, profile), tc.want_starts);
    EXPECT_EQ(MaxInstances(tc.mask, profile), tc.want_max);
  }
}

TEST(MigSlotMaskTest, FreeComputeSlices) {
  const MigGeometry& a100 = Geometry("A100-80GB");
  const MigGeometry& a30 = Geometry("A30");
  const struct {
    std::string name;
    const MigGeometry* geometry;
    uint8_t mask;
    int want;
  } cases[] = {
      {"empty", &a100, 0x00, 7},
      {"3g@0 strands its 4th slice", &a100, 0x0F, 3},
      {"3g@4 uses slot 7 for memory only", &a100, 0xF0, 4},
      {"slot 7 alone", &a100, 0x80, 7},
      {"1g.2m@0 strands a slice", &a100, 0x03, 5},
      {"1g.2m@6", &a100, 0xC0, 6},
      {"7 x 1g", &a100, 0x7F, 0},
      {"A30 empty", &a30, 0x00, 4},
      {"A30 2g@2", &a30, 0x0C, 2},
      {"A30 ignores bits 4-7", &a30, 0xF3, 2},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(FreeComputeSlices(*tc.geometry, tc.mask), tc.want);
  }
}

// ---- Fragmentation cost and best start ---------------------------------------------------------

// Uniform demand over the classic five profiles: p = 0.2 each for 1g, 2g, 3g, 4g, 7g.
std::vector<ProfileDemand> ClassicUniform() {
  return {{k1g, 1}, {k2g, 1}, {k3g, 1}, {k4g, 1}, {k7g, 1}};
}

TEST(MigSlotTableTest, CostsWorkedOutByHand) {
  const MigSlotTable table = Table(Geometry("A100-80GB"), ClassicUniform());
  // F(S) = 0.2 * sum over k of (free - k.compute * MaxInstances(S, k)).
  const struct {
    std::string name;
    uint8_t mask;
    double want;
  } cases[] = {
      // free 7: 1g 7-7=0, 2g 7-2*3=1, 3g 7-3*2=1, 4g 7-4=3, 7g 7-7=0 -> 0.2*5.
      {"empty", 0x00, 1.0},
      // 1g@0, free 6: 1g 0, 2g {2,4} 6-4=2, 3g {4} 6-3=3, 4g 6, 7g 6 -> 0.2*17.
      {"1g@0", 0x01, 3.4},
      // 4g@0 (or 3g@0), free 3: 1g 0, 2g {4} 3-2=1, 3g {4} 0, 4g 3, 7g 3 -> 0.2*7.
      {"left half used", 0x0F, 1.4},
      // 3g@4, free 4: 1g 0, 2g {0,2} 0, 3g {0} 1, 4g {0} 0, 7g 4 -> 0.2*5.
      {"3g@4", 0xF0, 1.0},
      // 1g@4+1g@5+1g@6, free 4: 1g 0, 2g {0,2} 0, 3g {0} 1, 4g 0, 7g 4 -> 0.2*5.
      {"1g@4..6", 0x70, 1.0},
      // 1g@6, free 6: 1g 0, 2g {0,2,4} 0, 3g {0} 3, 4g 2, 7g 6 -> 0.2*11.
      {"1g@6", 0x40, 2.2},
      // 1g@4, free 6: 1g 0, 2g {0,2} 2, 3g {0} 3, 4g 2, 7g 6 -> 0.2*13.
      {"1g@4", 0x10, 2.6},
      {"7 x 1g: nothing free", 0x7F, 0.0},
      {"full", 0xFF, 0.0},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_NEAR(table.Cost(tc.mask), tc.want, 1e-12);
  }
  for (int k = 0; k < 7; ++k) {
    // 1g+me and 1g.2m are not in the demand.
    const bool in_demand =
        k != Index(table.geometry(), k1gMe) && k != Index(table.geometry(), k1gDouble);
    EXPECT_NEAR(table.Probability(k), in_demand ? 0.2 : 0.0, 1e-12);
  }
}

TEST(MigSlotTableTest, BestStartsWorkedOutByHand) {
  const MigGeometry& a100 = Geometry("A100-80GB");
  const MigGeometry& a30 = Geometry("A30");
  const MigSlotTable uniform = Table(a100, ClassicUniform());
  const MigSlotTable four_and_one = Table(a100, {{k4g, 1}, {k1g, 1}});
  const MigSlotTable double_and_four = Table(a100, {{k1gDouble, 1}, {k4g, 1}});
  const MigSlotTable a30_uniform = Table(a30, {{kA30Id1g, 1}, {kA30Id2g, 1}, {kA30Id4g, 1}});
  const struct {
    std::string name;
    const MigSlotTable* table;
    uint8_t mask;
    int id;
    int want_start;
    double want_cost;
  } cases[] = {
      // Uniform classic five, new 1g on an empty GPU: F after 1g@s (see CostsWorkedOutByHand)
      // is 3.4 for s = 0..3, 2.6 for s = 4, 5 and 2.2 for s = 6: the odd slot 6 wins, because it
      // is the only one that keeps all three 2g starts.
      {"uniform: 1g goes to slot 6", &uniform, 0x00, k1g, 6, 2.2},
      // 2g@0 or 2g@2: free 5, 2g {one left} 1, 3g {4} 2, 4g 5, 7g 5 -> 2.6.
      // 2g@4: free 5, 1g 0, 2g {0,2} 1, 3g {0} 2, 4g {0} 1, 7g 5 -> 1.8.
      {"uniform: 2g goes to slot 4", &uniform, 0x00, k2g, 4, 1.8},
      // 3g@0 -> F(0x0F) = 1.4; 3g@4 -> F(0xF0) = 1.0: keep 4g possible.
      {"uniform: 3g goes to slot 4", &uniform, 0x00, k3g, 4, 1.0},
      {"uniform: 4g only at 0", &uniform, 0x00, k4g, 0, 1.4},
      {"uniform: 7g fills the GPU", &uniform, 0x00, k7g, 0, 0.0},
      {"uniform: 3g after 4g@0", &uniform, 0x0F, k3g, 4, 0.0},
      {"uniform: 1g does not fit", &uniform, 0x7F, k1g, -1, kInf},
      {"uniform: 7g does not fit next to anything", &uniform, 0x80, k7g, -1, kInf},
      // Demand 0.5 on 4g and 0.5 on 1g, new 1g on an empty GPU: 1g@0..3 kills 4g, so
      // F = 0.5 * 6 = 3; 1g@4..6 leaves 4g@0, F = 0.5 * (6 - 4) = 1. Tie -> lowest, slot 4.
      {"4g+1g demand: 1g avoids slots 0-3", &four_and_one, 0x00, k1g, 4, 1.0},
      // After 1g@4: 1g@0..3 -> 0.5 * 5 = 2.5; 1g@5 or 6 -> 0.5 * (5 - 4) = 0.5.
      {"4g+1g demand: second 1g at slot 5", &four_and_one, 0x10, k1g, 5, 0.5},
      // Demand 0.5 on 1g.2m and 0.5 on 4g, new 1g.2m:
      //   @0 or @2: free 5, 1g.2m 3 fit -> 2, 4g none -> 5: F = 3.5;
      //   @4: free 5, 1g.2m {0,2,6} -> 2, 4g -> 1: F = 1.5;
      //   @6: free 6 (slot 7 is memory only), 1g.2m {0,2,4} -> 3, 4g -> 2: F = 2.5.
      {"1g.2m+4g demand: 1g.2m goes to slot 4", &double_and_four, 0x00, k1gDouble, 4, 1.5},
      // A30, uniform over 1g, 2g, 4g. Empty GPU: every 1g start gives free 3, 2g one left
      // (3 - 2 = 1), 4g none (3): F = 4/3 for all four, so the lowest start wins.
      {"A30: first 1g ties, slot 0", &a30_uniform, 0x00, kA30Id1g, 0, 4.0 / 3},
      // After 1g@0: 1g@1 -> free 2, 2g {2} 0, 4g 2: F = 2/3; 1g@2 or 3 -> 2g none 2, 4g 2: 4/3.
      {"A30: second 1g pairs with the first", &a30_uniform, 0x01, kA30Id1g, 1, 2.0 / 3},
      // 2g@2 after 1g@0: free 1 (slot 1), 1g 0, 2g none 1, 4g none 1: F = 2/3.
      {"A30: 2g after 1g@0", &a30_uniform, 0x01, kA30Id2g, 2, 2.0 / 3},
      {"A30: high bits ignored", &a30_uniform, 0xF1, kA30Id1g, 1, 2.0 / 3},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const int k = Index(tc.table->geometry(), tc.id);
    EXPECT_EQ(tc.table->BestStart(tc.mask, k), tc.want_start);
    if (std::isinf(tc.want_cost)) {
      EXPECT_TRUE(std::isinf(tc.table->BestCost(tc.mask, k)));
    } else {
      EXPECT_NEAR(tc.table->BestCost(tc.mask, k), tc.want_cost, 1e-12);
    }
  }
}

TEST(MigSlotTableTest, RejectsBadDemand) {
  const MigGeometry& a100 = Geometry("A100-80GB");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const struct {
    std::string name;
    std::vector<ProfileDemand> demand;
    std::vector<std::string> needles;
  } cases[] = {
      {"empty", {}, {"empty", "A100-80GB"}},
      {"negative weight", {{k1g, 1}, {k2g, -0.5}}, {"-0.5", "profile ID 14", "non-negative"}},
      {"NaN weight", {{k1g, nan}}, {"nan", "finite"}},
      {"infinite weight", {{k1g, kInf}}, {"inf", "finite"}},
      {"all zero", {{k1g, 0}, {k2g, 0}}, {"positive", "sum"}},
      {"A30-only profile ID", {{k1g, 1}, {21, 1}}, {"21", "A100-80GB"}},
      {"duplicate", {{k1g, 1}, {k1g, 2}}, {"19", "more than once"}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(MigSlotTable::Create(a100, tc.demand).status(), absl::StatusCode::kInvalidArgument,
                tc.needles);
  }
}

// ---- Brute force -------------------------------------------------------------------------------
//
// An independent re-derivation of every table entry: slots are walked one by one (no SlotMask),
// the maximum number of instances is found by trying every subset of free starts, and the best
// start is the lowest start whose cost is within 1e-9 of the minimum.

struct Reference {
  uint8_t free_starts = 0;
  int max_instances = 0;
};

bool SlotsFree(const MigGeometry& g, const MigProfile& p, uint8_t mask, int start) {
  if (((p.start_mask >> start) & 1) == 0) {
    return false;
  }
  for (int slot = start; slot < start + p.memory_slots; ++slot) {
    if (slot >= g.memory_slots() || ((mask >> slot) & 1) != 0) {
      return false;
    }
  }
  return true;
}

uint8_t Occupy(const MigProfile& p, uint8_t mask, int start) {
  for (int slot = start; slot < start + p.memory_slots; ++slot) {
    mask |= uint8_t{1} << slot;
  }
  return mask;
}

Reference Recompute(const MigGeometry& g, const MigProfile& p, uint8_t mask) {
  Reference r;
  std::vector<int> starts;
  for (int s = 0; s < g.memory_slots(); ++s) {
    if (SlotsFree(g, p, mask, s)) {
      r.free_starts |= uint8_t{1} << s;
      starts.push_back(s);
    }
  }
  for (unsigned subset = 0; subset < (1u << starts.size()); ++subset) {
    uint8_t used = mask;
    bool ok = true;
    for (size_t i = 0; i < starts.size() && ok; ++i) {
      if (((subset >> i) & 1) == 0) {
        continue;
      }
      ok = SlotsFree(g, p, used, starts[i]);
      used = Occupy(p, used, starts[i]);
    }
    if (ok) {
      r.max_instances = std::max(r.max_instances, std::popcount(subset));
    }
  }
  if (p.media_extensions) {
    r.max_instances = std::min(r.max_instances, 1);
  }
  return r;
}

double RecomputeCost(const MigGeometry& g, const std::vector<double>& p, uint8_t mask) {
  int free = 0;
  for (int slot = 0; slot < g.compute_slices(); ++slot) {
    free += ((mask >> slot) & 1) == 0;
  }
  double cost = 0;
  for (int k = 0; k < g.num_profiles(); ++k) {
    const MigProfile& profile = g.profiles()[k];
    cost += p[k] * (free - profile.compute_slices * Recompute(g, profile, mask).max_instances);
  }
  return cost;
}

TEST(MigSlotTableTest, MatchesBruteForceForEveryMaskAndProfile) {
  const struct {
    std::string name;
    std::string model;
    std::vector<ProfileDemand> demand;
  } cases[] = {
      {"A100 classic uniform", "A100-80GB", ClassicUniform()},
      {"A100 all profiles, skewed",
       "A100-80GB",
       {{k1g, 40}, {k1gMe, 1}, {k1gDouble, 7}, {k2g, 20}, {k3g, 15}, {k4g, 10}, {k7g, 7}}},
      {"H200 small profiles only", "H200-141GB", {{k1g, 3}, {k2g, 1}}},
      {"A30 all profiles",
       "A30",
       {{kA30Id1g, 5}, {kA30Id1gMe, 1}, {kA30Id2g, 3}, {kA30Id2gMe, 1}, {kA30Id4g, 2}}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const MigGeometry& g = Geometry(tc.model);
    const MigSlotTable table = Table(g, tc.demand);
    std::vector<double> p(g.num_profiles(), 0.0);
    double total = 0;
    for (const ProfileDemand& d : tc.demand) {
      total += d.weight;
    }
    for (const ProfileDemand& d : tc.demand) {
      p[Index(g, d.profile_id)] = d.weight / total;
    }

    for (int m = 0; m < kNumSlotMasks; ++m) {
      const uint8_t mask = static_cast<uint8_t>(m);
      SCOPED_TRACE(m);
      // Bits beyond the model's slots are ignored: compare with the cleaned mask's recompute.
      const uint8_t clean = mask & static_cast<uint8_t>((1u << g.memory_slots()) - 1);
      ASSERT_NEAR(table.Cost(mask), RecomputeCost(g, p, clean), 1e-9);
      for (int k = 0; k < g.num_profiles(); ++k) {
        const MigProfile& profile = g.profiles()[k];
        SCOPED_TRACE(profile.name);
        const Reference want = Recompute(g, profile, clean);
        ASSERT_EQ(table.FreeStarts(mask, k), want.free_starts);
        ASSERT_EQ(FreeStarts(mask, profile), want.free_starts);
        ASSERT_EQ(table.MaxInstances(mask, k), want.max_instances);
        ASSERT_EQ(MaxInstances(mask, profile), want.max_instances);

        double min_cost = kInf;
        for (int s = 0; s < g.memory_slots(); ++s) {
          if ((want.free_starts >> s) & 1) {
            min_cost = std::min(min_cost, RecomputeCost(g, p, Occupy(profile, clean, s)));
          }
        }
        int want_start = -1;
        for (int s = 0; s < g.memory_slots() && want_start < 0; ++s) {
          if (((want.free_starts >> s) & 1) &&
              RecomputeCost(g, p, Occupy(profile, clean, s)) <= min_cost + 1e-9) {
            want_start = s;
          }
        }
        ASSERT_EQ(table.BestStart(mask, k), want_start);
        if (want_start < 0) {
          ASSERT_TRUE(std::isinf(table.BestCost(mask, k)));
        } else {
          ASSERT_NEAR(table.BestCost(mask, k), min_cost, 1e-9);
        }
      }
    }
  }
}

}  // namespace
}  // namespace accelsched::topology::mig
