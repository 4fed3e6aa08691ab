#include "scheduler/kube/client.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace accelsched::scheduler::kube {
namespace {

absl::Status FromHttp(int status, const std::string& what, const std::string& body) {
  const std::string msg = absl::StrCat(what, ": HTTP ", status, ": ", body.substr(0, 300));
  if (status == 401 || status == 403) return absl::PermissionDeniedError(msg);
  if (status == 404) return absl::NotFoundError(msg);
  if (status == 409) return absl::AlreadyExistsError(msg);
  if (status == 410) return absl::AbortedError(msg);
  if (status >= 400 && status < 500) return absl::InvalidArgumentError(msg);
  return absl::UnavailableError(msg);
}

struct Pem {
  Pem() = default;
  Pem(const Pem&) = delete;
  Pem& operator=(const Pem&) = delete;
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  ~Pem() {
    if (cert != nullptr) X509_free(cert);
    if (key != nullptr) EVP_PKEY_free(key);
  }
};

// A fresh store with every certificate of a PEM bundle (the client's SSL_CTX takes ownership).
absl::StatusOr<X509_STORE*> CaStore(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_STORE* store = X509_STORE_new();
  int n = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++n;
  }
  BIO_free(bio);
  if (n == 0) {
    X509_STORE_free(store);
    return absl::InvalidArgumentError("certificate authority: no PEM certificate found");
  }
  return store;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KubeClient>> KubeClient::Create(Endpoint endpoint, FileReader read) {
  if (endpoint.host.empty()) return absl::InvalidArgumentError("API server: no host");
  if (!endpoint.ca_pem.empty()) {
    absl::StatusOr<X509_STORE*> store = CaStore(endpoint.ca_pem);
    if (!store.ok()) return store.status();
    X509_STORE_free(*store);
  }
  if (!endpoint.client_cert_pem.empty()) {
    Pem pem;
    BIO* c = BIO_new_mem_buf(endpoint.client_cert_pem.data(),
                             static_cast<int>(endpoint.client_cert_pem.size()));
    pem.cert = PEM_read_bio_X509(c, nullptr, nullptr, nullptr);
    BIO_free(c);
    BIO* k = BIO_new_mem_buf(endpoint.client_key_pem.data(),
                             static_cast<int>(endpoint.client_key_pem.size()));
    pem.key = PEM_read_bio_PrivateKey(k, nullptr, nullptr, nullptr);
    BIO_free(k);
    if (pem.cert == nullptr || pem.key == nullptr) {
      return absl::InvalidArgumentError("client certificate or key: not valid PEM");
    }
  }
  return std::unique_ptr<KubeClient>(new KubeClient(std::move(endpoint), std::move(read)));
}

namespace {

// One connection configured from the endpoint.
absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> Connect(const Endpoint& e,
                                                             const FileReader& read) {
  std::unique_ptr<httplib::ClientImpl> client;
  if (e.https) {
    std::unique_ptr<httplib::SSLClient> ssl;
    if (!e.client_cert_pem.empty()) {
      Pem pem;
      BIO* c =
          BIO_new_mem_buf(e.client_cert_pem.data(), static_cast<int>(e.client_cert_pem.size()));
      pem.cert = PEM_read_bio_X509(c, nullptr, nullptr, nullptr);
      BIO_free(c);
      BIO* k = BIO_new_mem_buf(e.client_key_pem.data(), static_cast<int>(e.client_key_pem.size()));
      pem.key = PEM_read_bio_PrivateKey(k, nullptr, nullptr, nullptr);
      BIO_free(k);
      if (pem.cert == nullptr || pem.key == nullptr) {
        return absl::InvalidArgumentError("client certificate or key: not valid PEM");
      }
      ssl = std::make_unique<httplib::SSLClient>(e.host, e.port, pem.cert, pem.key);
    } else {
      ssl = std::make_unique<httplib::SSLClient>(e.host, e.port);
    }
    if (!e.ca_pem.empty()) {
      absl::StatusOr<X509_STORE*> store = CaStore(e.ca_pem);
      if (!store.ok()) return store.status();
      ssl->set_ca_cert_store(*store);
    }
    ssl->enable_server_certificate_verification(!e.insecure_skip_verify);
    client = std::move(ssl);
  } else {
    client = std::make_unique<httplib::ClientImpl>(e.host, e.port);
  }
  std::string token = e.token;
  if (!e.token_file.empty()) {
    if (absl::StatusOr<std::string> t = read(e.token_file); t.ok()) {
      token = *t;
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    }
  }
  if (!token.empty()) client->set_bearer_token_auth(token);
  client->set_connection_timeout(10, 0);
  client->set_read_timeout(60, 0);
  client->set_tcp_nodelay(true);
  return client;
}

}  // namespace

void KubeClient::Stop() const {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  for (void* w : watches_) static_cast<httplib::ClientImpl*>(w)->stop();
}

absl::StatusOr<std::string> KubeClient::Get(const std::string& path) const {
  absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> client = Connect(endpoint_, read_);
  if (!client.ok()) return client.status();
  httplib::Result r = (*client)->Get(path.c_str(), {{"Accept", "application/json"}});
  if (!r) {
    return absl::UnavailableError(absl::StrCat("GET ", path, ": ", httplib::to_string(r.error())));
  }
  if (r->status != 200) return FromHttp(r->status, "GET " + path, r->body);
  return std::move(r->body);
}

absl::StatusOr<std::string> KubeClient::Post(const std::string& path,
                                             const std::string& body) const {
  absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> client = Connect(endpoint_, read_);
  if (!client.ok()) return client.status();
  httplib::Result r = (*client)->Post(path.c_str(), body, "application/json");
  if (!r) {
    return absl::UnavailableError(absl::StrCat("POST ", path, ": ", httplib::to_string(r.error())));
  }
  if (r->status != 200 && r->status != 201) return FromHttp(r->status, "POST " + path, r->body);
  return std::move(r->body);
}

absl::StatusOr<std::string> KubeClient::Put(const std::string& path,
                                            const std::string& body) const {
  absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> client = Connect(endpoint_, read_);
  if (!client.ok()) return client.status();
  httplib::Result r = (*client)->Put(path.c_str(), body, "application/json");
  if (!r) {
    return absl::UnavailableError(absl::StrCat("PUT ", path, ": ", httplib::to_string(r.error())));
  }
  if (r->status != 200 && r->status != 201) return FromHttp(r->status, "PUT " + path, r->body);
  return std::move(r->body);
}

absl::StatusOr<std::string> KubeClient::MergePatch(const std::string& path,
                                                   const std::string& patch) const {
  absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> client = Connect(endpoint_, read_);
  if (!client.ok()) return client.status();
  httplib::Result r = (*client)->Patch(path.c_str(), patch, "application/merge-patch+json");
  if (!r) {
    return absl::UnavailableError(
        absl::StrCat("PATCH ", path, ": ", httplib::to_string(r.error())));
  }
  if (r->status != 200) return FromHttp(r->status, "PATCH " + path, r->body);
  return std::move(r->body);
}

absl::Status KubeClient::Watch(const std::string& path,
                               const std::function<absl::Status(absl::string_view line)>& on_line,
                               const std::function<void()>& on_open) const {
  absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> client = Connect(endpoint_, read_);
  if (!client.ok()) return client.status();
  (*client)->set_read_timeout(330, 0);  // Longer than the watch's timeoutSeconds.
  httplib::ClientImpl* raw = client->get();
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return absl::CancelledError("stopped");
    watches_.insert(raw);
  }
  struct Unregister {
    Unregister(const KubeClient* s, void* r) : self(s), raw(r) {}
    Unregister(const Unregister&) = delete;
    Unregister& operator=(const Unregister&) = delete;
    const KubeClient* self;
    void* raw;
    ~Unregister() {
      absl::MutexLock lock(&self->mu_);
      self->watches_.erase(raw);
    }
  } unregister(this, raw);
  std::string buffer;
  absl::Status outcome = absl::OkStatus();
  int status = 0;
  std::string error_body;
  httplib::Result r = (*client)->Get(
      path.c_str(), {{"Accept", "application/json"}},
      [&](const httplib::Response& response) {
        status = response.status;
        if (status == 200 && on_open) on_open();
        // A Stop() that came before the socket existed could not shut it (httplib stops only a
        // request in flight): the watch would have waited for its first event, or for
        // timeoutSeconds on a quiet kind. Checked once the answer has begun.
        return !stopped_;
      },
      [&](const char* data, size_t length) {
        if (stopped_) {
          outcome = absl::CancelledError("stopped");
          return false;
        }
        if (status != 200) {
          error_body.append(data, length);
          return error_body.size() < 4096;
        }
        buffer.append(data, length);
        size_t start = 0;
        for (size_t nl = buffer.find('\n'); nl != std::string::npos;
             nl = buffer.find('\n', start)) {
          const absl::string_view line(buffer.data() + start, nl - start);
          start = nl + 1;
          if (line.empty()) continue;
          if (absl::Status s = on_line(line); !s.ok()) {
            outcome = std::move(s);
            return false;
          }
        }
        buffer.erase(0, start);
        return true;
      });
  if (!outcome.ok()) return outcome;
  if (status != 0 && status != 200) return FromHttp(status, "watch " + path, error_body);
  if (!r && !stopped_) {
    return absl::UnavailableError(
        absl::StrCat("watch ", path, ": ", httplib::to_string(r.error())));
  }
  return stopped_ ? absl::CancelledError("stopped") : absl::OkStatus();
}

}  // namespace accelsched::scheduler::kube
