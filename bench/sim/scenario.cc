#include "bench/sim/scenario.h"

#include <iostream>

namespace accelsched::sim {

int RunScenarioCommand(int /*argc*/, char** /*argv*/) {
  std::cerr << "accelsched-sim: scenario mode is not built yet\n";
  return 1;
}

}  // namespace accelsched::sim
