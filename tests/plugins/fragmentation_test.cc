#include "plugins/share_fragmentation/fragmentation.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

#include "plugins/framework/snapshot.h"
#include "tests/testing/builders.h"

namespace accelsched::plugins {
namespace {

using ::accelsched::testing::Pod;
using ::accelsched::testing::Shape;

std::vector<PodRequest> Repeat(int n, const PodRequest& pod) {
  return std::vector<PodRequest>(static_cast<size_t>(n), pod);
}

std::vector<PodRequest> Concat(std::vector<std::vector<PodRequest>> parts) {
  std::vector<PodRequest> out;
  for (auto& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

// ---- ShapeOf / TypicalShapes --------------------------------------------------------------------

TEST(ShapeOfTest, MapsRequestsToShapes) {
  const struct {
    std::string name;
    PodRequest pod;
    TaskShape want;
  } cases[] = {
      {"CPU 0 counts as 100m", Pod().Cpu(0), Shape(100, 0, 0, 0)},
      {"CPU-only drops models", Pod().Cpu(300).Models({"A"}), Shape(300, 0, 0, 0)},
      {"whole GPUs are 1000 milli each", Pod().Cpu(1000).Gpus(4), Shape(1000, 4, 1000, 0)},
      {"share is one GPU", Pod().Cpu(1000).Share(250).Models({"A", "B"}),
       Shape(1000, 1, 250, 0, {"A", "B"})},
      {"MIG maps to CPU-only", Pod().Cpu(500).Mig(3), Shape(500, 0, 0, 0)},
      {"memory is not part of a shape", Pod().Cpu(500).Mem(123456).Share(10), Shape(500, 1, 10, 0)},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(ShapeOf(tc.pod), tc.want);
  }
}

TEST(TypicalShapesTest, CoverageCutoffIncludesTheCrossingShape) {
  // 10 pods: 4 x (1000m, share 500), 3 x (0 -> 100m, 1 GPU), 2 x (2000m, share 250),
  // 1 x (500m, CPU only). Counts are distinct, so the order is 4, 3, 2, 1.
  const std::vector<PodRequest> pods =
      Concat({Repeat(4, Pod().Cpu(1000).Share(500)), Repeat(2, Pod().Cpu(2000).Share(250)),
              Repeat(3, Pod().Cpu(0).Gpus(1)), Repeat(1, Pod().Cpu(500))});
  const TaskShape s4 = Shape(1000, 1, 500, 0);
  const TaskShape s3 = Shape(100, 1, 1000, 0);
  const TaskShape s2 = Shape(2000, 1, 250, 0);
  const TaskShape s1 = Shape(500, 0, 0, 0);
  auto with_p = [](TaskShape s, double p) {
    s.popularity = p;
    return s;
  };
  const struct {
    std::string name;
    double coverage;
    std::vector<TaskShape> want;
  } cases[] = {
      // 0 < 0.35: take 4 (covered 0.4 >= 0.35, stop). Renormalised: 4/4 = 1.
      {"first shape crosses", 0.35, {with_p(s4, 1.0)}},
      // 0.4 < 0.6: take 3 (0.7 >= 0.6, stop). 4/7, 3/7.
      {"second shape crosses", 0.6, {with_p(s4, 4.0 / 7), with_p(s3, 3.0 / 7)}},
      // 0.7 < 0.85: take 2 (0.9). 4/9, 3/9, 2/9.
      {"third shape crosses",
       0.85,
       {with_p(s4, 4.0 / 9), with_p(s3, 3.0 / 9), with_p(s2, 2.0 / 9)}},
      // 0.9 < 0.95: take 1 (1.0). 4/10, 3/10, 2/10, 1/10.
      {"default 95%", 0.95, {with_p(s4, 0.4), with_p(s3, 0.3), with_p(s2, 0.2), with_p(s1, 0.1)}},
      {"everything", 1.0, {with_p(s4, 0.4), with_p(s3, 0.3), with_p(s2, 0.2), with_p(s1, 0.1)}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<std::vector<TaskShape>> got = TypicalShapes(pods, tc.coverage);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), tc.want.size());
    double sum = 0;
    for (size_t i = 0; i < tc.want.size(); ++i) {
      SCOPED_TRACE(i);
      TaskShape g = (*got)[i];
      EXPECT_NEAR(g.popularity, tc.want[i].popularity, 1e-12);
      sum += g.popularity;
      g.popularity = tc.want[i].popularity;
      EXPECT_EQ(g, tc.want[i]);
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
}

TEST(TypicalShapesTest, TiesOrderedByCpuMilliCountModelsDescending) {
  // Seven shapes, one pod each (so every count ties), listed in no particular order.
  const std::vector<PodRequest> pods = {
      Pod().Cpu(1000).Share(300),
      Pod().Cpu(1000).Gpus(1),
      Pod().Cpu(1000).Share(300).Models({"A"}),
      Pod().Cpu(2000),
      Pod().Cpu(1000).Share(700),
      Pod().Cpu(1000).Share(300).Models({"B"}),
      Pod().Cpu(1000).Gpus(2),
  };
  // Descending by cpu (2000 first), then gpu milli (1000 > 700 > 300), then gpu count (2 > 1),
  // then the models string ("B" > "A" > "").
  const double p = 1.0 / 7;
  const std::vector<TaskShape> want = {
      Shape(2000, 0, 0, p),   Shape(1000, 2, 1000, p),       Shape(1000, 1, 1000, p),
      Shape(1000, 1, 700, p), Shape(1000, 1, 300, p, {"B"}), Shape(1000, 1, 300, p, {"A"}),
      Shape(1000, 1, 300, p),
  };
  absl::StatusOr<std::vector<TaskShape>> got = TypicalShapes(pods, 1.0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    TaskShape g = (*got)[i];
    EXPECT_NEAR(g.popularity, p, 1e-12);
    g.popularity = p;
    EXPECT_EQ(g, want[i]);
  }
}

TEST(TypicalShapesTest, MergesCpuZeroWithOneHundredAndIgnoresMemory) {
  // (0m, share 500) and (100m, share 500) are one shape (3 pods); (100m CPU-only) x 1.
  const std::vector<PodRequest> pods = {Pod().Cpu(0).Share(500), Pod().Cpu(100).Share(500).Mem(7),
                                        Pod().Cpu(100).Share(500), Pod().Cpu(100)};
  absl::StatusOr<std::vector<TaskShape>> got = TypicalShapes(pods, 1.0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0], Shape(100, 1, 500, 0.75));  // 3/4.
  EXPECT_EQ((*got)[1], Shape(100, 0, 0, 0.25));    // 1/4.
}

TEST(TypicalShapesTest, RejectsEmptyInputAndBadCoverage) {
  const std::vector<PodRequest> one = {Pod().Cpu(1)};
  const struct {
    std::string name;
    std::vector<PodRequest> pods;
    double coverage;
  } cases[] = {
      {"no pods", {}, 0.95},
      {"coverage 0", one, 0.0},
      {"negative coverage", one, -0.1},
      {"coverage above 1", one, 1.5},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(TypicalShapes(tc.pods, tc.coverage).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// ---- FragmentationModel -------------------------------------------------------------------------

TEST(FragmentationModelTest, CreateValidatesPopularities) {
  const std::vector<std::string> models = {"V100"};
  const struct {
    std::string name;
    std::vector<TaskShape> shapes;
    bool ok;
  } cases[] = {
      {"no shapes", {}, false},
      {"negative popularity", {Shape(100, 1, 500, 1.5), Shape(100, 0, 0, -0.5)}, false},
      {"sum 0.9", {Shape(100, 1, 500, 0.5), Shape(100, 0, 0, 0.4)}, false},
      {"sum 1 + 1e-5", {Shape(100, 1, 500, 0.5), Shape(100, 0, 0, 0.50001)}, false},
      {"sum 1 within 1e-6", {Shape(100, 1, 500, 0.5), Shape(100, 0, 0, 0.5000001)}, true},
      {"single shape", {Shape(100, 1, 500, 1.0)}, true},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<FragmentationModel> m = FragmentationModel::Create(tc.shapes, models);
    EXPECT_EQ(m.ok(), tc.ok) << m.status();
    if (!m.ok()) {
      EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(FragmentationModelTest, NodeFragmentByHand) {
  // Shapes: A = (100m, 1 GPU, 500 milli) p 1/2; B = (100m, 2 GPUs, 1000) p 1/4;
  // C = (100m, CPU only) p 1/4. The node's model is index 0 ("V100").
  const std::vector<std::string> models = {"V100"};
  const std::vector<TaskShape> shapes = {Shape(100, 1, 500, 0.5), Shape(100, 2, 1000, 0.25),
                                         Shape(100, 0, 0, 0.25)};
  // A restricted to H100 (not in the cluster): never hosted.
  const std::vector<TaskShape> h100_only = {Shape(100, 1, 500, 0.5, {"H100"}),
                                            Shape(100, 2, 1000, 0.25), Shape(100, 0, 0, 0.25)};
  absl::StatusOr<FragmentationModel> m = FragmentationModel::Create(shapes, models);
  absl::StatusOr<FragmentationModel> mh = FragmentationModel::Create(h100_only, models);
  ASSERT_TRUE(m.ok() && mh.ok());
  const struct {
    std::string name;
    const FragmentationModel* model;
    int64_t cpu;
    std::vector<int16_t> free;
    double want;
  } cases[] = {
      // R = 2800. A hosted: GPUs < 500 = 200. B hosted (two 1000s): GPUs < 1000 = 800. C: R.
      // 0.5*200 + 0.25*800 + 0.25*2800 = 100 + 200 + 700 = 1000.
      {"mixed node", &*m, 8000, {1000, 1000, 600, 200}, 1000},
      // 50m < 100m: nothing hosted, F = R = 2800.
      {"CPU too small for every shape", &*m, 50, {1000, 1000, 600, 200}, 2800},
      // R = 2400. A: 200. B: one 1000 only -> R = 2400. C: 2400.
      // 0.5*200 + 0.25*2400 + 0.25*2400 = 100 + 600 + 600 = 1300.
      {"one free GPU short for B", &*m, 8000, {1000, 600, 600, 200}, 1300},
      // R = 700; no GPU >= 500: all R.
      {"only small pieces", &*m, 8000, {400, 300}, 700},
      {"nothing free", &*m, 8000, {0, 0}, 0},
      {"no GPUs", &*m, 8000, {}, 0},
      // A -> R = 2800: 0.5*2800 + 0.25*800 + 0.25*2800 = 1400 + 200 + 700 = 2300.
      {"model excluded", &*mh, 8000, {1000, 1000, 600, 200}, 2300},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_DOUBLE_EQ(tc.model->NodeFragment(0, tc.cpu, tc.free), tc.want);
  }
}

TEST(FragmentationModelTest, NodeInfoOverloadZeroesMigGpus) {
  // 2 x A100-80GB, GPU 0 in MIG mode (unused: shows 1000 milli but cannot take a share).
  ClusterSnapshotBuilder b;
  NodeSpec s;
  s.name = "a";
  s.cpu_milli = 4000;
  s.gpu_model = "A100-80GB";
  s.gpu_count = 2;
  s.mig_enabled = 0b01;
  b.AddNode(s);
  absl::StatusOr<ClusterSnapshot> snap = std::move(b).Build();
  ASSERT_TRUE(snap.ok());
  const NodeInfo& node = snap->node(0);
  EXPECT_EQ(ShareableFree(node)[0], 0);
  EXPECT_EQ(ShareableFree(node)[1], 1000);
  // Shape (100m, 2 GPUs, 1000) p 1: as seen, [0, 1000] hosts nothing, F = R = 1000. Were the MIG
  // GPU counted, [1000, 1000] would host it and F would be 0.
  absl::StatusOr<FragmentationModel> m =
      FragmentationModel::Create({Shape(100, 2, 1000, 1.0)}, snap->models());
  ASSERT_TRUE(m.ok());
  EXPECT_DOUBLE_EQ(m->NodeFragment(node), 1000);
}

// Independent re-statement of the per-shape definition (fragmentation.h), shape by shape.
double OracleFragment(const std::vector<TaskShape>& shapes, const std::vector<std::string>& models,
                      int model, int64_t cpu_free, const std::vector<int16_t>& free) {
  double r = 0;
  for (int16_t f : free) {
    r += f;
  }
  double total = 0;
  for (const TaskShape& s : shapes) {
    bool model_ok = s.allowed_models.empty();
    for (const std::string& name : s.allowed_models) {
      model_ok = model_ok || (model >= 0 && models[static_cast<size_t>(model)] == name);
    }
    double frag = r;
    if (s.gpu_count > 0 && model_ok && cpu_free >= s.cpu_milli) {
      int big_enough = 0;
      double too_small = 0;
      for (int16_t f : free) {
        if (f >= s.gpu_milli) {
          ++big_enough;
        } else {
          too_small += f;
        }
      }
      if (big_enough >= s.gpu_count) {
        frag = too_small;
      }
    }
    total += s.popularity * frag;
  }
  return total;
}

// Random popularities as multiples of 1/64 (exact in binary), each >= 1/64, summing to 1.
std::vector<double> DyadicPopularities(int n, std::mt19937& rng) {
  std::vector<int> w(static_cast<size_t>(n), 1);
  std::uniform_int_distribution<int> pick(0, n - 1);
  for (int left = 64 - n; left > 0; --left) {
    ++w[static_cast<size_t>(pick(rng))];
  }
  std::vector<double> p;
  p.reserve(w.size());
  for (int x : w) {
    p.push_back(x / 64.0);
  }
  return p;
}

std::vector<TaskShape> RandomShapes(std::mt19937& rng) {
  std::uniform_int_distribution<int> count(1, 6);
  std::uniform_int_distribution<int> die(0, 99);
  const int64_t cpus[] = {100, 1000, 2000, 4000, 8000};
  const int shares[] = {100, 250, 300, 500, 700, 999};
  const int gpu_counts[] = {1, 2, 4, 8};
  const char* names[] = {"A", "B", "D"};  // "D" is not in the cluster.
  const int n = count(rng);
  const std::vector<double> p = DyadicPopularities(n, rng);
  std::vector<TaskShape> shapes;
  for (int i = 0; i < n; ++i) {
    TaskShape s;
    s.cpu_milli = cpus[die(rng) % 5];
    const int kind = die(rng);
    if (kind < 20) {
      // CPU only.
    } else if (kind < 60) {
      s.gpu_count = 1;
      s.gpu_milli = die(rng) < 50 ? shares[die(rng) % 6] : 1 + die(rng) * 10;
    } else {
      s.gpu_count = gpu_counts[die(rng) % 4];
      s.gpu_milli = 1000;
    }
    if (s.gpu_count > 0 && die(rng) < 30) {
      for (const char* m : names) {
        if (die(rng) < 50) {
          s.allowed_models.emplace_back(m);
        }
      }
      if (s.allowed_models.empty()) {
        s.allowed_models.emplace_back(names[die(rng) % 3]);
      }
    }
    s.popularity = p[static_cast<size_t>(i)];
    shapes.push_back(std::move(s));
  }
  return shapes;
}

std::vector<int16_t> RandomFree(int gpus, std::mt19937& rng) {
  const int16_t picks[] = {0, 100, 250, 300, 500, 700, 999, 1000};
  std::uniform_int_distribution<int> die(0, 9);
  std::uniform_int_distribution<int> any(0, 1000);
  std::vector<int16_t> free;
  for (int i = 0; i < gpus; ++i) {
    const int d = die(rng);
    free.push_back(d < 8 ? picks[d] : static_cast<int16_t>(any(rng)));
  }
  return free;
}

TEST(FragmentationModelTest, NodeFragmentMatchesPerShapeDefinitionOnRandomNodes) {
  const std::vector<std::string> models = {"A", "B", "C"};
  std::mt19937 rng(20230710);  // Fixed seed: the test is deterministic.
  const int gpu_counts[] = {1, 2, 4, 8};
  const int64_t cpus[] = {0, 50, 100, 999, 1000, 2000, 4000, 10000};
  std::uniform_int_distribution<int> die(0, 1 << 20);
  int checked = 0;
  int nonzero = 0;
  for (int round = 0; round < 300; ++round) {
    const std::vector<TaskShape> shapes = RandomShapes(rng);
    absl::StatusOr<FragmentationModel> m = FragmentationModel::Create(shapes, models);
    ASSERT_TRUE(m.ok()) << m.status();
    for (int node = 0; node < 20; ++node) {
      const int g = gpu_counts[die(rng) % 4];
      const int model = die(rng) % 3;
      const int64_t cpu = cpus[die(rng) % 8];
      const std::vector<int16_t> free = RandomFree(g, rng);
      const double want = OracleFragment(shapes, models, model, cpu, free);
      const double got = m->NodeFragment(static_cast<int16_t>(model), cpu, free);
      ASSERT_NEAR(got, want, 1e-9) << "round " << round << " node " << node;
      ++checked;
      nonzero += want > 0;
    }
  }
  EXPECT_EQ(checked, 6000);
  EXPECT_GT(nonzero, 3000);  // The random nodes are not trivially empty.
}

}  // namespace
}  // namespace accelsched::plugins
