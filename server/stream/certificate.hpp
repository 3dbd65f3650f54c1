#pragma once
// A self-signed ECDSA P-256 certificate for first runs without a configured one: far cheaper handshakes than
// RSA, and good enough for testing (clients will ask the user to accept it).
#include <filesystem>
#include <string>
#include <vector>

namespace hush {

struct certificate_files {
    std::filesystem::path certificate;
    std::filesystem::path key;
    bool generated = false;  // true when this call created them
};

// Returns the existing pair in `dir` or generates one valid for `hosts` (DNS SANs), for 365 days.
// Throws std::runtime_error at start-up on failure.
certificate_files ensure_self_signed(const std::filesystem::path& dir, const std::vector<std::string>& hosts);

// A random secret persisted in `path` (0600), created on first use; used to derive decoy SCRAM salts and keys.
std::string ensure_server_secret(const std::filesystem::path& path);

}  // namespace hush
