#pragma once
// The server's TLS contexts, swappable at run time (SIGHUP reloads the certificate): streams take the current one
// when they start TLS and keep it for their lifetime. One certificate, three roles: serving clients, serving peer
// servers (which also asks them for their certificate, for SASL EXTERNAL), and connecting to peer servers (which
// presents ours as the client certificate).
#include <array>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>

namespace hush {

enum class tls_role { c2s_server, s2s_server, s2s_client };

class tls_context_provider {
public:
    // Throws std::runtime_error at start-up when the files cannot be loaded.
    tls_context_provider(std::filesystem::path certificate, std::filesystem::path key, std::string min_version);

    std::shared_ptr<boost::asio::ssl::context> current(tls_role role = tls_role::c2s_server) const;
    // Reloads the files; on failure keeps the old contexts and returns the error text.
    std::string reload();

private:
    using context_set = std::array<std::shared_ptr<boost::asio::ssl::context>, 3>;
    context_set load() const;
    std::shared_ptr<boost::asio::ssl::context> load_one(tls_role role) const;

    std::filesystem::path certificate_;
    std::filesystem::path key_;
    std::string min_version_;
    mutable std::mutex mutex_;
    context_set current_;
};

}  // namespace hush
