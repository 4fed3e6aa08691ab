// A kubeconfig file (YAML or JSON) decoded for one context: the parts the API client needs, as
// written. Reading the files it names and checking the server URL are the client's
// (kube/endpoint.h), which knows the file system; this is only the document.
//
// Thread-safety: pure functions.
#ifndef ACCELSCHED_SCHEDULER_CODEC_KUBECONFIG_H_
#define ACCELSCHED_SCHEDULER_CODEC_KUBECONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace accelsched::scheduler::codec {

// A PEM given inline (`<field>-data`, base64) or as a file (`<field>`); both empty if neither.
struct KubeconfigPem {
  std::string data;  // Decoded from base64.
  std::string file;  // As written (relative paths are relative to the kubeconfig's folder).
};

struct Kubeconfig {
  std::string cluster_field;  // "clusters[NAME].cluster", for messages.
  std::string server;
  bool insecure_skip_verify = false;
  KubeconfigPem certificate_authority;
  std::string user_field;  // "users[NAME].user"; empty when the context names no user.
  std::string token;
  std::string token_file;
  KubeconfigPem client_certificate;
  KubeconfigPem client_key;
};

// The context `context` (empty: current-context) of kubeconfig `text` read from `path`.
// InvalidArgument "<path>: <field>: <why>" for anything missing, mistyped or unsupported (exec and
// auth-provider credentials).
absl::StatusOr<Kubeconfig> DecodeKubeconfig(absl::string_view text, const std::string& path,
                                            const std::string& context);

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_SCHEDULER_CODEC_KUBECONFIG_H_
