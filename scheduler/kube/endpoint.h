// Where the Kubernetes API server is and how to authenticate to it (DESIGN section 8):
// in-cluster (the pod's service account) or a kubeconfig file.
//
// Thread-safety: plain values and pure functions.
#ifndef ACCELSCHED_SCHEDULER_KUBE_ENDPOINT_H_
#define ACCELSCHED_SCHEDULER_KUBE_ENDPOINT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace accelsched::scheduler::kube {

struct Endpoint {
  std::string host;
  int port = 443;
  bool https = true;
  bool insecure_skip_verify = false;
  std::string ca_pem;      // PEM; empty = the system's CA store.
  std::string token;       // Bearer token; empty = none.
  std::string token_file;  // Re-read before each request when set (projected tokens rotate).
  std::string client_cert_pem;
  std::string client_key_pem;
};

// Reads a file's contents (injected for tests). NotFound/InvalidArgument naming the path.
using FileReader = std::function<absl::StatusOr<std::string>(const std::string& path)>;
// Looks up an environment variable.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Reads regular files only (a directory, device or FIFO is InvalidArgument naming the path), of at
// most `max_bytes` (InvalidArgument naming the size); NotFound if it cannot be opened.
inline constexpr int64_t kMaxInputFileBytes = int64_t{256} << 20;
FileReader RealFileReader(int64_t max_bytes = kMaxInputFileBytes);
EnvLookup RealEnv();

// In-cluster: KUBERNETES_SERVICE_HOST/PORT, the token and CA under
// /var/run/secrets/kubernetes.io/serviceaccount/. FailedPrecondition if not in a pod.
absl::StatusOr<Endpoint> InClusterEndpoint(const EnvLookup& env, const FileReader& read);

// A kubeconfig (YAML): the context `context` (empty = current-context), its cluster's server,
// certificate-authority(-data), insecure-skip-tls-verify, and its user's token, tokenFile,
// client-certificate(-data) and client-key(-data). Relative file paths are relative to the
// kubeconfig's folder. InvalidArgument naming the field for anything missing or unsupported
// (e.g. exec plugins).
absl::StatusOr<Endpoint> KubeconfigEndpoint(absl::string_view text, const std::string& path,
                                            const std::string& context, const FileReader& read);

}  // namespace accelsched::scheduler::kube

#endif  // ACCELSCHED_SCHEDULER_KUBE_ENDPOINT_H_
