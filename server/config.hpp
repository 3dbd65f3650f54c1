#pragma once
// hush.toml, validated once at start-up into an immutable value. Unknown keys are errors; every error names
// file, line, column and key.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "protocol/expected.hpp"
#include "storage/store.hpp"

namespace hush {

struct listener_config {
    enum class kind { c2s_starttls, c2s_direct_tls };
    kind type = kind::c2s_starttls;
    std::string address = "127.0.0.1";
    std::uint16_t port = 5222;  // 0: an ephemeral port (tests); the bound port is logged. Default by kind: 5222/5223
};

struct tls_config {
    // Empty: a self-signed ECDSA P-256 certificate is generated in data_dir on first run.
    std::filesystem::path certificate;
    std::filesystem::path key;
    std::string min_version = "1.2";  // "1.2" or "1.3"
};

struct limits_config {
    std::size_t max_stanza_bytes = 256 * 1024;
    std::size_t max_depth = 32;                // element nesting inside one stanza
    std::size_t max_connections_per_ip = 32;
    std::size_t max_outbox_bytes = 1024 * 1024;  // per session; overflow closes the stream
    std::size_t max_offline_messages = 1000;     // per account (XEP-0160); beyond it senders get <resource-constraint/>
    std::chrono::seconds handshake_timeout{60};  // from connect to bound resource
    std::chrono::seconds idle_timeout{600};      // no bytes at all for this long closes the stream
    unsigned auth_failures_per_connection = 3;   // then the stream is closed
    unsigned auth_failures_before_delay = 3;     // per IP within a window, then answers are slowed down
};

struct sasl_config {
    std::uint32_t scram_iterations = 4096;  // for new credentials; at least 4096
    bool allow_plain = true;                // PLAIN is offered only inside TLS
};

struct antispim_config {
    std::vector<std::string> chain{"pass"};  // ordered policy names
    std::vector<std::string> dry_run;        // policies that only log what they would do
};

// XEP-0077 in-band registration. Password changes and account removal by a logged-in user are account
// management and work whatever `enabled` says.
struct registration_config {
    bool enabled = false;                // let unauthenticated clients create accounts
    std::size_t max_per_ip = 5;          // successful registrations from one IP address per window
    std::chrono::minutes window{60};
    std::size_t min_password_length = 8;  // in characters (Unicode code points), after SASLprep
};

struct config {
    std::filesystem::path source;   // the file this came from
    std::vector<std::string> hosts;  // virtual hosts, nameprepped
    std::filesystem::path data_dir;  // absolute (relative paths in the file resolve against its directory); "../var"
    unsigned threads = 0;            // 0: one per core
    std::string log_level = "info";  // trace, debug, info, warn, error
    tls_config tls;
    std::vector<listener_config> listeners;
    limits_config limits;
    sasl_config sasl;
    storage::store_options storage;  // sqlite_path absolute (storage.path resolved against data_dir); pool_size 4
    antispim_config antispim;
    registration_config registration;
};

// Loads and validates; on error returns one line "FILE:LINE:COL: KEY: what is wrong" (the earliest in the file),
// "FILE:LINE:COL: <toml++ description>" for TOML syntax errors, or "FILE: cannot read: <reason>".
hush::expected<config, std::string> load_config(const std::filesystem::path& path);

}  // namespace hush
