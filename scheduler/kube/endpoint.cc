#include "scheduler/kube/endpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "scheduler/codec/kubeconfig.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler::kube {
namespace {

constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount/";

absl::Status Bad(const std::string& path, const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", field, ": ", why));
}

// "https://host:port" -> endpoint fields.
absl::Status ParseServer(const std::string& server, const std::string& where, Endpoint* e) {
  std::string rest = server;
  if (absl::StartsWith(rest, "https://")) {
    rest = rest.substr(8);
    e->https = true;
    e->port = 443;
  } else if (absl::StartsWith(rest, "http://")) {
    rest = rest.substr(7);
    e->https = false;
    e->port = 80;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": '", server, "' must start with https:// or http://"));
  }
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    if (rest.substr(slash) != "/") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": '", server, "': a path after the host is not supported"));
    }
    rest = rest.substr(0, slash);
  }
  if (!rest.empty() && rest[0] == '[') {  // [IPv6]:port
    const size_t close = rest.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError(where + ": bad IPv6 host");
    e->host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] == ':' && !absl::SimpleAtoi(rest.substr(1), &e->port)) {
      return absl::InvalidArgumentError(where + ": bad port");
    }
    return absl::OkStatus();
  }
  if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    if (!absl::SimpleAtoi(rest.substr(colon + 1), &e->port) || e->port <= 0 || e->port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": bad port in '", server, "'"));
    }
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": no host in '", server, "'"));
  }
  e->host = rest;
  return absl::OkStatus();
}

std::string Relative(const std::string& kubeconfig, const std::string& file) {
  if (file.empty() || file[0] == '/') return file;
  const size_t slash = kubeconfig.rfind('/');
  return slash == std::string::npos ? file : kubeconfig.substr(0, slash + 1) + file;
}

// The PEM text of `pem`: its inline data, else the file it names (read now), else "".
absl::StatusOr<std::string> PemText(const codec::KubeconfigPem& pem, const std::string& path,
                                    const FileReader& read) {
  if (!pem.data.empty() || pem.file.empty()) return pem.data;
  return read(Relative(path, pem.file));
}

}  // namespace

FileReader RealFileReader(int64_t max_bytes) {
  return [max_bytes](const std::string& path) -> absl::StatusOr<std::string> {
    // Open first, then look at what was opened (no race between the check and the read).
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // FIFOs: no wait.
    if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": not a regular file",
                       S_ISDIR(st.st_mode) ? " (a directory)" : " (a device, FIFO or socket)"));
    }
    if (st.st_size > max_bytes) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", st.st_size, " bytes; the limit is ", max_bytes));
    }
    std::string text;
    char buf[1 << 16];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) != 0;) {
      if (n < 0 || static_cast<int64_t>(text.size()) + n > max_bytes) {
        close(fd);
        return absl::InvalidArgumentError(
            absl::StrCat(path, n < 0 ? ": read failed" : ": grew past the limit while being read"));
      }
      text.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return text;
  };
}

EnvLookup RealEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): start-up only.
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

absl::StatusOr<Endpoint> InClusterEndpoint(const EnvLookup& env, const FileReader& read) {
  std::optional<std::string> host = env("KUBERNETES_SERVICE_HOST");
  std::optional<std::string> port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port || host->empty()) {
    return absl::FailedPreconditionError(
        "not running in a pod (KUBERNETES_SERVICE_HOST/PORT unset); give --kubeconfig or "
        "--cluster");
  }
  Endpoint e;
  e.host = *host;
  if (!absl::SimpleAtoi(*port, &e.port)) {
    return absl::InvalidArgumentError(absl::StrCat("KUBERNETES_SERVICE_PORT '", *port, "'"));
  }
  e.token_file = absl::StrCat(kServiceAccountDir, "token");
  ACCELSCHED_ASSIGN_OR_RETURN(e.token, read(e.token_file));
  ACCELSCHED_ASSIGN_OR_RETURN(e.ca_pem, read(absl::StrCat(kServiceAccountDir, "ca.crt")));
  return e;
}

absl::StatusOr<Endpoint> KubeconfigEndpoint(absl::string_view text, const std::string& path,
                                            const std::string& context_name,
                                            const FileReader& read) {
  ACCELSCHED_ASSIGN_OR_RETURN(codec::Kubeconfig config,
                              codec::DecodeKubeconfig(text, path, context_name));
  Endpoint e;
  ACCELSCHED_RETURN_IF_ERROR(
      ParseServer(config.server, path + ": " + config.cluster_field + ".server", &e));
  e.insecure_skip_verify = config.insecure_skip_verify;
  ACCELSCHED_ASSIGN_OR_RETURN(e.ca_pem, PemText(config.certificate_authority, path, read));
  if (!config.user_field.empty()) {
    e.token = config.token;
    if (!config.token_file.empty()) {
      e.token_file = Relative(path, config.token_file);
      ACCELSCHED_ASSIGN_OR_RETURN(e.token, read(e.token_file));
    }
    ACCELSCHED_ASSIGN_OR_RETURN(e.client_cert_pem, PemText(config.client_certificate, path, read));
    ACCELSCHED_ASSIGN_OR_RETURN(e.client_key_pem, PemText(config.client_key, path, read));
    if (e.client_cert_pem.empty() != e.client_key_pem.empty()) {
      return Bad(path, config.user_field,
                 "client-certificate and client-key must be given together");
    }
  }
  while (!e.token.empty() && (e.token.back() == '\n' || e.token.back() == '\r')) e.token.pop_back();
  return e;
}

}  // namespace accelsched::scheduler::kube
