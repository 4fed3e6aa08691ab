#include "scheduler/codec/kubeconfig.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#include "scheduler/codec/json.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler::codec {
namespace {

absl::Status Bad(const std::string& path, const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", field, ": ", why));
}

// A named entry of a kubeconfig list ("clusters", "users", "contexts"): its `inner` object.
const Json* Named(const Json& root, const char* list, const std::string& name, const char* inner) {
  const Json* items = Find(root, list);
  if (items == nullptr || !items->is_array()) return nullptr;
  for (const Json& item : *items) {
    const Json* n = Find(item, "name");
    if (n != nullptr && n->is_string() && n->get_ref<const std::string&>() == name) {
      return Find(item, inner);
    }
  }
  return nullptr;
}

// A string field (`where`.`key`), "" when absent.
absl::StatusOr<std::string> Text(const Json& obj, const char* key, const std::string& path,
                                 const std::string& where) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return std::string();
  if (!v->is_string()) return Bad(path, absl::StrCat(where, ".", key), "must be a string");
  return v->get<std::string>();
}

// `<field>-data` (base64) or `<field>` (a file).
absl::StatusOr<KubeconfigPem> Pem(const Json& obj, const std::string& field,
                                  const std::string& path, const std::string& where) {
  KubeconfigPem out;
  if (const Json* d = Find(obj, field + "-data"); d != nullptr) {
    if (!d->is_string()) return Bad(path, where + "." + field + "-data", "must be a string");
    if (!absl::Base64Unescape(d->get<std::string>(), &out.data)) {
      return Bad(path, where + "." + field + "-data", "is not base64");
    }
    return out;
  }
  ACCELSCHED_ASSIGN_OR_RETURN(out.file, Text(obj, field.c_str(), path, where));
  return out;
}

absl::Status DecodeCluster(const Json& cluster, const std::string& path, Kubeconfig* out) {
  const std::string& where = out->cluster_field;
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(cluster, absl::StrCat(path, ": ", where)));
  ACCELSCHED_ASSIGN_OR_RETURN(out->server, Text(cluster, "server", path, where));
  if (const Json* insecure = Find(cluster, "insecure-skip-tls-verify"); insecure != nullptr) {
    if (!insecure->is_boolean()) {
      return Bad(path, where + ".insecure-skip-tls-verify", "must be true or false");
    }
    out->insecure_skip_verify = insecure->get<bool>();
  }
  ACCELSCHED_ASSIGN_OR_RETURN(out->certificate_authority,
                              Pem(cluster, "certificate-authority", path, where));
  return absl::OkStatus();
}

absl::Status DecodeUser(const Json& user, const std::string& path, Kubeconfig* out) {
  const std::string& where = out->user_field;
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(user, absl::StrCat(path, ": ", where)));
  if (Find(user, "exec") != nullptr || Find(user, "auth-provider") != nullptr) {
    return Bad(path, where,
               "exec and auth-provider credentials are not supported; use a token, a token "
               "file or a client certificate (e.g. a service account's kubeconfig)");
  }
  ACCELSCHED_ASSIGN_OR_RETURN(out->token, Text(user, "token", path, where));
  ACCELSCHED_ASSIGN_OR_RETURN(out->token_file, Text(user, "tokenFile", path, where));
  ACCELSCHED_ASSIGN_OR_RETURN(out->client_certificate,
                              Pem(user, "client-certificate", path, where));
  ACCELSCHED_ASSIGN_OR_RETURN(out->client_key, Pem(user, "client-key", path, where));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Kubeconfig> DecodeKubeconfig(absl::string_view text, const std::string& path,
                                            const std::string& context_name) {
  ACCELSCHED_ASSIGN_OR_RETURN(Json root, ParseJsonOrYaml(text, path));
  if (!root.is_object()) return Bad(path, "(top level)", "must be a mapping");
  std::string name = context_name;
  if (name.empty()) {
    ACCELSCHED_ASSIGN_OR_RETURN(name, Text(root, "current-context", path, "(top level)"));
  }
  if (name.empty()) return Bad(path, "current-context", "not set (or give a context)");
  const Json* context = Named(root, "contexts", name, "context");
  if (context == nullptr || !context->is_object()) {
    return Bad(path, "contexts", absl::StrCat("no context named '", name, "'"));
  }
  const std::string where = absl::StrCat("contexts[", name, "].context");
  ACCELSCHED_ASSIGN_OR_RETURN(const std::string cluster_name,
                              Text(*context, "cluster", path, where));
  ACCELSCHED_ASSIGN_OR_RETURN(const std::string user_name, Text(*context, "user", path, where));
  const Json* cluster = Named(root, "clusters", cluster_name, "cluster");
  if (cluster == nullptr) {
    return Bad(path, "clusters", absl::StrCat("no cluster named '", cluster_name, "'"));
  }
  Kubeconfig out;
  out.cluster_field = absl::StrCat("clusters[", cluster_name, "].cluster");
  ACCELSCHED_RETURN_IF_ERROR(DecodeCluster(*cluster, path, &out));
  if (user_name.empty()) return out;
  const Json* user = Named(root, "users", user_name, "user");
  if (user == nullptr) return Bad(path, "users", absl::StrCat("no user named '", user_name, "'"));
  out.user_field = absl::StrCat("users[", user_name, "].user");
  ACCELSCHED_RETURN_IF_ERROR(DecodeUser(*user, path, &out));
  return out;
}

}  // namespace accelsched::scheduler::codec
