// Channel-binding data from a real TLS handshake (OpenSSL on both sides, in memory): tls-exporter is the same on
// both ends and differs between connections; tls-server-end-point is the SHA-256 of the server's certificate (an
// ECDSA/SHA-256 one), which the client can compute from what it received.
#include <doctest.h>

#include <array>
#include <memory>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "server/stream/certificate.hpp"
#include "server/stream/channel_binding.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;

namespace {

struct ctx_free {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct ssl_free {
    void operator()(SSL* s) const { SSL_free(s); }
};

// One handshake between `client` and `server` contexts through a BIO pair; returns both ends.
std::pair<std::unique_ptr<SSL, ssl_free>, std::unique_ptr<SSL, ssl_free>> handshake(SSL_CTX* client, SSL_CTX* server) {
    std::unique_ptr<SSL, ssl_free> c(SSL_new(client));
    std::unique_ptr<SSL, ssl_free> s(SSL_new(server));
    BIO* client_bio = nullptr;
    BIO* server_bio = nullptr;
    REQUIRE(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) == 1);
    SSL_set_bio(c.get(), client_bio, client_bio);
    SSL_set_bio(s.get(), server_bio, server_bio);
    SSL_set_connect_state(c.get());
    SSL_set_accept_state(s.get());
    bool client_done = false;
    bool server_done = false;
    for (int round = 0; round < 20 && !(client_done && server_done); ++round) {
        client_done = client_done || SSL_do_handshake(c.get()) == 1;
        server_done = server_done || SSL_do_handshake(s.get()) == 1;
    }
    REQUIRE(client_done);
    REQUIRE(server_done);
    return {std::move(c), std::move(s)};
}

std::string client_exporter(SSL* ssl) {
    std::array<unsigned char, 32> out{};
    const std::string label = "EXPORTER-Channel-Binding";
    REQUIRE(SSL_export_keying_material(ssl, out.data(), out.size(), label.data(), label.size(), nullptr, 0, 0) == 1);
    return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

std::string find(const std::vector<std::pair<std::string, std::string>>& bindings, const std::string& type) {
    for (const auto& [name, data] : bindings) {
        if (name == type) {
            return data;
        }
    }
    return {};
}

}  // namespace

TEST_CASE("channel bindings of a TLS 1.3 connection: tls-exporter as the client computes it; server-end-point") {
    test::temp_dir dir;
    const auto files = ensure_self_signed(dir.path(), {"example.org"});
    std::unique_ptr<SSL_CTX, ctx_free> server(SSL_CTX_new(TLS_server_method()));
    REQUIRE(SSL_CTX_use_certificate_chain_file(server.get(), files.certificate.c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(server.get(), files.key.c_str(), SSL_FILETYPE_PEM) == 1);
    std::unique_ptr<SSL_CTX, ctx_free> client(SSL_CTX_new(TLS_client_method()));

    auto [c1, s1] = handshake(client.get(), server.get());
    CHECK(SSL_version(s1.get()) == TLS1_3_VERSION);
    const auto bindings = channel_bindings(s1.get());
    REQUIRE(bindings.size() == 2);
    CHECK(bindings[0].first == "tls-exporter");  // the first choice
    CHECK(find(bindings, "tls-exporter") == client_exporter(c1.get()));
    CHECK(find(bindings, "tls-exporter").size() == 32);

    // The certificate the client received, hashed with SHA-256 (its signature's hash).
    X509* peer = SSL_get0_peer_certificate(c1.get());
    REQUIRE(peer != nullptr);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    REQUIRE(X509_digest(peer, EVP_sha256(), digest.data(), &size) == 1);
    CHECK(find(bindings, "tls-server-end-point") == std::string(reinterpret_cast<const char*>(digest.data()), size));

    // Another connection: another exporter value (what a relay in the middle would have), the same certificate.
    auto [c2, s2] = handshake(client.get(), server.get());
    const auto other = channel_bindings(s2.get());
    CHECK(find(other, "tls-exporter") != find(bindings, "tls-exporter"));
    CHECK(find(other, "tls-server-end-point") == find(bindings, "tls-server-end-point"));
    CHECK(channel_bindings(nullptr).empty());
}
