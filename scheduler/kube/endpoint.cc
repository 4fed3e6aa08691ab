#include "scheduler/kube/endpoint.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "scheduler/codec/json_util.h"
#include "scheduler/codec/yaml.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler::kube {
namespace {

using codec::Json;

constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount/";

absl::Status Bad(const std::string& path, const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", field, ": ", why));
}

// "https://host:port" -> endpoint fields.
absl::Status ParseServer(const std::string& server, const std::string& where, Endpoint* e) {
  std::string rest = server;
  if (rest.rfind("https://", 0) == 0) {
    rest = rest.substr(8);
    e->https = true;
    e->port = 443;
  } else if (rest.rfind("http://", 0) == 0) {
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
  if (rest.empty())
    return absl::InvalidArgumentError(absl::StrCat(where, ": no host in '", server, "'"));
  e->host = rest;
  return absl::OkStatus();
}

// A named entry of a kubeconfig list ("clusters", "users", "contexts").
const Json* Named(const Json& root, const char* list, const std::string& name, const char* inner) {
  const Json* items = codec::Find(root, list);
  if (items == nullptr || !items->is_array()) return nullptr;
  for (const Json& item : *items) {
    if (item.is_object() && item.value("name", "") == name) return codec::Find(item, inner);
  }
  return nullptr;
}

std::string Relative(const std::string& kubeconfig, const std::string& file) {
  if (file.empty() || file[0] == '/') return file;
  const size_t slash = kubeconfig.rfind('/');
  return slash == std::string::npos ? file : kubeconfig.substr(0, slash + 1) + file;
}

// `<field>-data` (base64) or `<field>` (a file), as PEM text.
absl::StatusOr<std::string> DataOrFile(const Json& obj, const std::string& field,
                                       const std::string& path, const std::string& where,
                                       const FileReader& read) {
  if (const Json* d = codec::Find(obj, field + "-data"); d != nullptr) {
    if (!d->is_string()) return Bad(path, where + "." + field + "-data", "must be a string");
    std::string pem;
    if (!absl::Base64Unescape(d->get<std::string>(), &pem)) {
      return Bad(path, where + "." + field + "-data", "is not base64");
    }
    return pem;
  }
  if (const Json* f = codec::Find(obj, field); f != nullptr) {
    if (!f->is_string()) return Bad(path, where + "." + field, "must be a string");
    return read(Relative(path, f->get<std::string>()));
  }
  return std::string();
}

}  // namespace

FileReader RealFileReader() {
  return [](const std::string& path) -> absl::StatusOr<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
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
  ACCELSCHED_ASSIGN_OR_RETURN(Json root, codec::ParseJsonOrYaml(text, path));
  if (!root.is_object()) return Bad(path, "(top level)", "must be a mapping");
  std::string name = context_name;
  if (name.empty()) name = root.value("current-context", "");
  if (name.empty()) return Bad(path, "current-context", "not set (or give a context)");
  const Json* context = Named(root, "contexts", name, "context");
  if (context == nullptr)
    return Bad(path, "contexts", absl::StrCat("no context named '", name, "'"));
  const std::string cluster_name = context->value("cluster", "");
  const std::string user_name = context->value("user", "");
  const Json* cluster = Named(root, "clusters", cluster_name, "cluster");
  if (cluster == nullptr) {
    return Bad(path, "clusters", absl::StrCat("no cluster named '", cluster_name, "'"));
  }
  Endpoint e;
  const std::string where = absl::StrCat("clusters[", cluster_name, "].cluster");
  ACCELSCHED_RETURN_IF_ERROR(
      ParseServer(cluster->value("server", ""), path + ": " + where + ".server", &e));
  e.insecure_skip_verify = cluster->value("insecure-skip-tls-verify", false);
  ACCELSCHED_ASSIGN_OR_RETURN(e.ca_pem,
                              DataOrFile(*cluster, "certificate-authority", path, where, read));
  if (!user_name.empty()) {
    const Json* user = Named(root, "users", user_name, "user");
    if (user == nullptr) return Bad(path, "users", absl::StrCat("no user named '", user_name, "'"));
    const std::string uwhere = absl::StrCat("users[", user_name, "].user");
    if (codec::Find(*user, "exec") != nullptr || codec::Find(*user, "auth-provider") != nullptr) {
      return Bad(path, uwhere,
                 "exec and auth-provider credentials are not supported; use a token, a token "
                 "file or a client certificate (e.g. a service account's kubeconfig)");
    }
    e.token = user->value("token", "");
    if (const std::string f = user->value("tokenFile", ""); !f.empty()) {
      e.token_file = Relative(path, f);
      ACCELSCHED_ASSIGN_OR_RETURN(e.token, read(e.token_file));
    }
    ACCELSCHED_ASSIGN_OR_RETURN(e.client_cert_pem,
                                DataOrFile(*user, "client-certificate", path, uwhere, read));
    ACCELSCHED_ASSIGN_OR_RETURN(e.client_key_pem,
                                DataOrFile(*user, "client-key", path, uwhere, read));
    if (e.client_cert_pem.empty() != e.client_key_pem.empty()) {
      return Bad(path, uwhere, "client-certificate and client-key must be given together");
    }
  }
  while (!e.token.empty() && (e.token.back() == '\n' || e.token.back() == '\r')) e.token.pop_back();
  return e;
}

}  // namespace accelsched::scheduler::kube
