#include "server/c2s/sasl_authenticator.hpp"

#include <spdlog/spdlog.h>

#include "protocol/jid.hpp"

namespace hush {

sasl_authenticator::sasl_authenticator(storage::async_store& store, std::string domain, std::string server_secret,
                                       std::uint32_t iterations,
                                       std::vector<std::pair<std::string, std::string>> bindings,
                                       bool strict_channel_binding)
    : store_(store),
      domain_(std::move(domain)),
      server_secret_(std::move(server_secret)),
      iterations_(iterations),
      bindings_(std::move(bindings)),
      strict_channel_binding_(strict_channel_binding) {}

std::vector<std::string> sasl_authenticator::mechanisms(bool allow_plain, bool channel_binding) {
    std::vector<std::string> m;
    if (channel_binding) {
        m = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"};
    }
    m.insert(m.end(), {"SCRAM-SHA-256", "SCRAM-SHA-1"});
    if (allow_plain) {
        m.emplace_back("PLAIN");
    }
    return m;
}

sasl_step sasl_authenticator::failure(std::string condition) {
    sasl_step s;
    s.type = sasl_step::kind::failure;
    s.condition = std::move(condition);
    return s;
}

void sasl_authenticator::reset() {
    scram_.reset();
    scram_first_done_ = false;
    awaiting_plain_ = false;
    account_missing_ = false;
    username_.clear();
}

boost::asio::awaitable<sasl_step> sasl_authenticator::start(std::string_view mechanism, bool allow_plain,
                                                            std::optional<std::string> initial) {
    reset();
    const bool plus = mechanism.ends_with("-PLUS");
    const std::string_view base = plus ? mechanism.substr(0, mechanism.size() - 5) : mechanism;
    if ((base == "SCRAM-SHA-256" || base == "SCRAM-SHA-1") && (!plus || !bindings_.empty())) {
        scram_.emplace(base == "SCRAM-SHA-256" ? sasl::scram_hash::sha256 : sasl::scram_hash::sha1, std::string(),
                       sasl::channel_binding{bindings_, plus, strict_channel_binding_});
        if (!initial) {
            // SCRAM is client-first: ask for the initial response with an empty challenge.
            co_return sasl_step{sasl_step::kind::challenge, {}, {}, {}, {}};
        }
        co_return co_await scram_first(std::move(*initial));
    }
    if (mechanism == "PLAIN" && allow_plain) {
        if (!initial) {
            awaiting_plain_ = true;
            co_return sasl_step{sasl_step::kind::challenge, {}, {}, {}, {}};
        }
        co_return co_await plain(std::move(*initial));
    }
    co_return failure("invalid-mechanism");
}

boost::asio::awaitable<sasl_step> sasl_authenticator::respond(std::string response) {
    if (awaiting_plain_) {
        awaiting_plain_ = false;
        co_return co_await plain(std::move(response));
    }
    if (!scram_) {
        co_return failure("malformed-request");
    }
    if (!scram_first_done_) {
        co_return co_await scram_first(std::move(response));
    }
    auto final = scram_->receive_client_final(response);
    const bool missing = account_missing_;
    const std::string username = username_;
    reset();
    if (!final || missing) {
        co_return failure(final ? "not-authorized" : final.error().condition);
    }
    sasl_step ok{sasl_step::kind::success, std::move(*final), {}, username, {}};
    co_return unless_pending(std::move(ok));
}

boost::asio::awaitable<storage::result<std::optional<storage::account_credentials>>> sasl_authenticator::lookup(
    const std::string& username) {
    using found_account = std::pair<std::optional<storage::account_credentials>, bool>;
    auto query = [domain = domain_, username](storage::store& s) -> storage::result<found_account> {
        auto creds = s.get_credentials(domain, username);
        if (!creds) {
            return hush::unexpected(creds.error());
        }
        bool pending = false;
        if (*creds) {
            auto waiting = s.is_pending(domain, username);
            if (!waiting) {
                return hush::unexpected(waiting.error());
            }
            pending = *waiting;
        }
        return found_account{std::move(*creds), pending};
    };
    auto found = co_await store_.run(std::move(query));
    if (!found) {
        spdlog::error("sasl: credential lookup failed: {}", found.error().message);
        co_return hush::unexpected(found.error());
    }
    pending_ = found->second;
    co_return std::move(found->first);
}

boost::asio::awaitable<sasl_step> sasl_authenticator::scram_first(std::string message) {
    auto user = scram_->receive_client_first(message);
    if (!user) {
        reset();
        co_return failure(user.error().condition);
    }
    auto node = nodeprep(*user);
    if (!node || node->empty()) {
        reset();
        co_return failure("not-authorized");
    }
    if (!scram_->authzid().empty()) {
        auto authz = jid::parse(scram_->authzid());
        if (!authz || !authz->is_bare() || authz->node() != *node || authz->domain() != domain_) {
            reset();
            co_return failure("invalid-authzid");
        }
    }
    auto found = co_await lookup(*node);
    if (!found) {
        reset();
        co_return failure("temporary-auth-failure");
    }
    const auto& creds = *found;
    const auto hash = scram_->hash();
    sasl::scram_credentials chosen;
    if (creds) {
        chosen = hash == sasl::scram_hash::sha256 ? creds->sha256 : creds->sha1;
    } else {
        account_missing_ = true;
        chosen = sasl::decoy_credentials(hash, *node, server_secret_, iterations_);
    }
    username_ = *node;
    scram_first_done_ = true;
    co_return sasl_step{sasl_step::kind::challenge, scram_->server_first(chosen), {}, {}, {}};
}

boost::asio::awaitable<sasl_step> sasl_authenticator::plain(std::string message) {
    auto parsed = sasl::parse_plain(message);
    if (!parsed) {
        co_return failure(parsed.error().condition);
    }
    auto node = nodeprep(parsed->authcid);
    if (!node || node->empty()) {
        co_return failure("not-authorized");
    }
    if (!parsed->authzid.empty()) {
        auto authz = jid::parse(parsed->authzid);
        if (!authz || !authz->is_bare() || authz->node() != *node || authz->domain() != domain_) {
            co_return failure("invalid-authzid");
        }
    }
    auto found = co_await lookup(*node);
    if (!found) {
        co_return failure("temporary-auth-failure");
    }
    const auto& creds = *found;
    if (!creds) {
        // Spend the same work as a real check so timing does not reveal the missing account.
        (void)sasl::verify_password(sasl::scram_hash::sha256, parsed->password,
                                    sasl::decoy_credentials(sasl::scram_hash::sha256, *node, server_secret_,
                                                            iterations_));
        co_return failure("not-authorized");
    }
    if (!sasl::verify_password(sasl::scram_hash::sha256, parsed->password, creds->sha256)) {
        co_return failure("not-authorized");
    }
    co_return unless_pending(sasl_step{sasl_step::kind::success, {}, {}, *node, {}});
}

sasl_step sasl_authenticator::unless_pending(sasl_step ok) const {
    return pending_ ? failure("account-disabled") : ok;
}

}  // namespace hush
