#include "server/im/accounts.hpp"

namespace hush::accounts {

std::optional<storage::account_credentials> make_credentials(std::string_view password, std::uint32_t iterations) {
    auto prepped = saslprep(password);
    if (!prepped || prepped->empty()) {
        return std::nullopt;
    }
    storage::account_credentials creds;
    creds.sha1 = sasl::make_credentials(sasl::scram_hash::sha1, *prepped, iterations);
    creds.sha256 = sasl::make_credentials(sasl::scram_hash::sha256, *prepped, iterations);
    return creds;
}

}  // namespace hush::accounts

namespace hush {

boost::asio::awaitable<hush::expected<bool, std::string>> storage_account_directory::exists(const jid& bare) {
    auto query = [domain = bare.domain(), node = bare.node()](storage::store& s) {
        return s.account_exists(domain, node);
    };
    auto found = co_await store_.read(std::move(query));
    if (!found) {
        co_return hush::unexpected(found.error().message);
    }
    co_return *found;
}

}  // namespace hush
