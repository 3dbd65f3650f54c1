#include "server/stream/certificate.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <stdexcept>

namespace hush {

namespace {

template <class T, void (*Free)(T*)>
struct openssl_deleter {
    void operator()(T* p) const { Free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509, X509_free>>;

void check(bool ok, const char* what) {
    if (!ok) {
        throw std::runtime_error(std::string("certificate generation failed: ") + what);
    }
}

void write_pem(const std::filesystem::path& path, mode_t mode, const std::function<int(FILE*)>& writer) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
        throw std::runtime_error("cannot write " + path.string());
    }
    ::fchmod(fileno(f), mode);
    const int ok = writer(f);
    std::fclose(f);
    check(ok == 1, path.c_str());
}

}  // namespace

certificate_files ensure_self_signed(const std::filesystem::path& dir, const std::vector<std::string>& hosts) {
    certificate_files files{dir / "selfsigned.crt", dir / "selfsigned.key", false};
    if (std::filesystem::exists(files.certificate) && std::filesystem::exists(files.key)) {
        return files;
    }
    std::filesystem::create_directories(dir);
    pkey_ptr key(EVP_EC_gen("P-256"));
    check(key != nullptr, "EC key");
    x509_ptr cert(X509_new());
    check(cert != nullptr, "X509_new");
    X509_set_version(cert.get(), 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
    X509_set_pubkey(cert.get(), key.get());
    const std::string cn = hosts.empty() ? "localhost" : hosts.front();
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Hush (self-signed)"),
                               -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    std::string san;
    for (const auto& h : hosts) {
        san += (san.empty() ? "" : ",") + std::string("DNS:") + h;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    if (!san.empty()) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
        check(ext != nullptr, "subjectAltName");
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_EXTENSION* eku = X509V3_EXT_conf_nid(nullptr, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
    X509_add_ext(cert.get(), eku, -1);
    X509_EXTENSION_free(eku);
    check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");

    write_pem(files.key, 0600, [&](FILE* f) {
        return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    write_pem(files.certificate, 0644, [&](FILE* f) { return PEM_write_X509(f, cert.get()); });
    files.generated = true;
    return files;
}

std::string ensure_server_secret(const std::filesystem::path& path) {
    if (std::ifstream in{path, std::ios::binary}) {
        std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (secret.size() >= 32) {
            return secret;
        }
    }
    std::filesystem::create_directories(path.parent_path());
    std::string secret(32, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), static_cast<int>(secret.size()));
    write_pem(path, 0600, [&](FILE* f) {
        return std::fwrite(secret.data(), 1, secret.size(), f) == secret.size() ? 1 : 0;
    });
    return secret;
}

}  // namespace hush
