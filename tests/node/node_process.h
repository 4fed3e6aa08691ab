// The real accelsched-node binary as a child process, for the demo's node act and the load tool:
// a kubeconfig for a (fake) API server and `accelsched-node serve` started against it.
#ifndef ACCELSCHED_TESTS_NODE_NODE_PROCESS_H_
#define ACCELSCHED_TESTS_NODE_NODE_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace accelsched::testing {

// `dir`/kubeconfig for the API server at http://127.0.0.1:`port`; returns its path.
inline std::string WriteKubeconfig(int port, const std::string& dir) {
  const std::string path = dir + "/kubeconfig";
  std::ofstream(path) << "apiVersion: v1\nkind: Config\nclusters:\n- name: demo\n  cluster:\n"
                      << "    server: http://127.0.0.1:" << port << "\nusers:\n- name: demo\n"
                      << "  user:\n    token: demo\ncontexts:\n- name: demo\n  context:\n"
                      << "    cluster: demo\n    user: demo\ncurrent-context: demo\n";
  return path;
}

// Starts `argv` (argv[0] the binary's path) with stdout and stderr to `log`, in this process's
// environment plus `env` ("NAME=value" each). The pid, or -1.
inline pid_t StartProcess(std::vector<std::string> argv, const std::string& log,
                          std::vector<std::string> env = {}) {
  std::vector<char*> c;
  for (std::string& s : argv) c.push_back(s.data());
  c.push_back(nullptr);
  std::vector<char*> e;
  for (char** v = environ; *v != nullptr; ++v) e.push_back(*v);
  for (std::string& s : env) e.push_back(s.data());
  e.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  pid_t pid = -1;
  if (posix_spawn(&pid, c[0], &actions, nullptr, c.data(), e.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Starts `binary` serve for `node` with the kubeconfig and plugin directory in `dir` and NVML from
// `nvml` (its config in $ACCELSCHED_FAKE_NVML) and the `extra` flags; its log goes to
// `dir`/node.log. The pid, or -1.
inline pid_t StartNodeProcess(const std::string& binary, const std::string& nvml,
                              const std::string& node, const std::string& dir,
                              const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {binary,           "serve",
                                   "--node=" + node, "--kubeconfig=" + dir + "/kubeconfig",
                                   "--nvml=" + nvml, "--plugin-dir=" + dir};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return StartProcess(std::move(argv), dir + "/node.log");
}

inline void StopNodeProcess(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

}  // namespace accelsched::testing

#endif  // ACCELSCHED_TESTS_NODE_NODE_PROCESS_H_
