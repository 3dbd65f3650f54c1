#pragma once
// The server's TLS context, swappable at run time (SIGHUP reloads the certificate): sessions take the current
// one when they start TLS and keep it for their lifetime.
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>

namespace hush {

class tls_context_provider {
public:
    // Throws std::runtime_error at start-up when the files cannot be loaded.
    tls_context_provider(std::filesystem::path certificate, std::filesystem::path key, std::string min_version);

    std::shared_ptr<boost::asio::ssl::context> current() const;
    // Reloads the files; on failure keeps the old context and returns the error text.
    std::string reload();

private:
    std::shared_ptr<boost::asio::ssl::context> load() const;

    std::filesystem::path certificate_;
    std::filesystem::path key_;
    std::string min_version_;
    mutable std::mutex mutex_;
    std::shared_ptr<boost::asio::ssl::context> current_;
};

}  // namespace hush
