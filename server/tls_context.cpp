#include "server/tls_context.hpp"

#include <openssl/ssl.h>

#include <stdexcept>

namespace hush {

tls_context_provider::tls_context_provider(std::filesystem::path certificate, std::filesystem::path key,
                                           std::string min_version)
    : certificate_(std::move(certificate)), key_(std::move(key)), min_version_(std::move(min_version)) {
    current_ = load();
}

std::shared_ptr<boost::asio::ssl::context> tls_context_provider::load() const {
    namespace ssl = boost::asio::ssl;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    boost::system::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression | ssl::context::single_dh_use,
                     ec);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, min_version_ == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
    // Idle sessions keep no read/write buffers: memory per idle connection is a goal.
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
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
    return ctx;
}

std::shared_ptr<boost::asio::ssl::context> tls_context_provider::current() const {
    std::lock_guard lock(mutex_);
    return current_;
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
