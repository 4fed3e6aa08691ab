// A self-signed certificate for 127.0.0.1 made with OpenSSL in memory, written to temporary
// files (for TLS tests without the openssl CLI).
//
// Thread-safety: not thread-safe (one per test).
#ifndef ACCELSCHED_TESTS_TESTING_TEST_CERTS_H_
#define ACCELSCHED_TESTS_TESTING_TEST_CERTS_H_

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace accelsched::testing {

class TestCert {
 public:
  TestCert() {
    EVP_PKEY* key = EVP_RSA_gen(2048);
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    X509_add_ext(cert, san, -1);
    X509_EXTENSION_free(san);
    X509_sign(cert, key, EVP_sha256());
    cert_pem_ = ToPem([&](BIO* b) { PEM_write_bio_X509(b, cert); });
    key_pem_ = ToPem(
        [&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
    X509_free(cert);
    EVP_PKEY_free(key);
    cert_file_ = Write(cert_pem_, "cert");
    key_file_ = Write(key_pem_, "key");
  }
  // Not copyable or movable: the destructor removes the files.
  TestCert(const TestCert&) = delete;
  TestCert& operator=(const TestCert&) = delete;
  TestCert(TestCert&&) = delete;
  TestCert& operator=(TestCert&&) = delete;
  ~TestCert() {
    std::remove(cert_file_.c_str());
    std::remove(key_file_.c_str());
  }
  const std::string& cert_pem() const { return cert_pem_; }
  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }

 private:
  template <typename F>
  static std::string ToPem(F write) {
    BIO* b = BIO_new(BIO_s_mem());
    write(b);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(b);
    return out;
  }
  static std::string Write(const std::string& pem, const char* what) {
    std::string path = std::string("/tmp/accelsched-test-") + what + "-XXXXXX";
    const int fd = mkstemp(path.data());
    if (fd >= 0) {
      close(fd);
    }
    std::ofstream(path) << pem;
    return path;
  }
  std::string cert_pem_, key_pem_, cert_file_, key_file_;
};

}  // namespace accelsched::testing

#endif  // ACCELSCHED_TESTS_TESTING_TEST_CERTS_H_
