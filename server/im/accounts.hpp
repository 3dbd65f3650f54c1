#pragma once
// Account operations shared by hushctl and the server: credentials are derived here, once, for both SCRAM
// hashes, so no code path ever stores a password.
#include <optional>
#include <string>

#include "protocol/jid.hpp"
#include "storage/store.hpp"

namespace hush::accounts {

// SASLprep the password and derive SCRAM-SHA-1 and SCRAM-SHA-256 credentials with fresh salts.
// nullopt when the password is empty or prohibited by SASLprep.
std::optional<storage::account_credentials> make_credentials(std::string_view password, std::uint32_t iterations);

}  // namespace hush::accounts

#include <boost/asio/awaitable.hpp>

#include "protocol/expected.hpp"
#include "storage/async_store.hpp"

namespace hush {

// Does this local account exist? (Storage-backed in the server; a fake in tests.)
class account_directory {
public:
    virtual ~account_directory() = default;
    virtual boost::asio::awaitable<hush::expected<bool, std::string>> exists(const jid& bare) = 0;
};

// The router's view of which accounts exist, answered by storage off the event loop.
class storage_account_directory final : public account_directory {
public:
    explicit storage_account_directory(storage::async_store& store) : store_(store) {}
    boost::asio::awaitable<hush::expected<bool, std::string>> exists(const jid& bare) override;

private:
    storage::async_store& store_;
};

}  // namespace hush
