#include "server/stream/channel_binding.hpp"

#include <array>
#include <string_view>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

namespace hush {

namespace {

constexpr std::string_view exporter_label = "EXPORTER-Channel-Binding";

std::string tls_exporter(SSL* ssl) {
    if (SSL_version(ssl) != TLS1_3_VERSION && SSL_get_extms_support(ssl) != 1) {
        return {};
    }
    std::array<unsigned char, 32> out{};
    if (SSL_export_keying_material(ssl, out.data(), out.size(), exporter_label.data(), exporter_label.size(),
                                   nullptr, 0, 0) != 1) {
        return {};
    }
    return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

std::string server_end_point(SSL* ssl) {
    X509* cert = SSL_get_certificate(ssl);  // ours; not owned
    if (cert == nullptr) {
        return {};
    }
    int digest_nid = NID_undef;
    if (OBJ_find_sigid_algs(X509_get_signature_nid(cert), &digest_nid, nullptr) != 1) {
        return {};
    }
    const EVP_MD* md = EVP_get_digestbynid(digest_nid);
    if (md == nullptr || digest_nid == NID_md5 || digest_nid == NID_sha1) {
        md = EVP_sha256();  // RFC 5929 §4.1
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int size = 0;
    if (X509_digest(cert, md, out.data(), &size) != 1) {
        return {};
    }
    return std::string(reinterpret_cast<const char*>(out.data()), size);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> channel_bindings(SSL* ssl) {
    std::vector<std::pair<std::string, std::string>> out;
    if (ssl == nullptr) {
        return out;
    }
    if (auto exporter = tls_exporter(ssl); !exporter.empty()) {
        out.emplace_back("tls-exporter", std::move(exporter));
    }
    if (auto end_point = server_end_point(ssl); !end_point.empty()) {
        out.emplace_back("tls-server-end-point", std::move(end_point));
    }
    return out;
}

}  // namespace hush
