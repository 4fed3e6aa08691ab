// Scenario mode of accelsched-sim (placeholder until the scenario format lands).
#ifndef ACCELSCHED_BENCH_SIM_SCENARIO_H_
#define ACCELSCHED_BENCH_SIM_SCENARIO_H_

namespace accelsched::sim {

// `accelsched-sim scenario ...`; returns the process exit code.
int RunScenarioCommand(int argc, char** argv);

}  // namespace accelsched::sim

#endif  // ACCELSCHED_BENCH_SIM_SCENARIO_H_
