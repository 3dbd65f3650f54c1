#include "server/stream/tls_context.hpp"

#include <openssl/ssl.h>

#include <stdexcept>

namespace hush {

namespace {

// Peer servers' certificates are judged after the handshake (RFC 6125 names, the trust store, the domain they
// claim in the stream header), so the handshake itself accepts any certificate: a self-signed peer still gets
// dialback.
int accept_any_certificate(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

}  // namespace

tls_context_provider::tls_context_provider(std::filesystem::path certificate, std::filesystem::path key,
                                           std::string min_version)
    : certificate_(std::move(certificate)), key_(std::move(key)), min_version_(std::move(min_version)) {
    current_ = load();
}

tls_context_provider::context_set tls_context_provider::load() const {
    return {load_one(tls_role::c2s_server), load_one(tls_role::s2s_server), load_one(tls_role::s2s_client)};
}

std::shared_ptr<boost::asio::ssl::context> tls_context_provider::load_one(tls_role role) const {
    namespace ssl = boost::asio::ssl;
    auto ctx = std::make_shared<ssl::context>(role == tls_role::s2s_client ? ssl::context::tls_client
                                                                           : ssl::context::tls_server);
    boost::system::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression | ssl::context::single_dh_use,
                     ec);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, min_version_ == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
    // Idle sessions keep no read/write buffers: memory per idle connection is a goal.
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    // A busy client sends a record per stanza: read ahead takes in every record that has arrived with one read(2)
    // instead of one each. (The buffer is still released once drained.)
    SSL_CTX_set_read_ahead(native, 1);
    SSL_CTX_set_cipher_list(native, "HIGH:!aNULL:!MD5:!RC4:!3DES");
    ctx->use_certificate_chain_file(certificate_.string(), ec);
    if (ec) {
        throw std::runtime_error("cannot load TLS certificate " + certificate_.string() + ": " + ec.message());
    }
    ctx->use_private_key_file(key_.string(), ssl::context::pem, ec);
    if (ec) {
        throw std::runtime_error("cannot load TLS key " + key_.string() + ": " + ec.message());
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        throw std::runtime_error("TLS key " + key_.string() + " does not match " + certificate_.string());
    }
    if (role != tls_role::c2s_server) {
        // Ask peer servers for their certificate (clients are not asked: browsers would prompt their users).
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER, &accept_any_certificate);
    }
    if (role == tls_role::s2s_server) {
        // Session ids per context: with SSL_VERIFY_PEER on a server, OpenSSL insists on one for resumption.
        static constexpr unsigned char sid_context[] = "hush-s2s";
        SSL_CTX_set_session_id_context(native, sid_context, sizeof(sid_context) - 1);
    }
    return ctx;
}

std::shared_ptr<boost::asio::ssl::context> tls_context_provider::current(tls_role role) const {
    std::lock_guard lock(mutex_);
    return current_[static_cast<std::size_t>(role)];
}

std::string tls_context_provider::reload() {
    try {
        auto fresh = load();
        std::lock_guard lock(mutex_);
        current_ = std::move(fresh);
        return {};
    } catch (const std::exception& e) {
        return e.what();
    }
}

}  // namespace hush
