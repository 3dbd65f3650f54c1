#pragma once
// One SASL negotiation on a client stream (RFC 6120 §6): SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN, all checked
// against the stored SCRAM keys. Unknown accounts run the same exchange against decoy credentials, so the
// answers do not tell which accounts exist.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/scram.hpp"
#include "storage/async_store.hpp"

namespace hush {

struct sasl_step {
    enum class kind { challenge, success, failure };
    kind type = kind::failure;
    std::string payload;    // raw (not yet base64) challenge or additional success data
    std::string condition;  // for failures: RFC 6120 §6.5 condition
    std::string username;   // on success: the authenticated local part (nodeprepped)
    // On success with a FAST token (XEP-0484): whether it is past half its life (a login gets a new one then).
    std::optional<bool> fast_token_aging;
};

// What a XEP-0484 login names besides the HT initial response.
struct fast_login {
    std::string agent_id;     // the client's XEP-0388 user-agent id: the token is that client's
    std::int64_t count = -1;  // <fast count=…/>; -1 when absent
    std::string cb_data;      // the binding data of the mechanism's channel-binding type; empty for -NONE
    bool invalidate = false;  // <fast invalidate='true'/>: the client's tokens end with this login
};

class sasl_authenticator {
public:
    // `bindings`: what this connection lets SCRAM-*-PLUS bind to (server/stream/channel_binding.hpp).
    sasl_authenticator(storage::async_store& store, std::string domain, std::string server_secret,
                       std::uint32_t iterations, std::vector<std::pair<std::string, std::string>> bindings = {},
                       bool strict_channel_binding = false);

    // -PLUS first when the connection can bind (clients take the first they support).
    static std::vector<std::string> mechanisms(bool allow_plain, bool channel_binding = false);

    // `initial` is the decoded initial response (nullopt when the client sent none).
    boost::asio::awaitable<sasl_step> start(std::string_view mechanism, bool allow_plain,
                                            std::optional<std::string> initial);
    boost::asio::awaitable<sasl_step> respond(std::string response);
    // A XEP-0484 login (sasl_fast.cpp): HT-SHA-256-* against the client's tokens for that mechanism, read, checked
    // and marked used in one storage job. A missing account, a wrong or expired token, another mechanism's token and
    // a replayed count all give <credentials-expired/> (XEP-0484: the client drops the token, logs in otherwise).
    boost::asio::awaitable<sasl_step> fast(std::string_view mechanism, std::string initial, fast_login login);
    bool in_progress() const { return scram_.has_value() || awaiting_plain_; }
    void reset();

private:
    boost::asio::awaitable<sasl_step> scram_first(std::string message);
    boost::asio::awaitable<sasl_step> plain(std::string message);
    // nullopt inside: no such account; an error: storage failed (answered with temporary-auth-failure). Whether the
    // account waits for approval is read in the same storage job (pending_): a login costs no extra round trip.
    boost::asio::awaitable<storage::result<std::optional<storage::account_credentials>>> lookup(
        const std::string& username);
    static sasl_step failure(std::string condition);
    // `ok` unless the account still waits for an administrator's approval (docs/registration.md): then
    // <account-disabled/>, told only to someone who proved the password.
    sasl_step unless_pending(sasl_step ok) const;

    storage::async_store& store_;
    std::string domain_;
    std::string server_secret_;
    std::uint32_t iterations_;
    std::vector<std::pair<std::string, std::string>> bindings_;
    bool strict_channel_binding_ = false;
    std::optional<sasl::scram_server> scram_;
    bool scram_first_done_ = false;
    bool awaiting_plain_ = false;
    bool account_missing_ = false;
    bool pending_ = false;  // the account looked up waits for approval
    std::string username_;
};

}  // namespace hush
