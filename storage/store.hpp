#pragma once
// The one storage interface. A `store` is a single database connection and is synchronous: it is only ever
// used from a storage worker thread (see async_store.hpp), never from the event loop.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/expected.hpp"
#include "protocol/scram.hpp"

namespace hush::storage {

struct error {
    std::string message;
};

template <class T>
using result = hush::expected<T, error>;

struct account_credentials {
    sasl::scram_credentials sha1;
    sasl::scram_credentials sha256;
};

struct account {
    std::string username;  // nodeprepped local part
    std::string domain;
    std::int64_t created_at = 0;  // unix seconds
};

class store {
public:
    virtual ~store() = default;

    // Applies pending versioned migrations (idempotent, in a transaction each); returns the schema version.
    virtual result<int> migrate() = 0;
    virtual result<int> schema_version() = 0;

    // Accounts. create_account returns false when the account already exists.
    virtual result<bool> create_account(const std::string& domain, const std::string& username,
                                        const account_credentials& creds) = 0;
    // Returns false when there is no such account.
    virtual result<bool> set_credentials(const std::string& domain, const std::string& username,
                                         const account_credentials& creds) = 0;
    virtual result<bool> delete_account(const std::string& domain, const std::string& username) = 0;
    virtual result<std::optional<account_credentials>> get_credentials(const std::string& domain,
                                                                       const std::string& username) = 0;
    virtual result<bool> account_exists(const std::string& domain, const std::string& username) = 0;
    // All accounts, or those of one domain when `domain` is non-empty; ordered by domain, username.
    virtual result<std::vector<account>> list_accounts(const std::string& domain) = 0;
};

// Which backend and how to reach it.
struct store_options {
    enum class backend_kind { sqlite, postgresql };
    backend_kind backend = backend_kind::sqlite;
    std::string sqlite_path;   // file path for sqlite
    std::string postgres_url;  // libpq connection string/URI for postgresql
    unsigned pool_size = 1;    // worker threads (= connections); sqlite always uses 1 writer
};

// Opens one connection. Throws only at start-up (std::runtime_error with a clear message).
std::unique_ptr<store> open_store(const store_options& options);

}  // namespace hush::storage
